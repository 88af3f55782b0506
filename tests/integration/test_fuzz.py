"""A fixed 1,000-case slice of `make fuzz` (tests/fuzz/fuzz_binary.py) on a real binary: truncations, byte
flips and trailer variants of its zip give either the intact run or one line and exit 126, never a signal, a
hang or a traceback; `exxo inspect` of every tenth case exits 0 or 4 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.fuzz_binary import fuzz
from tests.integration.helpers import exxo, fixture

pytestmark = [pytest.mark.runtime, pytest.mark.slow]


def test_damaged_binaries_never_crash(exxo_venv: Path, tmp_path: Path) -> None:
    binary = tmp_path / "out" / "cli-pure"
    proc = exxo("build", "-s", fixture("cli-pure", tmp_path), "--venv", exxo_venv, "-o", binary)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts, failures = fuzz(binary, cases=1000, seed=20261201, inspect_every=10)
    assert failures == [], "\n".join(failures[:20]) + f"\n{dict(counts)}"
    assert counts["run:damaged"] > 100 and counts["run:intact"] > 0, counts  # both classes are exercised
