"""`make bench --only callgrind`: instruction counts (valgrind's callgrind) of a few pyperformance benchmarks on
the exxo runtime and the same reference as the pyperformance part (benchmarks/pyperf_suite.py).

Counts do not depend on the machine's load, so they cross-check the timings of a shared machine. They do not
see what PGO mostly buys (branch layout, i-cache), so a count ratio near 1 with a timing ratio above it is
possible; a count ratio above 1 is a real difference in the work done. Each benchmark runs once in pyperf's
worker mode (1 loop, 1 value, no warm-up), start-up and imports included (alike on both sides).
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
BENCHMARKS = ["nbody", "float", "spectral_norm", "richards", "json_dumps", "regex_effbot", "pickle_pure_python",
              "chaos"]


def instructions(python: str, script: Path, pyperf_path: str) -> int:
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, str(script),
                           "--worker", "-l", "1", "-n", "1", "-w", "0", "-p", "1"],
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
    rows, ratios = [], []
    for name in BENCHMARKS:
        script = scripts / f"bm_{name}" / "run_benchmark.py"
        theirs, mine = instructions(ref, script, str(site)), instructions(str(runtime.python), script, str(site))
        ratios.append(mine / theirs)
        rows.append(f"| {name} | {theirs / 1e6:,.0f} M | {mine / 1e6:,.0f} M | {mine / theirs:.3f} |")
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    rows.append(f"| **geometric mean** ({len(ratios)}) | | | **{geo:.3f}** |")
    optimize = runtime.metadata().get("optimize", "plain (built before PGO+LTO)")
    notes = [f"Instructions executed (callgrind), one worker run of each benchmark (1 loop, 1 value), start-up "
             f"included. Runtime: {runtime.python} (CPython {runtime.version}, {optimize}). Reference: {label}, "
             f"{ref}. Ratio = runtime / reference: below 1 the runtime executes fewer instructions."]
    return Section(f"callgrind: exxo runtime vs {label}", notes,
                   ("benchmark", "reference", "exxo runtime", "ratio"), rows)
