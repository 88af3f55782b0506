"""`exxo build` refuses, with a message and a documented exit code, what used to be exit 70 ("this is a bug")
or a binary that cannot start (issue 12, items 7, 8, 10): 5 for an output it cannot write, 4 for an entry
point that is not there, own code that does not compile, a file the binary cannot hold. Nothing is written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.helpers import exxo, fixture, run_clean

pytestmark = pytest.mark.runtime


def refused(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    last = proc.stderr[proc.stderr.index("exxo: error:"):]
    for needle in needles:
        assert needle in last, last
    assert "hint:" in last


def only_outputs(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def read_only(path: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Runs argv in a private mount namespace where `path` is bind-mounted read-only (root cannot write it)."""
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(path), *argv],
                          capture_output=True, text=True, env=env, timeout=600)


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(not _can_unshare(), reason="needs unshare -m (root or user namespaces)")


# ---- the output (item 7, 10) ----------------------------------------------------------------------


@needs_unshare
def test_read_only_output_directory(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    proc = read_only(ro, [sys.executable, "-m", "exxo", "build", "-s", str(src), "--venv", str(exxo_venv),
                          "-o", str(ro / "app")])
    refused(proc, 5, f"cannot write the binary {ro}/app: the directory {ro} is on a read-only file system")
    assert "pip: building" not in proc.stderr  # refused before the build
    venv = read_only(ro, [sys.executable, "-m", "exxo", "venv", str(ro / "env")])
    refused(venv, 5, f"cannot write the venv {ro}/env: the directory {ro} is on a read-only file system")
    assert only_outputs(ro) == []


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_venv_in_a_directory_of_another_user() -> None:
    # As an ordinary user (uid 4242) in a directory of root's, mode 0755; pytest's tmp dirs are root's 0700.
    import tempfile

    theirs = Path(tempfile.mkdtemp(prefix="exxo-theirs-", dir="/tmp"))
    try:
        theirs.chmod(0o755)
        proc = subprocess.run(["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "env", "-i",
                               "PATH=/usr/bin:/bin", f"HOME={theirs}", sys.executable, "-m", "exxo", "venv",
                               str(theirs / "env")], capture_output=True, text=True, cwd="/", timeout=120)
        refused(proc, 5, f"cannot write the venv {theirs}/env: the directory {theirs} is not writable by you")
        assert only_outputs(theirs) == []
    finally:
        shutil.rmtree(theirs)


def test_output_that_is_a_directory(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    out = tmp_path / "out"
    (out / "cli-pure").mkdir(parents=True)
    proc = exxo("build", "-s", src, "--venv", exxo_venv, "-o", out)
    refused(proc, 5, f"cannot write the binary {out}/cli-pure: it is a directory")
    assert only_outputs(out) == ["cli-pure"] and only_outputs(out / "cli-pure") == []


def test_output_under_a_file(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    (tmp_path / "afile").write_text("")
    proc = exxo("build", "-s", src, "--venv", exxo_venv, "-o", tmp_path / "afile" / "sub" / "app")
    refused(proc, 5, f"{tmp_path}/afile is a file, not a directory")
    assert "pip: building" not in proc.stderr
    venv = exxo("venv", tmp_path / "afile" / "env")
    refused(venv, 5, f"cannot write the venv {tmp_path}/afile/env: {tmp_path}/afile is a file")


def test_trailing_slash_is_a_directory_and_stale_temps_go(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    out = tmp_path / "newdir"
    proc = exxo("build", "-s", src, "--venv", exxo_venv, "-o", f"{out}/")
    assert proc.returncode == 0, proc.stderr
    assert (out / "cli-pure").is_file() and run_clean(out / "cli-pure", "x").returncode == 0
    # what a killed build leaves (the writer's temp name), an hour old and a fresh one (a build running now)
    stale, fresh = out / ".cli-pure.k1ll3d.tmp", out / ".cli-pure.running.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert exxo("build", "-s", src, "--venv", exxo_venv, "-o", f"{out}/").returncode == 0
    assert only_outputs(out) == [".cli-pure.running.tmp", "cli-pure"]


# ---- files the binary cannot hold (item 7, 10) -------------------------------------------------------


@pytest.fixture
def site_dir(exxo_venv: Path) -> Iterator[Path]:
    """A directory in the venv's site-packages for one test (removed after it)."""
    python = exxo_venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    path = site / "exxo_test_odd"
    path.mkdir()
    try:
        yield path
    finally:
        shutil.rmtree(path)


def with_include(src: Path) -> Path:
    with open(src / "pyproject.toml", "a") as f:
        f.write('\n[tool.exxo]\ninclude = ["exxo_test_odd/*"]\n')
    return src


def test_non_utf8_file_name(exxo_venv: Path, site_dir: Path, tmp_path: Path) -> None:
    (site_dir / os.fsdecode(b"caf\xe9.txt")).write_text("latin-1 name")
    out = tmp_path / "out"
    proc = exxo("build", "-s", with_include(fixture("cli-pure", tmp_path)), "--venv", exxo_venv, "-o", out / "app")
    refused(proc, 4, "the file name b'exxo_test_odd/caf\\xe9.txt' in site-packages is not UTF-8")
    assert only_outputs(out) == []


@pytest.mark.slow
def test_a_file_of_4_gib(exxo_venv: Path, site_dir: Path, tmp_path: Path) -> None:
    # A real one (sparse: no disk used), read by the build like any file: 4 GiB of memory for a few seconds.
    with open(site_dir / "big.bin", "wb") as f:
        f.truncate(4 * 2**30)
    out = tmp_path / "out"
    proc = exxo("build", "-s", with_include(fixture("cli-pure", tmp_path)), "--venv", exxo_venv, "-o", out / "app")
    refused(proc, 4, "exxo_test_odd/big.bin is 4.0 GiB: an exxo binary cannot hold a file of 4 GiB or more",
            'exclude = ["exxo_test_odd/big.bin"]')
    assert only_outputs(out) == []


def test_symlink_out_of_the_venv(exxo_venv: Path, site_dir: Path, tmp_path: Path) -> None:
    (site_dir / "passwd").symlink_to("/etc/passwd")
    proc = exxo("build", "-s", with_include(fixture("cli-pure", tmp_path)), "--venv", exxo_venv,
                "-o", tmp_path / "app")
    refused(proc, 4, f"{site_dir}/passwd is a symlink to /etc/passwd, outside the venv")
    assert not (tmp_path / "app").exists()
    # a link inside the venv is followed: the file's content is embedded
    (site_dir / "passwd").unlink()
    (site_dir / "real.txt").write_text("inside")
    (site_dir / "link.txt").symlink_to(site_dir / "real.txt")
    ok = exxo("build", "-s", with_include(fixture("cli-pure", tmp_path / "again")), "--venv", exxo_venv,
              "-o", tmp_path / "app")
    assert ok.returncode == 0, ok.stderr
    listing = exxo("inspect", tmp_path / "app", "--list").stdout
    assert "exxo_test_odd/link.txt" in listing and "exxo_test_odd/real.txt" in listing


# ---- entry points that cannot start, code that does not compile (item 8) ---------------------------


def project(tmp_path: Path, files: dict[str, str], scripts: str = "") -> Path:
    src = fixture("cli-pure", tmp_path)
    for rel, text in files.items():
        (src / rel).write_text(text)
    if scripts:
        text = (src / "pyproject.toml").read_text()
        (src / "pyproject.toml").write_text(text.replace('cli-pure = "cli_pure:main"', scripts))
    return src


@pytest.mark.parametrize(("files", "args", "needles"), [
    ({}, ["--main", "cli_puer:main"], ["the entry point cli_puer:main cannot start: there is no module cli_puer",
                                       "top-level modules: cli_pure"]),
    ({}, ["--main", "cli_pure:mian"], ["the entry point cli_pure:mian cannot start: cli_pure/__init__.py defines "
                                       "no mian"]),
    ({}, ["--main", "cli_pure"], ["the entry point cli_pure is a package without __main__.py",
                                  "--main cli_pure:main"]),
    ({"cli_pure/broken.py": "def f(:\n    pass\n"}, [],
     ["the project's own code does not compile", "cli_pure/broken.py, line 1:"]),
])
def test_entry_cannot_start(exxo_venv: Path, tmp_path: Path, files: dict[str, str], args: list[str],
                            needles: list[str]) -> None:
    out = tmp_path / "out"
    proc = exxo("build", "-s", project(tmp_path, files), "--venv", exxo_venv, "-o", out / "app", *args)
    refused(proc, 4, *needles)
    assert only_outputs(out) == []


def test_console_script_naming_a_missing_function(exxo_venv: Path, tmp_path: Path) -> None:
    src = project(tmp_path, {}, scripts='cli-pure = "cli_pure:run"')
    proc = exxo("build", "-s", src, "--venv", exxo_venv, "-o", tmp_path / "app")
    refused(proc, 4, "the entry point cli_pure:run cannot start: cli_pure/__init__.py defines no run")


def test_entries_that_do_start(exxo_venv: Path, tmp_path: Path) -> None:
    # a stdlib module run as __main__; a function made by a module __getattr__ (not knowable statically)
    stdlib = exxo("build", "-s", fixture("cli-pure", tmp_path), "--venv", exxo_venv, "-o", tmp_path / "b1",
                  "--main", "platform")
    assert stdlib.returncode == 0, stdlib.stderr
    assert run_clean(tmp_path / "b1").stdout.startswith("Linux-")
    dynamic = project(tmp_path / "d", {"cli_pure/__init__.py": "def __getattr__(name):\n"
                                                               "    return lambda: print('made', name)\n"})
    proc = exxo("build", "-s", dynamic, "--venv", exxo_venv, "-o", tmp_path / "b2", "--main", "cli_pure:hello")
    assert proc.returncode == 0, proc.stderr
    assert run_clean(tmp_path / "b2").stdout == "made hello\n"


def test_same_entries_in_a_plain_venv(host_venv: Path, tmp_path: Path) -> None:
    # The reference: installed in a plain venv, the console script exxo refuses fails to start, and the one
    # exxo builds runs.
    python = host_venv / "bin" / "python"
    for name, init, script, rc, out in [
        ("missing", None, 'cli-pure = "cli_pure:run"', 1, ""),
        ("dynamic", "def __getattr__(name):\n    return lambda: print('made', name)\n",
         'cli-pure = "cli_pure:hello"', 0, "made hello\n"),
    ]:
        src = project(tmp_path / name, {"cli_pure/__init__.py": init} if init else {}, scripts=script)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-build-isolation", "--force-reinstall",
                        str(src)], check=True, capture_output=True)
        proc = subprocess.run([str(host_venv / "bin" / "cli-pure")], capture_output=True, text=True)
        assert (proc.returncode, proc.stdout) == (rc, out), proc.stderr
        if rc:
            assert "ImportError: cannot import name 'run' from 'cli_pure'" in proc.stderr
