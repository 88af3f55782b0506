"""`make bench --only pyperformance`: a fixed pyperformance subset on the exxo runtime and a reference interpreter
of the same CPython release, side by side in one run (issue 14).

Reference: the distribution's interpreter of the release when the machine has one (Debian 12's
/usr/bin/python3.11 is 3.11.2, built with PGO and LTO, the speed users compare with), else the plain build of
the same release (`exxo bootstrap --plain`: the runtime's recipe without PGO and LTO), so each version's gain is
on record. Runs alternate between the two interpreters in chunks of benchmarks (which goes first alternates
too), so load from the machine's other work falls on both alike. pyperformance `--fast`; the figure per
benchmark is the ratio of pyperf's medians (time: >1 = the runtime is slower; medians rather than means because
the machine is shared and load spikes skew a mean), summarised by the geometric mean.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from envs import bench_root, clean_env
from timing import Section

from exxo.runtime.bootstrap import Runtime

PYPERFORMANCE = "pyperformance==1.14.0"
# The subset: CPU-bound benchmarks whose dependencies are small pure-Python wheels (sympy, nothing native),
# covering the interpreter loop, floats, regex, json, pickle, decimal, generators, asyncio and the GC. Several
# report more than one result (sympy: 4, scimark: 5, xml_etree: 4, deepcopy: 3, logging: 3).
BENCHMARKS = [
    "chaos", "comprehensions", "coroutines", "deepcopy", "deltablue", "fannkuch", "float", "generators", "go",
    "hexiom", "json_dumps", "json_loads", "logging", "nbody", "nqueens", "pickle_pure_python", "pidigits",
    "pyflate", "raytrace", "regex_compile", "regex_effbot", "regex_v8", "richards", "scimark", "spectral_norm",
    "sqlite_synth", "sympy", "telco", "unpack_sequence", "unpickle_pure_python", "xml_etree",
]
CHUNK = 1  # benchmarks per pyperformance call before switching interpreter (load here changes by the minute)
# Rounds of the whole subset (EXXO_PYPERF_ROUNDS): each round runs every benchmark once on each side, order
# alternating; the medians are taken over the values of all rounds, so a slow minute on one side weighs 1/ROUNDS.
ROUNDS = int(os.environ.get("EXXO_PYPERF_ROUNDS", "1"))


def tool() -> Path:
    """pyperformance in its own venv of the machine's python3 (it only drives; the timed interpreters are
    given with --python and get venvs of their own, made by pyperformance under the work directory)."""
    env = bench_root() / "pyperformance-tool"
    exe = env / "bin" / "pyperformance"
    if not exe.exists():
        subprocess.run(["python3", "-m", "venv", str(env)], check=True, env=clean_env())
        subprocess.run([str(env / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", PYPERFORMANCE],
                       check=True, env=clean_env())
    return exe


def reference_for(runtime: Runtime) -> tuple[str, str]:
    """(label, interpreter) to compare with: the distribution's build of the same release, else the plain one."""
    system = Path(f"/usr/bin/python{runtime.minor}")
    if system.exists():
        version = subprocess.run([str(system), "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        if version == runtime.version:
            return f"distribution {system} (PGO+LTO)", str(system)
    out = subprocess.run([sys.executable, "-m", "exxo", "bootstrap", "--plain", "-p", runtime.version,
                          "--print-path"], capture_output=True, text=True, check=True)
    return "plain exxo runtime (no PGO/LTO)", out.stdout.strip().splitlines()[-1]


def run_chunk(exe: Path, python: str, names: list[str], out: Path, work: Path) -> None:
    # --append: every chunk adds its benchmarks to the interpreter's one results file.
    subprocess.run([str(exe), "run", "--fast", "--python", python, "-b", ",".join(names), "--append", str(out)],
                   check=True, cwd=work, env=clean_env())


def medians(exe: Path, results: list[Path]) -> dict[str, float]:
    """Median seconds per benchmark over the values of pyperf results files (read with pyperf)."""
    code = ("import json, statistics, sys, pyperf\n"
            "values = {}\n"
            "for path in sys.argv[1:]:\n"
            "    for b in pyperf.BenchmarkSuite.load(path).get_benchmarks():\n"
            "        values.setdefault(b.get_name(), []).extend(b.get_values())\n"
            "print(json.dumps({k: statistics.median(v) for k, v in values.items()}))")
    out = subprocess.run([str(exe.with_name("python")), "-c", code, *map(str, results)], capture_output=True,
                         text=True, check=True)
    return {k: float(v) for k, v in json.loads(out.stdout).items()}


def run(runtime: Runtime, benchmarks: list[str] | None = None) -> Section:
    exe = tool()
    label, ref = reference_for(runtime)
    work = bench_root() / f"pyperformance-{runtime.version}"
    work.mkdir(parents=True, exist_ok=True)
    files = {w: [work / f"{w}-{r}.json" for r in range(ROUNDS)] for w in ("runtime", "reference")}
    for f in (*files["runtime"], *files["reference"]):
        f.unlink(missing_ok=True)
    names = benchmarks or BENCHMARKS
    for r in range(ROUNDS):
        for i in range(0, len(names), CHUNK):
            chunk = names[i:i + CHUNK]
            order = [("runtime", str(runtime.python)), ("reference", ref)]
            for which, python in order if (i // CHUNK + r) % 2 == 0 else order[::-1]:
                print(f"bench: pyperformance round {r + 1}/{ROUNDS} {','.join(chunk)} on {which}", file=sys.stderr)
                run_chunk(exe, python, chunk, files[which][r], work)
    mine, theirs = medians(exe, files["runtime"]), medians(exe, files["reference"])
    common = sorted(set(mine) & set(theirs))
    ratios = {name: mine[name] / theirs[name] for name in common}
    rows = [f"| {name} | {theirs[name] * 1000:.2f} ms | {mine[name] * 1000:.2f} ms | {ratios[name]:.3f} |"
            for name in common]
    geo = math.exp(sum(math.log(r) for r in ratios.values()) / len(ratios)) if ratios else float("nan")
    rows.append(f"| **geometric mean** ({len(ratios)} results) | | | **{geo:.3f}** |")
    optimize = runtime.metadata().get("optimize", "plain (built before PGO+LTO)")
    notes = [f"pyperformance 1.14 `--fast`, {len(names)} benchmarks ({len(ratios)} results), run side by side "
             f"(chunks of {CHUNK}, order alternating, {ROUNDS} round(s), medians over all rounds' values) on "
             f"{os.cpu_count()} shared cores.",
             f"Runtime: {runtime.python} (CPython {runtime.version}, {optimize}). Reference: {label}, {ref}.",
             "Ratio = runtime median / reference median (time): below 1 the runtime is faster."]
    return Section(f"pyperformance: exxo runtime vs {label}", notes,
                   ("benchmark", "reference", "exxo runtime", "ratio"), rows)
