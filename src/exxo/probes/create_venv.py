"""Probe: make a virtualenv at argv[1] with this interpreter (the runtime), as `python -m venv` would.

The runtime's stdlib is a zip, and `venv.EnvBuilder.setup_scripts` finds the activate scripts with os.walk()
on a directory beside venv/__init__.py, which finds nothing in a zip: the scripts are copied out with
importlib.resources first. Everything else is the stock EnvBuilder, with `python -m venv`'s defaults, except
pip: exxo runs ensurepip itself, so that its output is kept.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import venv
from importlib import resources
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def copy_tree(node: Traversable, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    for child in node.iterdir():
        target = os.path.join(dest, child.name)
        if child.is_dir():
            copy_tree(child, target)
        else:
            with open(target, "wb") as f:
                f.write(child.read_bytes())


class Builder(venv.EnvBuilder):
    def setup_scripts(self, context: SimpleNamespace) -> None:
        here = os.path.join(os.path.dirname(os.path.abspath(venv.__file__)), "scripts")
        if os.path.isdir(here):
            return super().setup_scripts(context)
        tmp = tempfile.mkdtemp(prefix="exxo-venv-scripts-")
        try:
            copy_tree(resources.files("venv") / "scripts", tmp)
            self.install_scripts(context, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def create(env_dir: str) -> None:
    kwargs: dict[str, Any] = {"symlinks": os.name != "nt", "with_pip": False}
    if sys.version_info >= (3, 13):
        kwargs["scm_ignore_files"] = {"git"}
    Builder(**kwargs).create(env_dir)


if __name__ == "__main__":
    create(sys.argv[1])
