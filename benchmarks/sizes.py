"""`--only size` (issue 13): three apps built with exxo (default and `-c`) and with PyInstaller `--onefile`, in
one run: file sizes and start-up side by side, as ratios to PyInstaller's.

Apps (benchmarks/projects/): `bench-hello` prints hello; `bench-flask` imports Flask, gevent, gunicorn and the
examples/flask-gevent modules, then exits; `bench-numpy` imports numpy and solves a 3x3 system. exxo builds
them from one exxo venv (CPython of the current recipe). PyInstaller needs a shared libpython, so it runs in a
venv of the system's /usr/bin/python3 (Debian 12: 3.11) holding PyInstaller and the same projects, with no
extra flags but `--onefile --noconfirm` (and `--collect-submodules gunicorn` for the worker gunicorn imports
by name). Start-up: each binary runs to exit, interleaved round by round; exxo in memfd mode (the default).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from envs import PROJECTS, REPO, bench_root, clean_env, exxo_build, exxo_venv, plain_venv, stage, versions
from timing import Command, Section, measure

from exxo.runtime.bootstrap import Runtime

SYSTEM_PYTHON = "/usr/bin/python3"
APPS = {  # label -> (project dir, module, extra PyInstaller flags)
    "hello": ("bench-hello", "bench_hello", []),
    "Flask+gevent+gunicorn": ("bench-flask", "bench_flask", ["--collect-submodules", "gunicorn"]),
    "numpy app": ("bench-numpy", "bench_numpy", []),
}
GOALS = {"hello": 16, "Flask+gevent+gunicorn": 31, "numpy app": 35}  # MB, issue 13 (default build)
GOALS_C = {"hello": 6, "Flask+gevent+gunicorn": 20, "numpy app": 25}  # MB, issue 13 (-c)
PYI = "PyInstaller --onefile (reference)"


def pyinstaller(env: Path, module: str, out: Path, extra: list[str]) -> Path:
    """`pyinstaller --onefile` of a script calling `module.main()`, into the fresh directory `out`."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    script = out / f"{module}_main.py"
    script.write_text(f"import sys\nfrom {module} import main\nsys.exit(main())\n")
    argv = [str(env / "bin" / "pyinstaller"), "--onefile", "--noconfirm", "--distpath", str(out / "dist"),
            "--workpath", str(out / "build"), "--specpath", str(out), *extra, str(script)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), cwd=out)
    if proc.returncode != 0:
        raise RuntimeError(f"pyinstaller {module} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return out / "dist" / script.stem


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def run(runtime: Runtime, runs: int, upx: str | None) -> Section:
    projects = [PROJECTS / p for p, _, _ in APPS.values()]
    venv = exxo_venv("size-venv", runtime, ["setuptools>=68", REPO / "examples" / "flask-gevent", *projects])
    pyi_env = plain_venv("size-pyinstaller-venv", SYSTEM_PYTHON,
                         ["pyinstaller", REPO / "examples" / "flask-gevent", *projects])
    out = bench_root() / "size-out"
    shutil.rmtree(out, ignore_errors=True)
    home = out / "home"
    home.mkdir(parents=True)
    env = clean_env(HOME=str(home), EXXO_NATIVE="memfd")
    rows: list[str] = []
    notes: list[str] = []
    for label, (project, module, extra) in APPS.items():
        src = stage(PROJECTS / project)
        binaries = {PYI: pyinstaller(pyi_env, module, out / project / "pyinstaller", extra),
                    "exxo": exxo_build(src, venv, out / project / "exxo")}
        if upx:
            binaries["exxo -c"] = exxo_build(src, venv, out / project / "exxo-c", "-c",
                                             env=clean_env(EXXO_UPX=upx))
        commands = {name: Command([str(b)], env, cwd=str(out)) for name, b in binaries.items()}
        medians = measure(commands, runs)
        ref_size, ref_time = binaries[PYI].stat().st_size, medians[PYI]
        for name, binary in binaries.items():
            size = binary.stat().st_size
            goal = (GOALS_C if name == "exxo -c" else GOALS).get(label) if name != PYI else None
            goal_text = f" (goal <= {goal} MB)" if goal else ""
            rows.append(f"| {label} | {name} | {mb(size)}{goal_text}, {size / ref_size:.2f}x | "
                        f"{medians[name] * 1000:.1f} ms, {medians[name] / ref_time:.2f}x |")
    pyi_version = versions(pyi_env / "bin" / "python", ["pyinstaller"])["pyinstaller"]
    py_version = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version.split()[0])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    notes += [
        f"exxo (CPython {runtime.version}, default build and `-c`) next to PyInstaller {pyi_version} `--onefile`",
        f"(CPython {py_version}, the system's: PyInstaller needs a shared libpython), benchmarks/sizes.py. Sizes",
        "are exact; start-up is the median of interleaved runs to exit (exxo in memfd mode), ratios to",
        "PyInstaller's. PyInstaller's onefile unpacks itself into a temp directory at every start; exxo unpacks",
        "nothing." + ("" if upx else " upx was not found: `-c` was not measured."),
    ]
    return Section("Size and start-up next to PyInstaller --onefile", notes,
                   ("app", "built with", "size, ratio to PyInstaller", "start-up, ratio to PyInstaller"), rows)
