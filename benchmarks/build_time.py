"""`--only build` (issue 3): `exxo build` of examples/flask-gevent next to PyInstaller `--onefile` building the
same app, interleaved round by round, each build into a fresh output directory.

PyInstaller needs a shared libpython, so it runs in a venv of the system's /usr/bin/python3 (Debian: 3.11 and
libpython3.11.so) holding PyInstaller, the example and its requirements; it gets `--clean` (its cache emptied
before every build, so nothing from an earlier build is reused) and `--noupx`. exxo builds the same example from
an exxo venv holding its requirements and setuptools (the project's build backend, so pip builds it without
an isolated env). exxo keeps the bytecode it compiles in ~/.cache/exxo/pyc: the main exxo row is a second build,
what a user sees on every build after the first; the EXXO_NO_PYC_CACHE=1 row compiles everything, like a first
build. After timing, both outputs must serve the example's page (gunicorn + gevent worker).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from envs import REPO, bench_root, clean_env, exxo_command, exxo_venv, plain_venv, stage, versions
from timing import Command, Section, measure, ratio_rows

from exxo.runtime.bootstrap import Runtime

SYSTEM_PYTHON = "/usr/bin/python3"
NAME = "flask-gevent-demo"
ENTRY_SCRIPT = "import sys\nfrom flask_gevent_demo.server import main\nsys.exit(main())\n"


def fresh(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def serves(binary: Path) -> str | None:
    """Run the built example on a free port with one worker; None when GET / shows the page, else why not."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = binary.with_name("serve.log")
    with open(log, "wb") as f:
        proc = subprocess.Popen([str(binary), "--bind", f"127.0.0.1:{port}", "--workers", "1"], stdout=f,
                                stderr=subprocess.STDOUT, cwd=binary.parent, env=clean_env())
    try:
        page = ""
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    page = resp.read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        return None if 'id="ip">127.0.0.1<' in page else f"no page; log:\n{log.read_text()[-2000:]}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(runtime: Runtime, runs: int) -> Section:
    example = REPO / "examples" / "flask-gevent"
    exxo_env = exxo_venv("build-exxo-venv", runtime, ["setuptools>=68", example])
    pyi_env = plain_venv("build-pyinstaller-venv", SYSTEM_PYTHON, ["pyinstaller", example])
    src = stage(example)  # exxo builds this copy (pip writes build/ into the tree it builds)
    out = bench_root() / "build-out"
    fresh(out)
    script = out / f"{NAME}.py"  # PyInstaller's input: a script calling the example's console-script function
    script.write_text(ENTRY_SCRIPT)
    pyi_out, exxo_out, cold_out = out / "pyinstaller", out / "exxo", out / "exxo-no-pyc-cache"
    pyi_argv = [str(pyi_env / "bin" / "pyinstaller"), "--onefile", "--clean", "--noconfirm", "--noupx",
                "--log-level", "WARN", "--name", NAME, "--distpath", str(pyi_out / "dist"),
                "--workpath", str(pyi_out / "work"), "--specpath", str(pyi_out),
                "--collect-data", "flask_gevent_demo",  # templates/ and static/ (package data)
                "--hidden-import", "gunicorn.workers.ggevent",  # gunicorn imports its worker class by name
                "--hidden-import", "gunicorn.glogging",
                str(script)]

    def exxo_argv(dest: Path) -> list[str]:
        return [*exxo_command(), "build", "-s", str(src), "--venv", str(exxo_env), "-o", str(dest)]

    pyi_version = versions(pyi_env / "bin" / "python", ["pyinstaller"])["pyinstaller"]
    sys_version = subprocess.run([SYSTEM_PYTHON, "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    pyi = f"PyInstaller {pyi_version} --onefile --clean (reference)"
    warm = "exxo build (second build: pyc cache warm)"
    cold = "exxo build, EXXO_NO_PYC_CACHE=1 (compiles every pyc)"
    commands = {
        pyi: Command(pyi_argv, clean_env(), str(out), lambda: fresh(pyi_out)),
        warm: Command(exxo_argv(exxo_out), clean_env(), str(out), lambda: fresh(exxo_out)),
        cold: Command(exxo_argv(cold_out), clean_env(EXXO_NO_PYC_CACHE="1"), str(out), lambda: fresh(cold_out)),
    }
    medians = measure(commands, runs)  # the warm-up round is each tool's first build
    outputs = {pyi: pyi_out / "dist" / NAME, warm: exxo_out / NAME, cold: cold_out / NAME}
    for name, binary in outputs.items():
        why = serves(binary)
        if why:
            raise RuntimeError(f"the output of {name} ({binary}) does not serve the example: {why}")
    sizes = {"PyInstaller": outputs[pyi], "exxo": outputs[warm]}
    size = ", ".join(f"{k} {v.stat().st_size / 1e6:.1f} MB" for k, v in sizes.items())
    notes = [
        f"`exxo build -s examples/flask-gevent` (exxo venv, CPython {runtime.version}) next to PyInstaller",
        f"{pyi_version} `--onefile` building the same app (venv of the system's CPython {sys_version}),",
        "benchmarks/build_time.py: one warm-up round, then interleaved rounds into fresh output directories; medians.",
        "`--clean` empties PyInstaller's cache before every build (`--noupx` too), so it reuses nothing. exxo's main",
        "row is a second build, its pyc cache warm (what every build after the first sees); the",
        "EXXO_NO_PYC_CACHE=1 row compiles all bytecode, like a first build. Every output was checked to serve the",
        f"example's page. Output sizes: {size}. Goal (issue 3): exxo <= 1/5 of PyInstaller's time.",
    ]
    return Section("Build time (exxo build vs PyInstaller --onefile)", notes,
                   ("build", "tool", "median", "ratio to PyInstaller"),
                   ratio_rows(f"`{NAME}` example", medians, pyi, lambda sec: f"{sec:.2f} s"))
