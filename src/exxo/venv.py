"""`exxo venv ENVDIR [-p 3.13] [--clear]`: a standard virtualenv whose interpreter is the exxo runtime."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from exxo import __version__
from exxo.errors import BuildError, InputError


def read_cfg(env: Path) -> dict[str, str]:
    cfg = env / "pyvenv.cfg"
    out: dict[str, str] = {}
    if not cfg.is_file():
        return out
    for line in cfg.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def is_exxo_venv(env: Path) -> bool:
    return "exxo" in read_cfg(env)


def venv_python(env: Path) -> Path:
    return env / "bin" / "python"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "venv", help="create a virtualenv whose interpreter is the exxo runtime",
        description="Create a standard virtual environment (pip included) whose interpreter is the exxo runtime "
        "for that Python version, building the runtime first if needed.",
        epilog="examples:\n  exxo venv /tmp/env\n  exxo venv .venv-exxo -p 3.13 --clear",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("envdir", type=Path)
    p.add_argument("-p", "--python", default="3.13", metavar="VERSION")
    p.add_argument("--clear", action="store_true", help="delete ENVDIR's contents first")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    create(args.envdir, args.python, args.clear)
    print(f"exxo: venv ready: {args.envdir}\n  activate it: . {args.envdir}/bin/activate")
    return 0


def create(env: Path, version: str = "3.13", clear: bool = False) -> Path:
    from exxo.runtime.bootstrap import ensure_runtime

    runtime = ensure_runtime(version)
    env = env.absolute()
    if env.exists() and any(env.iterdir()) and not clear:
        cfg = read_cfg(env)
        if cfg.get("exxo-python") == runtime.version and venv_python(env).exists():
            print(f"exxo: {env} is already an exxo venv for CPython {runtime.version}")
            return env
        what = "an exxo venv for CPython " + cfg["exxo-python"] if "exxo-python" in cfg else \
            ("a virtualenv not made by exxo" if cfg else "a non-empty directory")
        raise InputError(f"{env} already exists and is {what}",
                         hint=f"choose another directory, or replace it: exxo venv {env} -p {version} --clear")
    if clear and env.exists():
        shutil.rmtree(env)
    proc = subprocess.run([str(runtime.python), "-m", "venv", str(env)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"creating the venv {env} failed", log_tail=(proc.stdout + proc.stderr)[-3000:])
    with open(env / "pyvenv.cfg", "a") as f:
        f.write(f"exxo = {__version__}\nexxo-python = {runtime.version}\nexxo-runtime = {runtime.dir}\n")
    return env
