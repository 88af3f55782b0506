"""`exxo build` on the fixture projects; each binary is copied alone into an empty dir and run with `env -i`."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import alone, exxo, fixture, parse, run_clean

pytestmark = pytest.mark.runtime
SITE = f"lib/python{PYTHON_VERSION}/site-packages"  # the app's members, as in a venv


@pytest.fixture
def venv(exxo_venv: Path) -> Path:
    return exxo_venv


def build(venv: Path, src: Path, *extra: str, out: Path | None = None, env: dict[str, str] | None = None) -> Path:
    """`exxo build` SRC into OUT (default: beside SRC); asserts success and the output's mode."""
    out = out or src.parent / "out" / src.name
    proc = exxo("build", "-s", src, "--venv", venv, "-o", out, *extra, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.stat().st_mode & 0o777 == 0o755
    return out


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
    # Any name runs the app, but python, python3 and python3.X: under those the binary is its app's Python
    # (tests/integration/test_multicall.py).
    binary = build(venv, fixture("cli-pure", tmp_path))
    renamed = tmp_path / "bin" / "python3-tool"
    renamed.parent.mkdir()
    shutil.copy2(binary, renamed)
    proc = run_clean(renamed, "x")
    assert proc.stdout.startswith("argv ['"), proc.stderr
    as_python = tmp_path / "bin" / "python3"
    shutil.copy2(binary, as_python)
    proc = run_clean(as_python, "-c", "import cli_pure, sys; print(sys.argv)")
    assert proc.stdout == "['-c']\n", proc.stderr
    link = tmp_path / "link"
    link.symlink_to(renamed)
    proc = run_clean(link, "y")
    assert f"executable {renamed}" in proc.stdout


def test_ctrl_c_exits_130(venv: Path, tmp_path: Path) -> None:
    binary = build(venv, fixture("cli-pure", tmp_path))
    # As from a terminal: SIGINT at its default (a test run started in the background inherits it ignored,
    # and CPython, like any program, then keeps ignoring it).
    proc = subprocess.Popen([str(binary), "sleep"], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
    assert got["file"] == f"{exe}/{SITE}/probe_app/__init__.py" and got["in-binary"] is True
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
        assert lines[1].startswith(f"file {exe}/{SITE}/cext_app/_fast.")


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
    # the SBOM names the libraries numpy's wheel bundles (numpy.libs/), with their sha256
    sbom = json.loads(exxo("inspect", "--sbom", binary).stdout)
    bundled = [c for c in sbom["components"] if {"name": "exxo:bundled-by", "value": "numpy.libs"} in
               c.get("properties", [])]
    assert bundled and all(c["name"].startswith("lib") and len(c["hashes"][0]["content"]) == 64 for c in bundled)


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




def test_c_extension_of_a_dependency_built_from_an_sdist(venv: Path, tmp_path: Path) -> None:
    # cext-sdist packed as an sdist, pip-built in the exxo venv (compiled against the runtime's headers)
    import tarfile

    sdist = tmp_path / "cext_app-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        tar.add(fixture("cext-sdist", tmp_path / "unpacked"), arcname="cext_app-1.0")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", str(sdist)], capture_output=True,
                         text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    binary = build(venv, fixture("cext-user", tmp_path))
    exe = alone(binary, tmp_path / "e")
    proc = run_clean(exe)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "add 42" and lines[1].startswith(f"file {exe}/{SITE}/cext_app/_fast.cpython-3")
    assert lines[2:] == ["ctypes 42", "via the sdist dependency"]


def test_editable_workflow_with_the_active_venv(venv: Path, tmp_path: Path) -> None:
    # The README's workflow: activate, pip install -e ., exxo build (no --venv, no -s, no -o).
    src = fixture("cli-pure", tmp_path)
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-e", str(src)],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    proc = exxo("build", cwd=src, env={"VIRTUAL_ENV": str(venv), "PATH": f"{venv}/bin:/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert f"built {src}/dist/cli-pure" in proc.stdout
    ran = run_clean(alone(src / "dist" / "cli-pure", tmp_path / "e"), "x")
    assert ran.returncode == 0 and ran.stdout.startswith("argv ["), ran.stderr
    # the venv's install is still the editable one: an edit shows at once, no reinstall
    (src / "cli_pure" / "__init__.py").write_text("def main():\n    print('edited')\n")
    edited = subprocess.run([str(venv / "bin" / "cli-pure")], capture_output=True, text=True)
    assert edited.stdout == "edited\n", edited.stderr


def test_config_in_pyproject(venv: Path, tmp_path: Path) -> None:
    src = fixture("two-scripts", tmp_path)
    with open(src / "pyproject.toml", "a") as f:
        f.write('\n[tool.exxo]\nentry = "two_admin"\noutput = "bin/admin-tool"\nnative = "cache"\n'
                'exclude = ["*.dist-info/entry_points.txt"]\n')
    proc = exxo("build", "-s", src, "--venv", venv)
    assert proc.returncode == 0, proc.stderr
    binary = src / "bin" / "admin-tool"
    info = json.loads(exxo("inspect", binary, "--json", "--list").stdout)
    assert info["entry_name"] == "two_admin" and info["native_mode"] == "cache"
    assert not any(name.endswith("entry_points.txt") for name in info["files"])
    assert run_clean(alone(binary, tmp_path / "e")).stdout == "admin\n"
    # flags override the file
    out = build(venv, src, "--entry", "two-server", "--native", "memfd")
    info = json.loads(exxo("inspect", out, "--json").stdout)
    assert info["entry_name"] == "two-server" and info["native_mode"] == "memfd"
