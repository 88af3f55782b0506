"""The environment matrix runs in `make test`: every row must pass (the harness writes docs/portability.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.runtime, pytest.mark.slow]
HARNESS = Path(__file__).resolve().parent / "harness.py"


def test_environment_matrix(runtime: object, tmp_path: Path) -> None:
    report = tmp_path / "portability.md"
    proc = subprocess.run([sys.executable, str(HARNESS), "--out", str(report)], capture_output=True, text=True,
                          timeout=3000)
    assert report.exists(), proc.stdout + proc.stderr
    failed = [line for line in report.read_text().splitlines() if "| FAIL |" in line]
    assert proc.returncode == 0 and not failed, "\n".join(failed) + proc.stderr[-2000:]
