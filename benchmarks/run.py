"""`make bench`: start-up and micro timings of the exxo runtime next to their references, in one run.

Every figure is a ratio of medians measured side by side (commands interleaved, so machine noise hits both
alike). Results are printed and written to benchmarks/results.md (or --out) with the date and the machine.

    python benchmarks/run.py [--runs N] [--only startup,micro,pyperformance,callgrind,apps,build,size] [--out FILE]

Parts: `startup` and `micro` (the runtime next to a gcc build of the same CPython), `apps` (start-up of built
apps next to their venv: benchmarks/apps.py), `build` (exxo build next to PyInstaller: benchmarks/build_time.py),
`pyperformance` (a fixed pyperformance subset next to the distribution's PGO+LTO interpreter of the same release,
else the plain runtime build: benchmarks/pyperf_suite.py; PYVER=3.11 make bench compares with /usr/bin/python3.11),
`callgrind` (instruction counts of a few of them against the same reference, load-independent: callgrind_suite.py),
`size` (binary sizes and start-up next to PyInstaller --onefile: benchmarks/sizes.py).
Set-up (reference interpreter, venvs, pip installs) is cached under ~/.cache/exxo/bench/ and never timed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import apps  # noqa: E402
import build_time  # noqa: E402
import callgrind_suite  # noqa: E402
import pyperf_suite  # noqa: E402
import sizes  # noqa: E402
from reference import reference_python  # noqa: E402
from timing import Section, compare, ratio_rows  # noqa: E402

from exxo.runtime.bootstrap import Runtime, ensure_runtime  # noqa: E402

# (set-up, timed loop): the child times the loop itself (pyperformance-style), so the figure is the
# interpreter's speed, not its start-up and imports (those are the start-up rows and the `apps` part).
MICRO = {
    "json": ("import json\nd={'a':[1,2.5,None,'x'*20]*50}",
             "for _ in range(2000): json.loads(json.dumps(d))"),
    "regex": ("import re\np=re.compile(r'(\\w+)@(\\w+)\\.com')\ns='mail bob@example.com and ann@test.com '*200",
              "for _ in range(1000): p.findall(s)"),
    "unpickle": ("import pickle\nb=pickle.dumps([{'k%d'%i: (i, str(i), float(i))} for i in range(2000)])",
                 "for _ in range(200): pickle.loads(b)"),
    "sqlite": ("import sqlite3\nc=sqlite3.connect(':memory:')\nc.execute('create table t(a,b)')",
               "c.executemany('insert into t values(?,?)', ((i, str(i)) for i in range(100000)))\n"
               "for _ in range(50): c.execute('select sum(a), count(b) from t where a % 3 = 0').fetchone()"),
    "math": ("import math", "s=0.0\nfor i in range(1, 1000000): s += math.log2(i) * math.sin(i)"),
    "pure-python": ("def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)", "fib(28)"),
    # Paths outside the binary through the launcher's file-system view (one prefix compare, then glibc or the
    # kernel): 100k os.stat and 100k open+close of a real file.
    "stat+open outside": ("import os, tempfile\nf=tempfile.NamedTemporaryFile()\np=f.name",
                          "for _ in range(100000): os.stat(p)\nfor _ in range(100000): os.close(os.open(p, 0))"),
}


def micro_code(setup: str, loop: str) -> str:
    body = "\n".join("    " + line for line in loop.splitlines())
    return f"{setup}\nimport time\ndef _loop():\n{body}\nt = time.perf_counter()\n_loop()\n" \
           "print(time.perf_counter() - t)"


def measure_inprocess(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median of the loop times the children report, children interleaved round by round."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):  # round 0: warm-up
        for name, argv in commands.items():
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            if round_:
                times[name].append(float(out.strip().splitlines()[-1]))
    return {name: statistics.median(t) for name, t in times.items()}


PARTS = ("startup", "micro", "pyperformance", "callgrind", "apps", "build", "size")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40, help="rounds of start-up timings (builds: runs/8, >= 3)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts ({','.join(PARTS)})")
    parser.add_argument("--runtime", type=Path, help="runtime directory to measure (default: the current recipe's)")
    parser.add_argument("--benchmarks", help="pyperformance benchmarks to run (default: the fixed subset)")
    parser.add_argument("--out", type=Path, default=HERE / "results.md", help="markdown file (default: %(default)s)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown part(s): {', '.join(sorted(parts - set(PARTS)))}")
    if args.runtime:
        runtime = Runtime(args.runtime, json.loads((args.runtime / "runtime.json").read_text())["python_version"])
    else:
        runtime = ensure_runtime(os.environ.get("PYVER", "3.13"))
    sections: list[Section] = []
    if parts & {"startup", "micro"}:
        ref = reference_python(runtime.version)
        exxo_py, ref_py = str(runtime.python), str(ref)
        rows: list[str] = []
        if "startup" in parts:
            rows += compare("start-up `-I -S -c pass`", {"gcc build (reference)": [ref_py, "-I", "-S", "-c", "pass"],
                                                         "exxo runtime": [exxo_py, "-I", "-S", "-c", "pass"]},
                            args.runs, "gcc build (reference)")
            rows += compare("start-up `-I -c pass`", {"gcc build (reference)": [ref_py, "-I", "-c", "pass"],
                                                      "exxo runtime": [exxo_py, "-I", "-c", "pass"]},
                            args.runs, "gcc build (reference)")
        if "micro" in parts:
            for name, (setup, loop) in MICRO.items():
                code = micro_code(setup, loop)
                medians = measure_inprocess({"gcc build (reference)": [ref_py, "-I", "-c", code],
                                             "exxo runtime": [exxo_py, "-I", "-c", code]}, max(5, args.runs // 4))
                rows += ratio_rows(f"micro `{name}` (in-process)", medians, "gcc build (reference)")
        notes = ["Ratios are medians of interleaved runs; reference = the same CPython release built by",
                 "`./configure && make` with the machine's gcc (benchmarks/reference.py). Start-up rows time the",
                 "whole process; micro rows time the benchmark loop inside the process (what pyperformance does)."]
        built = json.loads((runtime.dir / "runtime.json").read_text()).get("build_seconds")
        if built:  # recorded by `exxo bootstrap` (runtimes built before it was recorded have none)
            notes.append(f"Bootstrap of this runtime: {built['total']} s wall time with -j{built['jobs']}, of which "
                         f"third-party libraries {built['libraries']} s (about 0 when they came from the cache).")
        sections.append(Section("Runtime: start-up and micro timings (exxo runtime vs a gcc build)", notes,
                                ("benchmark", "interpreter", "median", "ratio to reference"), rows))
    if "pyperformance" in parts:
        sections.append(pyperf_suite.run(runtime, args.benchmarks.split(",") if args.benchmarks else None))
    if "callgrind" in parts:
        sections.append(callgrind_suite.run(runtime))
    if "apps" in parts:
        sections.append(apps.run(runtime, args.runs))
    if "build" in parts:
        sections.append(build_time.run(runtime, max(3, args.runs // 8)))
    if "size" in parts:
        sections.append(sizes.run(runtime, max(5, args.runs // 2), apps.find_upx()))
    lines = [f"# Benchmarks ({datetime.date.today().isoformat()}, {platform.node()}, {os.cpu_count()} cores, "
             f"CPython {runtime.version})", ""]
    for section in sections:
        lines += section.markdown()
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
