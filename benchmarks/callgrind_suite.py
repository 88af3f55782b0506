"""`make bench --only callgrind`: instruction counts (valgrind's callgrind) of a few pyperformance benchmarks on
the exxo runtime and the same reference as the pyperformance part (benchmarks/pyperf_suite.py).

Counts do not depend on the machine's load, so they cross-check the timings of a shared machine. They do not
see what PGO mostly buys (branch layout, i-cache), so a count ratio near 1 with a timing ratio above it is
possible; a count ratio above 1 is a real difference in the work done. Each benchmark runs once in pyperf's
worker mode (1 value, no warm-up) twice: with 1 loop and with 1 + EXTRA_LOOPS loops. The difference divided by
EXTRA_LOOPS is the benchmark's loop alone ("per loop", what pyperformance times); the 1-loop count is start-up,
imports and one loop. Measured on 3.11 (2026-12-02) the two tell different stories: deltablue's 1-loop count was
7% above Debian's python3.11, its loop 0.5% below: the rest was start-up and imports (the stdlib read from the
zip), which pyperformance's timings do not see.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

from envs import clean_env
from pyperf_suite import reference_for, tool
from timing import Section

from exxo.runtime.bootstrap import Runtime

# Dependency-free benchmarks (pyperf is the only import): the interpreter loop, floats, json, regex, pickle.
# name: (pyperformance's benchmark directory, arguments). pickle_pure_python is bm_pickle with --pure-python
# (there is no bm_pickle_pure_python: the figures of the first PGO session for that row were a failed start).
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "nbody": ("nbody", []), "float": ("float", []), "spectral_norm": ("spectral_norm", []),
    "richards": ("richards", []), "json_dumps": ("json_dumps", []), "regex_effbot": ("regex_effbot", []),
    "pickle_pure_python": ("pickle", ["--pure-python", "pickle"]), "chaos": ("chaos", []),
    "deltablue": ("deltablue", []), "go": ("go", []),
}
EXTRA_LOOPS = 2


def instructions(python: str, script: Path, pyperf_path: str, args: list[str] | None = None, loops: int = 1) -> int:
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, str(script),
                           "--worker", "-l", str(loops), "-n", "1", "-w", "0", "-p", "1", *(args or [])],
                          capture_output=True, text=True, env=clean_env(PYTHONPATH=pyperf_path))
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"callgrind of {script} on {python} failed:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def run(runtime: Runtime) -> Section:
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed: apt-get install valgrind")
    exe = tool()
    site = next((exe.parent.parent / "lib").glob("python3.*/site-packages"))
    scripts = site / "pyperformance" / "data-files" / "benchmarks"
    label, ref = reference_for(runtime)
    rows, loop_ratios, start_ratios = [], [], []
    for name, (directory, args) in BENCHMARKS.items():
        script = scripts / f"bm_{directory}" / "run_benchmark.py"
        counts = []
        for python in (ref, str(runtime.python)):
            one = instructions(python, script, str(site), args)
            more = instructions(python, script, str(site), args, 1 + EXTRA_LOOPS)
            counts.append((one, (more - one) / EXTRA_LOOPS))
        (ref_one, ref_loop), (my_one, my_loop) = counts
        loop_ratios.append(my_loop / ref_loop)
        start_ratios.append(my_one / ref_one)
        rows.append(f"| {name} | {ref_loop / 1e6:,.1f} M | {my_loop / 1e6:,.1f} M | {my_loop / ref_loop:.3f} | "
                    f"{ref_one / 1e6:,.0f} M | {my_one / 1e6:,.0f} M | {my_one / ref_one:.3f} |")

    def geo(ratios: list[float]) -> float:
        return math.exp(sum(math.log(r) for r in ratios) / len(ratios))

    rows.append(f"| **geometric mean** ({len(loop_ratios)}) | | | **{geo(loop_ratios):.3f}** | | | "
                f"**{geo(start_ratios):.3f}** |")
    optimize = runtime.metadata().get("optimize", "plain (built before PGO+LTO)")
    notes = [f"Instructions executed (callgrind), pyperf worker runs (1 value, no warm-up): per loop = (count with "
             f"{1 + EXTRA_LOOPS} loops - count with 1 loop) / {EXTRA_LOOPS}, the work pyperformance times; 1 loop = "
             f"the whole process (start-up, imports, one loop). Runtime: {runtime.python} (CPython "
             f"{runtime.version}, {optimize}). Reference: {label}, {ref}. Ratio = runtime / reference: below 1 the "
             f"runtime executes fewer instructions."]
    return Section(f"callgrind: exxo runtime vs {label}", notes,
                   ("benchmark", "reference per loop", "exxo per loop", "ratio", "reference 1 loop",
                    "exxo 1 loop", "ratio"), rows)
