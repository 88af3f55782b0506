"""aarch64, cross-built on this x86-64 machine: the runtime (`exxo bootstrap --target aarch64`) and
apps (`exxo build --target aarch64`: pure Python, numpy and the Flask example from their aarch64 wheels), run
under user-mode emulation (Debian's qemu-user, the aarch64 glibc of libc6-arm64-cross). The aarch64 runtime is
built once and cached like the others (measured at load ~8 on 2 cores: libraries 426 s, CPython 531 s); with it
cached the module takes ~3 min (11 tests).

Performance under emulation means nothing: these tests check behaviour only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exxo.runtime import bootstrap, toolchain, validate
from exxo.runtime.bootstrap import Runtime
from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import exxo, fixture

pytestmark = pytest.mark.runtime

SYSROOT = Path(toolchain.CROSS["aarch64"]["sysroot"])


def _qemu() -> list[str]:
    try:
        return toolchain.emulator("aarch64")
    except Exception as exc:  # BuildError: qemu-user or the aarch64 glibc is not installed
        pytest.skip(f"no aarch64 emulation here ({exc}); `make test` installs qemu-user and libc6-arm64-cross")


def _binfmt() -> bool:
    """Whether the kernel runs aarch64 ELF itself (binfmt_misc + qemu-user-binfmt): needed for re-entry."""
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    return entry.is_file() and entry.read_text().startswith("enabled")


def run_aarch64(exe: Path, *args: str, env: dict[str, str] | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd or exe.parent), "QEMU_LD_PREFIX": str(SYSROOT)}
    return subprocess.run([*_qemu(), str(exe), *args], capture_output=True, text=True, timeout=600,
                          cwd=cwd or exe.parent, env=base | (env or {}))


@pytest.fixture(scope="module")
def arm_runtime() -> Runtime:
    _qemu()
    return bootstrap.ensure_runtime(PYTHON_VERSION, target="aarch64", jobs=os.cpu_count() or 2)


@pytest.fixture(scope="module")
def host_venv_313(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exxo venv of this machine's runtime of the same release (the one the cross build used)."""
    from exxo import venv

    env = tmp_path_factory.mktemp("arm-venv") / "env"
    venv.create(env, bootstrap.build_python(PYTHON_VERSION))
    return env


def test_runtime_elf(arm_runtime: Runtime) -> None:
    report = validate.inspect_elf(arm_runtime.python, machine="EM_AARCH64")
    assert report.problems == [], report.problems
    meta = arm_runtime.metadata()
    assert meta["target"] == "aarch64" and meta["optimize"] == "plain"
    assert meta["glibc_max"] == "2.17"
    assert "-aarch64-" in arm_runtime.dir.name
    assert "aarch64-linux-gnu" in meta["soabi"]


