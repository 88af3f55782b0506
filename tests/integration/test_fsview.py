"""The binary's file-system view: native code and the stdlib's C paths open files the app ships.

tests/fixtures/fsview-app runs one check per line; the same checks run from a plain venv of the machine's
Python (the app installed there as a user would) must give the same answers, so the test is fair.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exxo.runtime.bootstrap import Runtime
from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import alone, exxo, fixture, parse, run_clean

pytestmark = pytest.mark.runtime

EXPECTED = {
    "os-open": "hello from a shipped file\n",
    "offsets": ["hello", "hello", " from"],
    "mmap": "hello",
    "libc-fopen": "hello from a shipped file\n",
    "libc-access": [0, True],
    "sqlite": [["apple"], ["pear"], ["plum"]],
    "sqlite-ro": 3,
    "as-file": "hello",
    "open-code": "VALUE = 41 + 1",
    "source-loader": 42,
    "file-finder": True,
    "stat": [26, True, True, True, "0o100000", True, True],
    "copy-out": [["copy.txt", "tree/__init__.py", "tree/hello.txt", "tree/shipped.db", "tree/sub/__init__.py",
                  "tree/sub/deep.txt", "tree/sub/plugin.py"], "nested"],
    "listing": [["__init__.py", "hello.txt", "shipped.db", "sub"],
                [["__init__.py", False], ["deep.txt", False], ["plugin.py", False]]],
    "dots": [True, "hello"],
    "missing": [2, 20],
    "venv-like": [True, "site-packages", True, True],
    "prefix-data": ["shared data under the prefix", {"from": "etc"}],
    "site-builtins": [True, True, True, True],
}


def expected(app_file: str) -> dict[str, object]:
    """EXPECTED, with the paths of this installation (the package's data/sub directory)."""
    sub = os.path.join(os.path.dirname(app_file), "data", "sub")
    out = dict(EXPECTED)
    out["cwd"] = [True, "hello", True, True, [sub, "nested"], True]
    return out


@pytest.fixture(scope="module")
def app_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = fixture("fsview-app", tmp_path_factory.mktemp("fsview"))
    # The database the app ships, made by the app's own code (sqlite3 of the interpreter running the tests).
    make = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import fsview_app; "
            "sys.argv[1:] = ['make-db', sys.argv[2]]; fsview_app.main()", str(src),
            str(src / "fsview_app" / "data" / "shipped.db")]
    subprocess.run(make, check=True)
    return src


@pytest.fixture(scope="module")
def data_dep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dependency with files under the prefix (share/, etc/): its own wheel, built once."""
    return fixture("fsview-data", tmp_path_factory.mktemp("fsview-data"))


@pytest.fixture(scope="module")
def venv(runtime: Runtime, data_dep: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("fsview-venv") / "env"
    proc = exxo("venv", env, "-p", PYTHON_VERSION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          str(data_dep)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return env


@pytest.fixture(scope="module")
def binary(venv: Path, app_src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fsview-out") / "fsview-app"
    proc = exxo("build", "-s", app_src, "--venv", venv, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return alone(out, tmp_path_factory.mktemp("fsview-alone"))


def test_the_checks_pass_in_a_plain_venv(app_src: Path, data_dep: Path, tmp_path: Path) -> None:
    """The reference: the same app and dependency installed into a venv of the machine's Python."""
    env = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(env)], check=True)
    proc = subprocess.run([str(env / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                           str(data_dep), str(app_src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    script = env / "bin" / "fsview-app"
    proc = subprocess.run([str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = parse(proc.stdout)
    assert got == expected(str(got.pop("file")))
    assert subprocess.run([str(script), "exit", "3"]).returncode == 3


@pytest.mark.parametrize("mode", ["memfd", "cache"])
def test_the_checks_pass_in_the_binary(binary: Path, mode: str, tmp_path: Path) -> None:
    env = {"EXXO_NATIVE": mode, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = run_clean(binary, env=env)
    assert proc.returncode == 0, proc.stderr
    got = parse(proc.stdout)
    assert str(got["file"]).startswith(f"{binary}/lib/python{PYTHON_VERSION}/site-packages/")
    assert got == expected(str(got.pop("file")))
    exited = run_clean(binary, "exit", "3", env=env)
    assert exited.returncode == 3, exited.stderr


# The same checks where a one-file tool usually breaks: /tmp mounted noexec, a read-only root, HOME unset.
# The binary sits outside /tmp (a tmpfs over /tmp would hide it) and outside the read-only mount's reach of
# anything it needs: nothing is written at start, in either native mode.
ENVIRONMENTS = {
    "noexec /tmp": "mount -t tmpfs -o noexec,nosuid tmpfs /tmp && exec \"$@\"",
    "read-only root": "mount --bind / / && mount -o remount,bind,ro / && exec \"$@\"",
}


@pytest.fixture(scope="module")
def outside_tmp(binary: Path) -> Iterator[Path]:
    where = Path.home() / ".cache" / "exxo" / "test-fsview" / str(os.getpid())
    where.mkdir(parents=True, exist_ok=True)
    target = where / binary.name
    shutil.copy2(binary, target)
    yield target
    shutil.rmtree(where, ignore_errors=True)


@pytest.mark.parametrize("where", [*ENVIRONMENTS, "HOME unset"])
def test_the_checks_pass_in_hostile_environments(outside_tmp: Path, where: str) -> None:
    env = ["env", "-i", "PATH=/usr/bin:/bin", "EXXO_NATIVE=memfd"]
    if where == "read-only root":  # the app's own copy-out check needs a writable temp dir (as in a venv)
        env.append("TMPDIR=/dev/shm")
    wrap = ["unshare", "--mount", "--fork", "sh", "-c", ENVIRONMENTS[where], "sh"] if where in ENVIRONMENTS else []
    proc = subprocess.run([*wrap, *env, str(outside_tmp)], capture_output=True, text=True, cwd="/", timeout=300)
    assert proc.returncode == 0, (where, proc.stderr)
    got = parse(proc.stdout)
    assert got == expected(str(got.pop("file"))), where
