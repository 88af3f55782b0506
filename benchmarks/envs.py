"""Set-up for the app and build benchmarks, cached under ~/.cache/exxo/bench/ and never timed: venvs with their
pip installs are made once and reused while their inputs (runtime, requirements, local project sources) match."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from exxo.common import cache_root
from exxo.runtime.bootstrap import Runtime

REPO = Path(__file__).resolve().parent.parent
PROJECTS = Path(__file__).resolve().parent / "projects"
BUILD_JUNK = ("build", "dist", "*.egg-info", "__pycache__")


def bench_root() -> Path:
    return cache_root() / "bench"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would change how a venv or a binary runs."""
    drop = ("VIRTUAL_ENV", "EXXO_NATIVE", "EXXO_PYTHON", "EXXO_NO_PYC_CACHE")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTHON")}
    return env | extra


def tree_hash(src: Path) -> str:
    h = hashlib.sha256()
    junk = shutil.ignore_patterns(*BUILD_JUNK)
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(set(dirs) - junk(root, dirs))
        for name in sorted(set(files) - junk(root, files)):
            path = Path(root, name)
            h.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def stage(src: Path) -> Path:
    """A fresh copy of the project SRC under bench/src/: pip builds in the tree, so the repo stays clean."""
    dest = bench_root() / "src" / src.name
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(*BUILD_JUNK))
    return dest


def _cached_venv(name: str, key: dict[str, str], make: Callable[[Path], object],
                 requirements: Sequence[str | Path]) -> Path:
    env = bench_root() / name
    stamp = env / "bench-stamp.json"
    key = key | {"requirements": json.dumps([str(r) for r in requirements])}
    key |= {str(r): tree_hash(r) for r in requirements if isinstance(r, Path)}
    want = json.dumps(key, sort_keys=True, indent=1)
    if stamp.is_file() and stamp.read_text() == want and (env / "bin" / "python").exists():
        return env
    print(f"bench: setting up {env}", file=sys.stderr)
    shutil.rmtree(env, ignore_errors=True)
    env.parent.mkdir(parents=True, exist_ok=True)
    make(env)
    args = [str(stage(r)) if isinstance(r, Path) else r for r in requirements]
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                   check=True, env=clean_env())
    stamp.write_text(want)
    return env


def exxo_venv(name: str, runtime: Runtime, requirements: Sequence[str | Path]) -> Path:
    """An exxo venv (its interpreter: `runtime`) with `requirements` (PyPI names or local project dirs)."""
    from exxo import __version__
    from exxo.venv import create

    return _cached_venv(name, {"runtime": str(runtime.dir), "exxo": __version__},
                        lambda env: create(env, runtime), requirements)


def plain_venv(name: str, python: str, requirements: Sequence[str | Path]) -> Path:
    """A venv of an ordinary interpreter (e.g. the system's /usr/bin/python3) with `requirements`."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True,
                             check=True).stdout.strip()

    def make(env: Path) -> None:
        subprocess.run([python, "-m", "venv", str(env)], check=True, env=clean_env())

    return _cached_venv(name, {"python": python, "version": version}, make, requirements)


def versions(python: Path, dists: Sequence[str]) -> dict[str, str]:
    """Installed versions of `dists` in the environment of `python`."""
    code = "import json, sys, importlib.metadata as m; print(json.dumps({d: m.version(d) for d in sys.argv[1:]}))"
    out = subprocess.run([str(python), "-c", code, *dists], capture_output=True, text=True, check=True, env=clean_env())
    return dict(json.loads(out.stdout))


def exxo_command() -> list[str]:
    """`exxo` as a user runs it: this venv's console script (else `python -m exxo`)."""
    script = Path(sys.executable).with_name("exxo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "exxo"]


def exxo_build(src: Path, venv: Path, out_dir: Path, *extra: str, env: dict[str, str] | None = None) -> Path:
    """Build SRC from VENV into the (new, empty) OUT_DIR; the binary's path."""
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    proc = subprocess.run([*exxo_command(), "build", "-s", str(src), "--venv", str(venv), "-o", str(out_dir), *extra],
                          capture_output=True, text=True, env=env or clean_env())
    if proc.returncode != 0:
        raise RuntimeError(f"exxo build -s {src} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    (binary,) = out_dir.iterdir()
    return binary
