"""`exxo venv` + `exxo build` on fixture projects; each binary is copied alone and run with `env -i`."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import alone, exxo, fixture, parse, run_clean

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="session")
def venv(runtime: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("venv") / "env"
    proc = exxo("venv", env)
    assert proc.returncode == 0, proc.stderr
    assert (env / "bin" / "activate").is_file() and (env / "bin" / "pip").exists()
    return env


def build(venv: Path, src: Path, *extra: str) -> Path:
    out = src.parent / "out" / src.name
    proc = exxo("build", "-s", src, "--venv", venv, "-o", out, *extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.stat().st_mode & 0o777 == 0o755
    return out


def test_venv_again_and_clear(venv: Path) -> None:
    again = exxo("venv", venv)
    assert again.returncode == 0 and "already an exxo venv" in again.stdout
    other = venv.parent / "plain"
    other.mkdir()
    (other / "file").write_text("x")
    refused = exxo("venv", other)
    assert refused.returncode == 4 and "not a virtualenv" in refused.stderr and "--clear" in refused.stderr
    cleared = exxo("venv", other, "--clear")
    assert cleared.returncode == 0 and (other / "bin" / "python").exists()


def test_pure_cli(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("cli-pure", tmp_path))
    exe = alone(binary, tmp_path / "empty")
    proc = run_clean(exe, "a", "--b", env={"PYTHONPATH": "/nonexistent", "PYTHONSTARTUP": "/etc/passwd"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"argv ['{exe}', 'a', '--b']"
    assert lines[1] == f"executable {exe}"
    assert lines[2] == "isolated 1 cwd-in-path False"
    assert run_clean(exe, "exit", "7").returncode == 7
    failed = run_clean(exe, "fail")
    assert failed.returncode == 1 and failed.stderr.strip() == "failing on purpose"
    crashed = run_clean(exe, "crash")
    assert crashed.returncode == 1 and "ValueError: boom" in crashed.stderr and "line" in crashed.stderr


def test_name_does_not_matter_and_symlink(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("cli-pure", tmp_path))
    renamed = tmp_path / "bin" / "python3"
    renamed.parent.mkdir()
    shutil.copy2(binary, renamed)
    proc = run_clean(renamed, "x")
    assert proc.stdout.startswith("argv ['"), proc.stderr
    link = tmp_path / "link"
    link.symlink_to(renamed)
    proc = run_clean(link, "y")
    assert f"executable {renamed}" in proc.stdout


def test_ctrl_c_exits_130(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("cli-pure", tmp_path))
    proc = subprocess.Popen([str(binary), "sleep"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == f"argv ['{binary}', 'sleep']"
    lines = [proc.stdout.readline().strip() for _ in range(4)]  # executable, isolated, encoding, sleeping
    assert lines[-1] == "sleeping", lines
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) in (130, -signal.SIGINT)


def test_src_layout_with_dash_and_dot(venv: Path, tmp_path: Path) -> None:
    src = fixture("src-layout-dash", tmp_path)
    proc = exxo("build", "-s", src, "--venv", venv)
    assert proc.returncode == 0, proc.stderr
    binary = src / "dist" / "my-dash.app"
    out = run_clean(alone(binary, tmp_path / "e"), "--name", "exxo")
    assert out.returncode == 0 and out.stdout == "hello exxo from a src layout\n", out.stderr


def test_two_scripts_then_entry(venv: Path, tmp_path: Path) -> None:
    src = fixture("two-scripts", tmp_path)
    proc = exxo("build", "-s", src, "--venv", venv)
    assert proc.returncode == 4
    assert "--entry two-server" in proc.stderr and "--entry two_admin" in proc.stderr
    binary = build(venv, src, "--entry", "two-admin")  # `-`/`_` spellings are the same name
    assert run_clean(alone(binary, tmp_path / "e")).stdout == "admin\n"


def test_no_scripts_then_main(venv: Path, tmp_path: Path) -> None:
    src = fixture("no-scripts", tmp_path)
    proc = exxo("build", "-s", src, "--venv", venv)
    assert proc.returncode == 4 and "[project.scripts]" in proc.stderr and "--main" in proc.stderr
    binary = build(venv, src, "--main", "noscripts:hello")
    assert run_clean(alone(binary, tmp_path / "e")).stdout == "hello via --main\n"


def test_not_a_project(venv: Path, tmp_path: Path) -> None:
    proc = exxo("build", "-s", tmp_path, "--venv", venv)
    assert proc.returncode == 4 and "not a Python project" in proc.stderr


def test_reproducible(venv: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    digests = []
    for name in ("one", "two"):
        out = tmp_path / name
        proc = exxo("build", "-s", src, "--venv", venv, "-o", out, env=env)
        assert proc.returncode == 0, proc.stderr
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_inspect(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("cli-pure", tmp_path))
    proc = exxo("inspect", binary)
    assert proc.returncode == 0 and "cli_pure:main" in proc.stdout and "CPython 3." in proc.stdout
    truncated = tmp_path / "truncated"
    truncated.write_bytes(binary.read_bytes()[:-5000])
    bad = exxo("inspect", truncated)
    assert bad.returncode == 4 and len(bad.stderr.strip().splitlines()) == 1
    # The damaged binary itself says what is wrong.
    truncated.chmod(0o755)
    ran = run_clean(truncated)
    assert ran.returncode != 0 and "Traceback" not in ran.stderr, ran.stderr


def test_probe_app_inside_the_binary(venv: Path, tmp_path: Path) -> None:
    src = fixture("probe-app", tmp_path)
    (src / "probe_app" / "bin").mkdir()
    shutil.copy2("/bin/echo", src / "probe_app" / "bin" / "echo")
    shutil.copy2("/etc/ssl/certs/ca-certificates.crt", src / "probe_app" / "data" / "ca.pem")
    text = (src / "pyproject.toml").read_text().replace('"data/*.txt"', '"data/*.txt", "data/*.pem"')
    (src / "pyproject.toml").write_text(text)
    binary = build(venv, src)
    exe = alone(binary, tmp_path / "empty")
    proc = run_clean(exe, env={"PYTHONPATH": "/PYTHONPATH-SHOULD-NOT-APPEAR"})
    assert proc.returncode == 0, proc.stderr
    got = parse(proc.stdout)
    assert got["file"] == f"{exe}/probe_app/__init__.py" and got["in-binary"] is True
    assert got["open-text"] == "<p>{{ name }}</p>" and got["open-binary"] == "alpha"
    assert got["exists"] == [True, True, False] and got["isdir-isfile"] == [True, False]
    assert got["getsize"] == 6 and got["getmtime-positive"] is True and got["stat-regular"] == "0o100000"
    assert got["listdir"] == ["__init__.py", "__pycache__", "a.txt", "ca.pem", "sub"]
    assert ["sub", True] in got["scandir"] and ["a.txt", False] in got["scandir"]
    assert "data/sub/b.txt" in got["walk"] and got["glob"] == ["a.txt"]
    assert got["access"] == [True, False] and got["write"] == [30, True]
    assert got["pkgutil"] == "beta" and got["resources"] == "alpha" and got["as_file"] == "alpha"
    assert got["metadata-version"] == "2.5.0" and got["entry-points"] == ["first"]
    assert got["metadata-files"] is True
    assert got["namespace"] == ["namespace portion", True]
    assert got["getsource"] == "def square(x):" and got["traceback-line"] is True
    assert got["sys-path-env"] == []
    assert got["subprocess-c"] == [0, "49 0", ""]
    assert got["subprocess-m"][:2] == [0, "child-module ['x']"]
    assert got["no-leak"] == "None" and got["no-leak-sh"] == "unset"
    assert got["ssl-cafile"] is True
    assert got["bundled-exe"] == [0, "bundled tool"]


def test_multiprocessing_reentry(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("probe-app", tmp_path))
    proc = run_clean(alone(binary, tmp_path / "e"), "mp", timeout=300)
    assert proc.returncode == 0, proc.stderr
    facts = [1, 1, 2, 6, 24, 120]
    assert parse(proc.stdout)["mp"] == {"spawn": facts, "forkserver": facts, "fork": facts, "executor": [1, 2]}


def test_c_extension_from_sdist(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("cext-sdist", tmp_path))
    for mode in ("memfd", "cache"):
        exe = alone(binary, tmp_path / mode)
        proc = run_clean(exe, env={"EXXO_NATIVE": mode})
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == "add 42" and lines[2] == "ctypes 42"
        assert lines[1].startswith(f"file {exe}/cext_app/_fast.")


@pytest.mark.slow
def test_numpy_wheel_with_bundled_libs(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("numpy-app", tmp_path))
    for mode in ("memfd", "cache"):
        home = tmp_path / f"home-{mode}"
        home.mkdir()
        proc = run_clean(alone(binary, tmp_path / mode), env={"EXXO_NATIVE": mode, "HOME": str(home)})
        assert proc.returncode == 0, proc.stderr
        assert "solve True" in proc.stdout
        cache = home / ".cache" / "exxo"
        assert cache.exists() == (mode == "cache")  # memfd mode writes nothing


def test_memfd_start_opens_nothing_for_writing(venv: Path, tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        pytest.fail("strace is needed (apt-get install strace; make test installs it)")
    binary = build(venv, fixture("cext-sdist", tmp_path))
    exe = alone(binary, tmp_path / "e")
    trace = tmp_path / "trace"
    proc = subprocess.run(["strace", "-f", "-o", str(trace), "-e", "trace=openat,open,creat,rename,renameat,"
                           "renameat2,mkdir,unlink", str(exe)], capture_output=True, text=True, env={"PATH": "/bin"})
    assert proc.returncode == 0, proc.stderr
    calls = trace.read_text().splitlines()
    writes = [c for c in calls if any(f in c for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "creat(", "rename",
                                                        "mkdir(", "unlink("))]
    assert writes == [], writes
    assert any(f'"{exe}", O_RDONLY' in c for c in calls)  # the app is read from the binary itself


def test_native_fallback_without_proc(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("cext-sdist", tmp_path))
    exe = alone(binary, tmp_path / "e")
    home = tmp_path / "home"
    home.mkdir()
    # A mount namespace with an empty /proc: memfd paths are not visible, so the cache takes over.
    script = f"mount -t tmpfs none /proc && exec env -i HOME={home} PATH=/bin {exe}"
    proc = subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "add 42" in proc.stdout
    assert list((home / ".cache" / "exxo").iterdir())


def test_compressed_binary_starts_and_loads_extensions(venv: Path, tmp_path: Path) -> None:
    import os

    if not os.environ.get("EXXO_UPX"):
        pytest.fail("EXXO_UPX is not set: `make test` builds upx with tools/build-upx.sh")
    src = fixture("cext-sdist", tmp_path)
    plain = build(venv, src)
    packed = src.parent / "out" / "packed"
    proc = exxo("build", "-s", src, "--venv", venv, "-o", packed, "-c")
    assert proc.returncode == 0, proc.stderr
    assert packed.stat().st_size < plain.stat().st_size
    for mode in ("memfd", "cache"):
        ran = run_clean(alone(packed, tmp_path / mode), env={"EXXO_NATIVE": mode})
        assert ran.returncode == 0 and ran.stdout.splitlines()[0] == "add 42", ran.stderr


def test_compress_without_upx_says_what_to_do(venv: Path, tmp_path: Path) -> None:
    proc = exxo("build", "-s", fixture("cli-pure", tmp_path), "--venv", venv, "-c",
                env={"EXXO_UPX": "", "PATH": "/nonexistent"})
    assert proc.returncode == 3 and "upx" in proc.stderr and "tools/build-upx.sh" in proc.stderr
