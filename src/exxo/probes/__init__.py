"""Programs exxo runs in another interpreter: the venv's (the runtime) or the runtime's own.

Each is a stdlib-only module of this package, also importable here (the tests import them). That interpreter
cannot import the exxo package, and inside a self-hosted exxo binary these files are members of a zip, so a
probe is run as its source text (`python -I -c SOURCE ARGS...`), read with importlib.resources.
"""

from __future__ import annotations

import os
from importlib import resources


def command(python: str | os.PathLike[str], probe: str, *args: str, flags: tuple[str, ...] = ("-I",)) -> list[str]:
    """The argv that runs the probe module `probe` (e.g. "interpreter") with `python`."""
    source = resources.files(__package__).joinpath(f"{probe}.py").read_text(encoding="utf-8")
    return [os.fspath(python), *flags, "-c", source, *args]
