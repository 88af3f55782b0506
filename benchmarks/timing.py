"""Side-by-side timing: commands interleaved round by round, so machine noise hits them alike; medians."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str] | None = None  # None: inherit
    cwd: str | None = None
    prepare: Callable[[], None] | None = None  # run before every timing, not timed (e.g. empty an output dir)


def timed(argv: Sequence[str] | Command, env: dict[str, str] | None = None) -> float:
    cmd = argv if isinstance(argv, Command) else Command(list(argv), env)
    if cmd.prepare:
        cmd.prepare()
    start = time.perf_counter()
    proc = subprocess.run(cmd.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cmd.env, cwd=cmd.cwd)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd.argv)} exited with {proc.returncode}:\n"
                           + proc.stderr.decode(errors="replace")[-3000:])
    return elapsed


def measure(commands: Mapping[str, Sequence[str] | Command], runs: int, warmup: bool = True) -> dict[str, float]:
    """Median seconds of each command over `runs` interleaved rounds (after one warm-up round)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    if warmup:  # page cache, pyc caches: what a second run sees
        for argv in commands.values():
            timed(argv)
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(timed(argv))
    return {name: statistics.median(t) for name, t in times.items()}


def fmt_seconds(sec: float) -> str:
    return f"{sec * 1000:.1f} ms" if sec < 10 else f"{sec:.1f} s"


def ratio_rows(label: str, medians: Mapping[str, float], reference: str,
               fmt: Callable[[float], str] = fmt_seconds) -> list[str]:
    ref = medians[reference]
    return [f"| {label} | {name} | {fmt(med)} | {med / ref:.3f} |" for name, med in medians.items()]


def compare(label: str, commands: Mapping[str, Sequence[str] | Command], runs: int, reference: str) -> list[str]:
    """Interleave the commands `runs` times; return report lines with medians and ratios to `reference`."""
    return ratio_rows(label, measure(commands, runs), reference, lambda s: f"{s * 1000:.1f} ms")


@dataclass
class Section:
    """One table of results.md: a title, notes (markdown lines), the column names and the rows."""

    title: str
    notes: list[str]
    columns: tuple[str, str, str, str]
    rows: list[str]

    def markdown(self) -> list[str]:
        return [f"## {self.title}", "", *self.notes, "", "| " + " | ".join(self.columns) + " |",
                "|---|---|---|---|", *self.rows, ""]
