"""exxo's own unit tests, run by pytest *inside* an exxo binary (as the original exxo did).

The binary is built from tests/fixtures/selftest-runner (pytest as the entry point, exxo and pip in the zip).
It proves on a large real program what the small fixtures prove piecemeal: pytest's assertion rewriting and
plugin loading from the zip, importlib.resources of exxo's own package data, and interpreter re-entry — the
unit tests start `sys.executable -m pip install ...`, `sys.executable -m exxo ...` and `sys.executable -c ...`
children, which here are the binary itself acting as a Python interpreter with its zip on the path.

Run: tests/unit and the boot tests of tests/integration (binaries built inside a binary). Left out, each for a
reason that is about the test, not about exxo:
- test_probes.py::test_create_venv_makes_a_standard_venv: the venv it makes with `sys.executable` has a
  bin/python linked to the app binary, which runs the app, not an interpreter (re-entry is for children
  started by the app with sys.executable; see docs/how-it-works.md).
- test_boot_host.py: its harness loads a second exxo boot module into the running interpreter, which inside
  a binary already has one.
- test_deps.py and test_cross_target.py::test_library_keys_differ_by_target: tests of the zig toolchain, which
  is excluded from exxo's binary (only `exxo bootstrap` on a development machine uses it).
- test_cli_errors.py::test_reference_doc_is_current: argparse lays out help differently in 3.11 (which
  generates docs/reference.md) and 3.13.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import exxo, fixture

pytestmark = [pytest.mark.runtime, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
RUN = ["tests/unit", *(f"tests/integration/test_boot_{name}.py" for name in ("import", "native", "reentry", "zipio"))]
LEFT_OUT = [
    "tests/unit/test_probes.py::test_create_venv_makes_a_standard_venv",
    "tests/unit/test_deps.py",
    "tests/unit/test_cross_target.py::test_library_keys_differ_by_target",
    "tests/unit/test_cli_errors.py::test_reference_doc_is_current",
]


def test_unit_suite_passes_inside_a_binary(runtime: object, tmp_path: Path) -> None:
    venv = tmp_path / "env"
    proc = exxo("venv", venv)
    assert proc.returncode == 0, proc.stderr
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          str(ROOT), "pytest>=8"], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr
    binary = tmp_path / "bin" / "selftest"
    # A temp copy: setuptools writes build/ into the project it builds.
    proc = exxo("build", "-s", fixture("selftest-runner", tmp_path), "--venv", venv, "-o", binary)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # Its own basetemp: the inner pytest must not prune the outer one's temp dirs.
    args = ["-q", "-rs", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}", *RUN]
    args += [f"--deselect={t}" for t in LEFT_OUT]
    # HOME is a temp dir, but the source cache (which test_sources checks) is the real one.
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": cache, "LANG": "C.UTF-8"}
    run = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(binary), *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=1800)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    assert "skipped" not in summary, run.stdout[-3000:]
    assert int(summary.split(" passed")[0].split()[-1]) >= 50, summary
