"""CPython 3.11 and 3.14 (issue #2: "3.13 is the default; 3.14 and 3.11 also work"), on real binaries.

Per version: the runtime (built on first use, like the 3.13 session fixture, ~5-8 min each on a cold cache),
one `exxo venv -p X.Y` and one `exxo build` of the cli-pure fixture, shared by the tests of that version.
The 3.13 runtime is covered in depth by the other integration tests; these prove the same contracts hold for
the other versions: the runtime alone imports its whole module table, an app binary runs from an empty dir
with `env -i`, and a re-entered binary spawns itself as Python (multiprocessing).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from exxo.runtime.bootstrap import Runtime, ensure_runtime
from exxo.runtime.cpython import module_table
from tests.integration.helpers import alone, exxo, fixture, run_clean

pytestmark = pytest.mark.runtime

VERSIONS = ["3.11", "3.14"]


@pytest.fixture(scope="module", params=VERSIONS)
def runtime_x(request: pytest.FixtureRequest) -> Runtime:
    # Builds the runtime when it is not cached; a build failure fails these tests with the build's own error.
    version: str = request.param
    return ensure_runtime(version)


@pytest.fixture(scope="module")
def cli_binary(runtime_x: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cli-pure built with an `exxo venv -p X.Y` of this version."""
    work = tmp_path_factory.mktemp(f"cli-{runtime_x.minor}")
    env = work / "env"
    proc = exxo("venv", env, "-p", runtime_x.minor)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    venv_python = subprocess.run([str(env / "bin" / "python"), "-c", "import sys; print(sys.version)"],
                                 capture_output=True, text=True)
    assert venv_python.stdout.startswith(runtime_x.version + " "), venv_python
    src = fixture("cli-pure", work)
    out = work / "out" / "cli-pure"
    proc = exxo("build", "-s", src, "--venv", env, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_runtime_alone_imports_its_table(runtime_x: Runtime, tmp_path: Path) -> None:
    exe = tmp_path / "python3"
    shutil.copy2(runtime_x.python, exe)  # no lib/ beside it: the stdlib must come from the file itself
    builtin, excluded = module_table(runtime_x.minor)
    code = (f"import sys, importlib\nfor m in {builtin!r}:\n    assert m in sys.builtin_module_names, m\n"
            "    importlib.import_module(m)\n"
            f"for m in {sorted(excluded)!r}:\n    assert m not in sys.builtin_module_names, m\n"
            "import json, sqlite3, ssl, decimal, asyncio, venv, ensurepip\n"
            "print(sys.version)\nprint(json.dumps(sys.path))")
    proc = subprocess.run([str(exe), "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no getpath warnings
    version, path = proc.stdout.splitlines()
    assert version.startswith(runtime_x.version + " "), version
    assert version == runtime_x.metadata()["sys_version"]
    assert f"{exe}/lib/python{runtime_x.minor}" in json.loads(path)  # the zip inside the executable


def test_app_binary_runs_alone(runtime_x: Runtime, cli_binary: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(cli_binary) as zf:
        manifest = json.loads(zf.read("__exxo__/manifest.json"))
    assert manifest["python"]["version"] == runtime_x.version
    assert manifest["stdlib_prefix"] == f"lib/python{runtime_x.minor}"
    exe = alone(cli_binary, tmp_path / "empty")
    proc = run_clean(exe, "a", "--b", env={"PYTHONPATH": "/nonexistent", "PYTHONSTARTUP": "/etc/passwd"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:3] == [f"argv ['{exe}', 'a', '--b']", f"executable {exe}",
                                            "isolated 1 cwd-in-path False"]
    assert run_clean(exe, "exit", "7").returncode == 7
    crashed = run_clean(exe, "crash")
    assert crashed.returncode == 1 and "ValueError: boom" in crashed.stderr


def test_reentry_spawns_the_binary_as_python(runtime_x: Runtime, cli_binary: Path, tmp_path: Path) -> None:
    # The binary as a re-entered interpreter (EXXO_PYTHON=1, what the boot sets for a child running
    # sys.executable); its multiprocessing spawn children re-enter the same way, the variable never leaks.
    exe = alone(cli_binary, tmp_path / "empty")
    code = ("import math, multiprocessing as mp, os, sys\n"
            "with mp.get_context('spawn').Pool(2) as pool:\n"
            "    print(pool.map(math.factorial, range(6)))\n"
            "print(sys.version_info[:2], sys.executable, os.environ.get('EXXO_PYTHON'))")
    proc = run_clean(exe, "-c", code, env={"EXXO_PYTHON": "1"})
    assert proc.returncode == 0, proc.stderr
    major, minor = (int(x) for x in runtime_x.minor.split("."))
    assert proc.stdout.splitlines() == [str([math.factorial(i) for i in range(6)]), f"({major}, {minor}) {exe} None"]

