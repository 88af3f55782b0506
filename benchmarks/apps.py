"""`--only apps` (issue 4, and the `-c` figures of issue 3): start-up of apps built with exxo, next to the same
apps run from their venv.

Two apps (benchmarks/projects/): `bench-numpy` imports numpy and solves a 3x3 system; `bench-flask` imports
Flask, gevent, gunicorn's embedding API and gevent worker and examples/flask-gevent's modules, then exits 0.
Both are installed in one exxo venv and built from it. Per app, interleaved: the venv (reference: the venv's
bin/python, i.e. the exxo runtime itself, runs the same entry point, so only the packaging differs), the binary
with EXXO_NATIVE=memfd, the binary with EXXO_NATIVE=cache after one warm-up run (HOME and XDG_CACHE_HOME in a
temp dir), and for the Flask app the binary built with `-c` (upx) in memfd mode.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
from pathlib import Path

from envs import PROJECTS, REPO, bench_root, clean_env, exxo_build, exxo_venv, stage, versions
from timing import Command, Section, measure, ratio_rows, timed

from exxo.runtime.bootstrap import Runtime

APPS = {  # label -> (project dir under benchmarks/projects, module, function)
    "numpy app": ("bench-numpy", "bench_numpy", "main"),
    "Flask+gevent app": ("bench-flask", "bench_flask", "main"),
}
COMPRESSED = "Flask+gevent app"  # the app also built with -c
VENV = "venv (reference)"
MEMFD = "binary, EXXO_NATIVE=memfd"
CACHE = "binary, EXXO_NATIVE=cache (warm)"
UPX = "binary -c (upx), EXXO_NATIVE=memfd"


def find_upx() -> str | None:
    """upx for -c: $EXXO_UPX, upx on PATH, else tools/build-upx.sh (cached); None when none can be had."""
    found = os.environ.get("EXXO_UPX") or shutil.which("upx") or shutil.which("upx-ucl")
    if found:
        return found
    proc = subprocess.run(["bash", str(REPO / "tools" / "build-upx.sh")], capture_output=True, text=True)
    return proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else None


def mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"


FS_LOOP = ("import os, tempfile, time\nf = tempfile.NamedTemporaryFile()\np = f.name\nt = time.perf_counter()\n"
           "for _ in range(100000): os.stat(p)\nfor _ in range(100000): os.close(os.open(p, 0))\n"
           "print(time.perf_counter() - t)")


def fs_outside_rows(binary: Path, python: Path, env: dict[str, str], runs: int) -> list[str]:
    """Paths outside the binary through the mounted file-system view vs the bare runtime (not mounted)."""
    argv = {"bare runtime (reference)": ([str(python), "-I", "-c", FS_LOOP], env),
            "binary (view mounted)": ([str(binary), "-I", "-c", FS_LOOP], env | {"EXXO_PYTHON": "1"})}
    times: dict[str, list[float]] = {name: [] for name in argv}
    for round_ in range(max(5, runs // 4) + 1):  # round 0: warm-up
        for name, (cmd, cmd_env) in argv.items():
            out = subprocess.run(cmd, env=cmd_env, capture_output=True, text=True, check=True).stdout
            if round_:
                times[name].append(float(out.strip().splitlines()[-1]))
    return ratio_rows("stat+open outside (in-process)", {k: statistics.median(v) for k, v in times.items()},
                      "bare runtime (reference)")


def run(runtime: Runtime, runs: int) -> Section:
    venv = exxo_venv("apps-venv", runtime, ["setuptools>=68", REPO / "examples" / "flask-gevent",
                                            *(PROJECTS / p for p, _, _ in APPS.values())])
    python = venv / "bin" / "python"
    if python.resolve() != runtime.python.resolve():
        raise RuntimeError(f"{python} is not the runtime {runtime.python}")
    out = bench_root() / "apps-out"
    shutil.rmtree(out, ignore_errors=True)
    home = out / "home"  # HOME and XDG_CACHE_HOME of every run: the cache mode's cache starts empty
    (home / ".cache").mkdir(mode=0o700, parents=True)
    env = clean_env(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    upx = find_upx()
    rows: list[str] = []
    notes: list[str] = []
    for label, (project, module, func) in APPS.items():
        src = stage(PROJECTS / project)
        binary = exxo_build(src, venv, out / project)
        commands = {
            VENV: Command([str(python), "-c", f"import sys; from {module} import {func}; sys.exit({func}())"], env),
            MEMFD: Command([str(binary)], env | {"EXXO_NATIVE": "memfd"}),
            CACHE: Command([str(binary)], env | {"EXXO_NATIVE": "cache"}),
        }
        notes.append(f"- {label}: binary {mb(binary)}.")
        if label == COMPRESSED and upx:
            packed = exxo_build(src, venv, out / (project + "-c"), "-c", env=clean_env(EXXO_UPX=upx))
            commands[UPX] = Command([str(packed)], env | {"EXXO_NATIVE": "memfd"})
            notes[-1] = (f"- {label}: binary {mb(binary)}; built with `-c` (upx) {mb(packed)}, "
                         f"{packed.stat().st_size / binary.stat().st_size:.2f}x the size.")
        elif label == COMPRESSED:
            notes.append("- upx was not found (EXXO_UPX, PATH, tools/build-upx.sh): `-c` was not measured.")
        for cmd in commands.values():
            cmd.cwd = str(out)
        timed(commands[CACHE])  # the warm-up run that fills the cache
        if not any((home / ".cache" / "exxo").rglob("*.so*")):
            raise RuntimeError(f"EXXO_NATIVE=cache wrote no library under {home / '.cache' / 'exxo'}")
        medians = measure(commands, runs)
        rows += ratio_rows(label, medians, VENV)
        if UPX in medians:
            extra = medians[UPX] - medians[MEMFD]
            notes.append(f"- `-c` start-up cost ({label}, memfd): {extra * 1000:+.1f} ms, "
                         f"{medians[UPX] / medians[MEMFD]:.3f}x the uncompressed binary.")
    rows += fs_outside_rows(binary, python, env, runs)
    notes.append("- `stat+open outside`: 100k os.stat and 100k open+close of a file outside the binary, loop timed "
                 "in-process: the binary (its file-system view mounted; a `sys.executable` child, i.e. the "
                 "interpreter mode) vs the bare runtime. Goal (issue 11): <= 1.02x.")
    notes[:0] = [
        f"Start-up (run to exit) of two apps built with exxo from one exxo venv (CPython {runtime.version}), "
        "benchmarks/apps.py;",
        ", ".join(f"{k} {v}" for k, v in versions(python, ["numpy", "flask", "gevent", "gunicorn"]).items())
        + ". Reference = the same entry point run by the venv's own",
        "bin/python (`python -c 'from app import main; main()'`): that interpreter is the exxo runtime, so only the",
        "packaging differs. `memfd`: extensions and bundled libraries copied into memfds at every start (the default);",
        "`cache (warm)`: loaded from the per-user cache that one earlier run filled. Medians of interleaved runs.",
        "Goal (issue 4): memfd <= 1.2x venv, warm cache <= 1.1x.",
        "",
    ]
    return Section("App start-up (exxo binary vs the same app in its venv)", notes,
                   ("app", "how it runs", "median", "ratio to venv"), rows)
