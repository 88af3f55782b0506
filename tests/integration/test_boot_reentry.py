"""Re-entry in a built binary: `sys.executable` is the binary, and a child that runs it as a Python
interpreter (subprocess -c/-m, multiprocessing spawn/forkserver/fork, ProcessPoolExecutor, os.execv restart,
`python BINARY args`) gets one, while the app run by its own name stays the app and no variable leaks into
grandchildren."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from exxo.archive import Member
from tests.boot_harness import Builder

APP = r'''
import json, math, os, subprocess, sys


def out(key, value):
    print(key, json.dumps(value), flush=True)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "subprocess":
        r = subprocess.run([sys.executable, "-c", "import sys, app; print(app.square(7), sys.argv[1:])", "a"],
                           capture_output=True, text=True)
        out("c", [r.returncode, r.stdout.strip(), r.stderr[-500:]])
        r = subprocess.run([sys.executable, "-m", "app.child", "x"], capture_output=True, text=True)
        out("m", [r.returncode, r.stdout.strip(), r.stderr[-500:]])
        r = subprocess.run([sys.executable, "-c", "import os, subprocess; print(os.environ.get('EXXO_PYTHON'));"
                            "print(subprocess.run(['/bin/sh', '-c', 'echo ${EXXO_PYTHON:-unset}'], "
                            "capture_output=True, text=True).stdout.strip())"], capture_output=True, text=True)
        out("no-leak", r.stdout.split())
        r = subprocess.run(["/bin/sh", "-c", "echo ${EXXO_PYTHON:-unset}"], capture_output=True, text=True)
        out("no-leak-sh", r.stdout.strip())
        r = subprocess.run([sys.executable, sys.executable, "as-script", "1"], capture_output=True, text=True)
        out("python-binary", [r.returncode, r.stdout.strip(), r.stderr[-500:]])
        r = subprocess.run([sys.executable, "hello"], capture_output=True, text=True, executable=sys.executable)
        out("app-args", [r.returncode, r.stdout.strip(), r.stderr[-500:]])
        r = subprocess.run(["myname", "by-name"], executable=sys.executable, capture_output=True, text=True)
        out("by-name", [r.returncode, r.stdout.strip(), r.stderr[-500:]])
        return 0
    if what == "mp":
        import concurrent.futures as cf
        import multiprocessing as mp
        results = {}
        for method in ("spawn", "forkserver", "fork"):
            with mp.get_context(method).Pool(2) as pool:
                results[method] = pool.map(math.factorial, range(6))
        with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
            results["executor"] = list(ex.map(square, [-1, -2]))
        ctx = mp.get_context("spawn")
        p = ctx.Process(target=square, args=(3,))
        p.start(); p.join()
        results["process-exitcode"] = p.exitcode
        out("mp", results)
        return 0
    if what == "restart":  # gunicorn/Django style: exec "python" + the same argv
        if os.environ.get("APP_RESTARTED") != "1":
            os.environ["APP_RESTARTED"] = "1"
            sys.stdout.flush()
            os.execv(sys.executable, [sys.executable] + sys.argv)
        out("restarted", sys.argv[1:])
        return 0
    if what == "spawn":
        pid = os.posix_spawn(sys.executable, [sys.executable, "-c", "import app; print('spawned', app.square(4))"],
                             os.environ)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)
    out("app", sys.argv[1:])
    return 0


def square(x):
    return x * x
'''

MEMBERS = [
    Member("app/__init__.py", APP.encode()),
    Member("app/child.py", b"import sys\nprint('child-module', sys.argv[1:], __name__)\n"),
]


@pytest.fixture(scope="module")
def app(b: Builder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return b.build(tmp_path_factory.mktemp("reentry") / "app", MEMBERS, "app:main")


def run(binary: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(binary.parent)}
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, env=base | (env or {}), timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = {}
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        got[key] = json.loads(value) if value[:1] in "[{\"0123456789" else value
    return got


def test_subprocess_reentry(app: Path) -> None:
    got = run(app, "subprocess")
    assert got["c"] == [0, "49 ['a']", ""]
    assert got["m"] == [0, "child-module ['x'] __main__", ""]
    assert got["no-leak"] == ["None", "unset"] and got["no-leak-sh"] == "unset"
    assert got["python-binary"][:2] == [0, 'app ["as-script", "1"]']  # `python BINARY args` runs the app
    # argv[0] is sys.executable but the argument is no Python option or script: CPython's own answer.
    assert got["app-args"][0] != 0
    assert got["by-name"][:2] == [0, 'app ["by-name"]']  # argv[0] is not sys.executable: the app


def test_exec_restart_runs_the_app_again(app: Path) -> None:
    assert run(app, "restart", "x")["restarted"] == ["restart", "x"]


def test_posix_spawn_reentry(app: Path) -> None:
    proc = subprocess.run([str(app), "spawn"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "spawned 16"


@pytest.mark.slow
def test_multiprocessing(app: Path) -> None:
    facts = [1, 1, 2, 6, 24, 120]
    assert run(app, "mp")["mp"] == {"spawn": facts, "forkserver": facts, "fork": facts, "executor": [1, 4],
                                    "process-exitcode": 0}
