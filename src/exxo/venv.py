"""`exxo venv ENVDIR [-p 3.13] [--clear]`: a standard virtualenv whose interpreter is the exxo runtime.

The venv is made by the runtime's own `venv` module (probes/create_venv.py), so it is exactly what
`python -m venv` makes (symlinked interpreter, `bin/activate*`, pip from ensurepip), plus three keys in
pyvenv.cfg that `exxo build` checks:

    exxo = <exxo version>            the venv was made by exxo (this is what `is_exxo_venv` looks for)
    exxo-python = <full version>     the runtime's CPython release
    exxo-runtime = <runtime dir>
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exxo import __version__, probes
from exxo.common import TAIL_CHARS, run_captured
from exxo.errors import BuildError, InputError

if TYPE_CHECKING:
    from exxo.runtime.bootstrap import Runtime

DEFAULT_PYTHON = "3.13"
PYPI_PIP = "https://pypi.org/pypi/pip/json"


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
        epilog="examples:\n"
               "  exxo venv /tmp/env && . /tmp/env/bin/activate && pip install -e .\n"
               "  exxo venv .venv-exxo -p 3.13 --clear",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("envdir", type=Path)
    p.add_argument("-p", "--python", metavar="VERSION",
                   help="CPython version of the runtime (default: [tool.exxo] python in ./pyproject.toml, "
                        f"else {DEFAULT_PYTHON})")
    p.add_argument("--clear", action="store_true", help="delete ENVDIR first if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    env = args.envdir.absolute()
    version = args.python
    if version is None:
        from exxo.project import read_config

        version = read_config(Path.cwd()).get("python", DEFAULT_PYTHON)
    if _existing(env, version, args.clear):
        return 0
    from exxo.errors import check_writable_dir

    check_writable_dir(env if env.is_dir() else env.parent, f"the venv {env}")  # before a bootstrap of minutes
    from exxo.runtime.bootstrap import ensure_runtime

    runtime = ensure_runtime(version)
    create(env, runtime, args.clear)
    print(f"exxo: venv ready: {env} (CPython {runtime.version}, exxo runtime)\n"
          f"  activate it: . {env}/bin/activate")
    return 0


def _existing(env: Path, version: str, clear: bool) -> bool:
    """True when ENVDIR already is the venv asked for; InputError when it is something else.

    Checked before the runtime is looked up, so a wrong ENVDIR is refused at once, never after a bootstrap.
    --clear empties ENVDIR as `python -m venv --clear` does, but never a directory that holds the current
    directory or the home directory (a mistyped `exxo venv . --clear`).
    """
    if not (env.exists() or env.is_symlink()) or (env.is_dir() and not any(env.iterdir())):
        return False
    if not env.is_dir():
        raise InputError(f"{env} already exists and is not a directory", hint="choose another ENVDIR")
    if clear:
        _check_clearable(env)
        return False
    cfg = read_cfg(env)
    if not cfg:
        raise InputError(f"{env} already exists: a non-empty directory, not a virtualenv",
                         hint=f"choose another ENVDIR, or delete what is in it: exxo venv {env} --clear")
    recorded = cfg.get("exxo-python", "")
    same = recorded == version or recorded.startswith(version + ".")  # -p 3.13 matches a 3.13.x venv
    if same and venv_python(env).exists():
        print(f"exxo: {env} is already an exxo venv for CPython {recorded}; nothing to do")
        return True
    if same:
        what = f"an exxo venv whose runtime is gone ({cfg.get('exxo-runtime', '?')})"
    elif recorded:
        what = f"an exxo venv for CPython {recorded}, not {version}"
    else:
        what = "a virtualenv not made by exxo"
    raise InputError(f"{env} already exists and is {what}",
                     hint=f"choose another directory, or replace it: exxo venv {env} -p {version} --clear")


def _check_clearable(env: Path) -> None:
    real = env.resolve()
    for precious in (Path.cwd().resolve(), Path.home().resolve()):
        if precious == real or real in precious.parents:
            raise InputError(f"refusing to --clear {env}: it holds {precious}", hint="choose another ENVDIR")


def create(env: Path, runtime: Runtime, clear: bool = False) -> Path:
    """Make the venv at `env` with `runtime` (removing what is there first when `clear`)."""
    env = env.absolute()
    if clear and env.is_dir():
        _check_clearable(env)
        for child in env.iterdir():  # the contents, not ENVDIR itself (it may be a symlink or a mount point)
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    run_captured(probes.command(runtime.python, "create_venv", str(env)),
                 f"creating the venv {env} with {runtime.python}",
                 hint=f"fix what the message says, then: exxo venv {env} --clear")
    # ensurepip finds its wheel wherever this runtime keeps it (in the stdlib zip, or beside the binary);
    # a runtime without one (built by hand, or trimmed) gets pip from PyPI instead.
    pip = subprocess.run([str(venv_python(env)), "-m", "ensurepip", "--upgrade", "--default-pip"],
                         capture_output=True, text=True)
    if pip.returncode != 0:
        why = (pip.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"exxo: ensurepip could not install pip ({why}); getting pip from PyPI", file=sys.stderr)
        install_pip_from_pypi(venv_python(env), ensurepip_output=pip.stdout + pip.stderr)
    with open(env / "pyvenv.cfg", "a") as f:
        f.write(f"exxo = {__version__}\nexxo-python = {runtime.version}\nexxo-runtime = {runtime.dir}\n")
    return env


def install_pip_from_pypi(python: Path, ensurepip_output: str = "") -> None:
    """Download pip's newest wheel from PyPI (sha256 checked) and let it install itself into the venv."""
    try:
        with urllib.request.urlopen(PYPI_PIP, timeout=60) as resp:
            release: dict[str, Any] = json.load(resp)
        wheel = next(u for u in release["urls"] if u["filename"].endswith("-py3-none-any.whl"))
        # urljoin: a PyPI mirror may answer with relative URLs
        with urllib.request.urlopen(urllib.parse.urljoin(PYPI_PIP, wheel["url"]), timeout=120) as resp:
            data = resp.read()
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise BuildError(f"ensurepip failed and pip could not be downloaded from PyPI: {exc}",
                         log_tail=ensurepip_output[-TAIL_CHARS:],
                         hint="check the network (or proxy variables), then: exxo venv ENVDIR --clear") from exc
    if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
        raise BuildError(f"{wheel['filename']} from PyPI does not match its published sha256",
                         hint="retry; if it persists, something between you and PyPI alters downloads")
    with tempfile.TemporaryDirectory(prefix="exxo-pip-") as tmp:
        path = Path(tmp) / wheel["filename"]
        path.write_bytes(data)
        # A pip wheel runs from its own path (what get-pip.py does).
        run_captured([python, f"{path}/pip", "install", "--no-index", "--no-input", "--disable-pip-version-check",
                      "-q", path], "installing pip into the venv")
    print(f"exxo: pip {release['info']['version']} installed from PyPI", file=sys.stderr)