def test_runtime_imports_every_builtin_module(arm_runtime: Runtime, tmp_path: Path) -> None:
    exe = tmp_path / "python3"
    shutil.copy2(arm_runtime.python, exe)  # alone: no lib/ beside it
    code = (
        "import platform, ssl, sqlite3, ctypes, lzma, bz2, zlib, decimal, readline, hashlib, json, _curses\n"
        "print(platform.machine())\n"
        "print(ssl.OPENSSL_VERSION)\n"
        "print(sqlite3.connect(':memory:').execute('select sqlite_version()').fetchone()[0])\n"
        "print(ctypes.CDLL(None).abs(-42))\n"
        "print(lzma.decompress(lzma.compress(b'xz' * 100)) == b'xz' * 100)\n"
        "print(decimal.Decimal(1) / decimal.Decimal(7))\n"
        "print(hashlib.sha256(b'exxo').hexdigest()[:16])\n"
        "import math; print(math.log2(2.0 ** -1065))\n"
    )
    proc = run_aarch64(exe, "-I", "-c", code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "aarch64"
    assert lines[1].startswith("OpenSSL 3.")
    assert lines[3:] == ["42", "True", "0.1428571428571428571428571429",
                         hashlib_sha256_prefix(), "-1065.0"]
    modules = json.loads((arm_runtime.dir / "runtime.json").read_text())["builtin_modules"]
    assert validate.check_imports(exe, modules, _qemu()) == []


def hashlib_sha256_prefix() -> str:
    import hashlib

    return hashlib.sha256(b"exxo").hexdigest()[:16]


def test_pure_python_app(arm_runtime: Runtime, host_venv_313: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    out = tmp_path / "out" / "app"
    proc = exxo("build", "-s", src, "--venv", host_venv_313, "-o", out, "--target", "aarch64")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_bytes()[18:20] == (183).to_bytes(2, "little")  # EM_AARCH64
    run = run_aarch64(out, "a", "--b")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"argv ['{out}', 'a', '--b']"
    info = exxo("inspect", "--json", out)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["target"] == "aarch64"
    text = exxo("inspect", out).stdout
    assert "target      aarch64" in text
    sbom = json.loads(exxo("inspect", "--sbom", out).stdout)
    props = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
    assert props["exxo:target"] == "aarch64"
    # Reproducible: another copy of the project built elsewhere gives the same bytes; that copy asks for the
    # target in [tool.exxo] instead of on the command line.
    again = tmp_path / "again" / "app"
    copy = fixture("cli-pure", tmp_path / "b")
    with open(copy / "pyproject.toml", "a") as f:
        f.write('\n[tool.exxo]\ntarget = "aarch64"\n')
    proc = exxo("build", "-s", copy, "--venv", host_venv_313, "-o", again)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert again.read_bytes() == out.read_bytes()


def test_reentry_under_binfmt(arm_runtime: Runtime, host_venv_313: Path, tmp_path: Path) -> None:
    if not _binfmt():
        pytest.skip("binfmt_misc has no qemu-aarch64 entry here: the kernel cannot exec an aarch64 binary, so "
                    "sys.executable re-entry is not testable (mount binfmt_misc, install qemu-user-binfmt)")
    exe = tmp_path / "python3"
    shutil.copy2(arm_runtime.python, exe)
    code = ("import subprocess, sys, multiprocessing as mp\n"
            "if __name__ == '__main__':\n"
            "    print(subprocess.run([sys.executable, '-c', 'import platform; print(platform.machine())'],"
            " capture_output=True, text=True).stdout.strip())\n"
            "    ctx = mp.get_context('spawn')\n"
            "    with ctx.Pool(1) as pool: print(pool.apply(abs, (-7,)))\n")
    script = tmp_path / "reenter.py"
    script.write_text(code)
    env = {"PATH": "/usr/bin:/bin", "QEMU_LD_PREFIX": str(SYSROOT), "HOME": str(tmp_path)}
    proc = subprocess.run([str(exe), "-I", str(script)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["aarch64", "7"]
    # An app binary run as python3 (a symlink): its children are the app's Python too.
    out = tmp_path / "app" / "app"
    built = exxo("build", "-s", fixture("cli-pure", tmp_path), "--venv", host_venv_313, "-o", out,
                 "--target", "aarch64")
    assert built.returncode == 0, built.stdout + built.stderr
    (out.parent / "python3").symlink_to("app")
    script.write_text(code.replace("import platform;", "import cli_pure, platform;"))
    proc = subprocess.run([str(out.parent / "python3"), str(script)], capture_output=True, text=True,
                          timeout=600, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["aarch64", "7"]


def test_unknown_target_is_a_clear_error(tmp_path: Path) -> None:
    proc = exxo("bootstrap", "--target", "riscv64")
    assert proc.returncode != 0
    assert "unknown target 'riscv64'" in proc.stderr and "x86_64, aarch64" in proc.stderr
    assert "Traceback" not in proc.stderr



def test_crc32_is_zlibs(arm_runtime: Runtime, tmp_path: Path) -> None:
    # The aarch64 path of launcher/crc32.c (ARMv8 CRC32 instructions; qemu's CPU has them).
    from tests.integration.test_launcher_crc32 import CHECK

    exe = tmp_path / "python3"
    shutil.copy2(arm_runtime.python, exe)
    proc = run_aarch64(exe, "-I", "-c", CHECK)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[] True True\n", "")


def _wheel(dest: Path, name: str, tag: str) -> Path:
    """A minimal wheel of one module with main() (the tag decides where pip will install it)."""
    import zipfile

    path = dest / f"{name}-1.0-{tag}.whl"
    info = f"{name}-1.0.dist-info"
    files = {f"{name}.py": "def main():\n    print('hello from', __name__)\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: {tag}\n"}
    files[f"{info}/RECORD"] = "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n"
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
    return path


def test_requirement_without_an_aarch64_wheel_is_named(arm_runtime: Runtime, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _wheel(wheels, "onlyx86", "cp313-cp313-manylinux2014_x86_64")
    proc = exxo("build", "onlyx86", "--main", "onlyx86:main", "--no-index", "--find-links", wheels,
                "-p", PYTHON_VERSION, "--target", "aarch64", "-o", tmp_path / "out")
    assert proc.returncode != 0
    assert "no aarch64 wheel of onlyx86" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def system_libz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An aarch64 libz.so.1, as every aarch64 distribution has (manylinux lets wheels need it: numpy's
    libgfortran does); Debian's cross glibc has none. Built by zig from the zlib source exxo pins."""
    from exxo.common import cache_root

    tarballs = sorted((cache_root() / "sources").glob("zlib-*.tar.gz"))
    if not tarballs:
        pytest.skip("no zlib source in exxo's cache (make sources fetches it)")
    work = tmp_path_factory.mktemp("libz")
    subprocess.run(["tar", "xzf", str(tarballs[-1]), "-C", str(work)], check=True)
    (srcdir,) = [d for d in work.iterdir() if d.is_dir()]
    files = [str(f) for f in sorted(srcdir.glob("*.c")) if f.name != "example.c"]
    subprocess.run([str(toolchain._zig()), "cc", "-target", toolchain.cross_target("aarch64"), "-O2", "-fPIC",
                    "-shared", "-Wl,-soname,libz.so.1", "-DHAVE_UNISTD_H", "-o", str(work / "libz.so.1"), *files],
                   check=True, capture_output=True)
    return work


@pytest.mark.network
def test_numpy_from_its_aarch64_wheel(arm_runtime: Runtime, system_libz: Path, tmp_path: Path) -> None:
    # Requirements mode: the project and numpy from PyPI's manylinux2014_aarch64 wheel; linalg runs (OpenBLAS).
    src = fixture("numpy-app", tmp_path)
    out = tmp_path / "out" / "numpy-app"
    proc = exxo("build", src, "-p", PYTHON_VERSION, "--target", "aarch64", "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = run_aarch64(out, env={"LD_LIBRARY_PATH": str(system_libz)})
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "solve True"
    assert lines[1].startswith(f"numpy-file {out}/lib/python")
    info = json.loads(exxo("inspect", "--json", out).stdout)
    assert info["target"] == "aarch64"
    assert any("aarch64" in k or "openblas" in k.lower() for k in info["native_libraries"])


def test_file_system_view(arm_runtime: Runtime, host_venv_313: Path, tmp_path: Path) -> None:
    # The checks of tests/integration/test_fsview.py in an aarch64 binary: shipped files opened from C
    # (libc's fopen through ctypes, SQLite on a shipped database, mmap, stat, listing, cwd inside the binary).
    from tests.integration.helpers import parse
    from tests.integration.test_fsview import expected

    src = fixture("fsview-app", tmp_path)
    make = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import fsview_app; "
            "sys.argv[1:] = ['make-db', sys.argv[2]]; fsview_app.main()", str(src),
            str(src / "fsview_app" / "data" / "shipped.db")]
    subprocess.run(make, check=True)
    pip = subprocess.run([str(host_venv_313 / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", str(fixture("fsview-data", tmp_path / "dep"))],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    out = tmp_path / "out" / "fsview-app"
    proc = exxo("build", "-s", src, "--venv", host_venv_313, "-o", out, "--target", "aarch64")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for mode in ("memfd", "cache"):
        run = run_aarch64(out, env={"EXXO_NATIVE": mode, "XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert run.returncode == 0, run.stderr
        got = parse(run.stdout)
        assert str(got["file"]).startswith(f"{out}/lib/python{PYTHON_VERSION}/site-packages/")
        assert got == expected(str(got.pop("file")))
    assert run_aarch64(out, "exit", "3").returncode == 3


@pytest.mark.network
def test_flask_example_serves_its_page(arm_runtime: Runtime, tmp_path: Path) -> None:
    # examples/flask-gevent from its aarch64 wheels (gevent, greenlet, markupsafe...): gunicorn with gevent
    # workers (forked under qemu) serves the page on loopback.
    from tests.integration.test_examples import EXAMPLES, free_port, wait_for

    out = tmp_path / "out" / "flask-gevent-demo"
    proc = exxo("build", EXAMPLES / "flask-gevent", "-p", PYTHON_VERSION, "--target", "aarch64", "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    port = free_port()
    server = subprocess.Popen([*_qemu(), str(out), "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"PATH": "/usr/bin:/bin", "QEMU_LD_PREFIX": str(SYSROOT), "HOME": str(tmp_path)})
    try:
        page = wait_for(f"http://127.0.0.1:{port}/", tries=600)
        assert '<strong id="ip">127.0.0.1</strong>' in page
        assert "#ip" in wait_for(f"http://127.0.0.1:{port}/static/style.css")
    finally:
        server.terminate()
        code = server.wait(timeout=120)
    assert code == 0, server.stderr.read() if server.stderr else ""


@pytest.mark.network
def test_project_venv_native_code_from_aarch64_wheels(arm_runtime: Runtime, system_libz: Path,
                                                      tmp_path: Path) -> None:
    # A project with its own exxo venv holding this machine's numpy: the cross build takes numpy from its
    # aarch64 wheel at the venv's version (a release that has a manylinux2014 aarch64 wheel).
    from exxo import venv

    env = tmp_path / "env"
    venv.create(env, bootstrap.build_python(PYTHON_VERSION))
    pip = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "numpy==2.2.6"], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    src = fixture("numpy-app", tmp_path)
    out = tmp_path / "out" / "numpy-app"
    proc = exxo("build", "-s", src, "--venv", env, "-o", out, "--target", "aarch64")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = run_aarch64(out, env={"LD_LIBRARY_PATH": str(system_libz)})
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == "solve True"
    info = json.loads(exxo("inspect", "--json", out).stdout)
    assert all("x86" not in name for name in info["native_libraries"])
