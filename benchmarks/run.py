"""`make bench`: start-up and micro timings of the exxo runtime next to their references, in one run.

Every figure is a ratio of medians measured side by side (commands interleaved, so machine noise hits both
alike). Results are printed and written to benchmarks/results.md with the date and the machine.

    python benchmarks/run.py [--runs N] [--only startup,micro,apps]
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
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from reference import reference_python  # noqa: E402

from exxo.runtime.bootstrap import Runtime, ensure_runtime  # noqa: E402

MICRO = {
    "json": "import json\nd={'a':[1,2.5,None,'x'*20]*50}\nfor _ in range(300): json.loads(json.dumps(d))",
    "regex": "import re\np=re.compile(r'(\\w+)@(\\w+)\\.com')\ns='mail bob@example.com and ann@test.com '*200\n"
             "for _ in range(200): p.findall(s)",
    "unpickle": "import pickle\nb=pickle.dumps([{'k%d'%i: (i, str(i), float(i))} for i in range(2000)])\n"
                "for _ in range(50): pickle.loads(b)",
    "sqlite": "import sqlite3\nc=sqlite3.connect(':memory:')\nc.execute('create table t(a,b)')\n"
              "c.executemany('insert into t values(?,?)', ((i, str(i)) for i in range(20000)))\n"
              "for _ in range(20): c.execute('select sum(a), count(b) from t where a % 3 = 0').fetchone()",
    "math": "import math\ns=0.0\nfor i in range(1, 200000): s += math.log2(i) * math.sin(i)",
}


def timed(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def compare(label: str, commands: dict[str, list[str]], runs: int, reference: str) -> list[str]:
    """Interleave the commands `runs` times; return report lines with medians and ratios to `reference`."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm-up (page cache)
        timed(argv)
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(timed(argv))
    ref = statistics.median(times[reference])
    lines = []
    for name in commands:
        med = statistics.median(times[name])
        lines.append(f"| {label} | {name} | {med * 1000:.1f} ms | {med / ref:.3f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--only", default="startup,micro")
    parser.add_argument("--runtime", type=Path, help="runtime directory to measure (default: the current recipe's)")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if args.runtime:
        runtime = Runtime(args.runtime, json.loads((args.runtime / "runtime.json").read_text())["python_version"])
    else:
        runtime = ensure_runtime(os.environ.get("PYVER", "3.13"))
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
        for name, code in MICRO.items():
            rows += compare(f"micro `{name}`", {"gcc build (reference)": [ref_py, "-I", "-c", code],
                                                "exxo runtime": [exxo_py, "-I", "-c", code]},
                            max(5, args.runs // 4), "gcc build (reference)")
    header = [
        f"# Benchmarks ({datetime.date.today().isoformat()}, {platform.node()}, {os.cpu_count()} cores, "
        f"CPython {runtime.version})",
        "",
        "Ratios are medians of interleaved runs; reference = the same CPython release built by `./configure && make`",
        "with the machine's gcc (benchmarks/reference.py).",
        "",
        "| benchmark | interpreter | median | ratio to reference |",
        "|---|---|---|---|",
    ]
    text = "\n".join(header + rows) + "\n"
    print(text)
    (HERE / "results.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
