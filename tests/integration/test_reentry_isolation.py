"""A re-entry child (the app running `sys.executable`) is the python of the app's venv, whatever surrounds the
binary: its own stdlib and site-packages, no user site, no compile-time prefix, nothing next to the binary
consulted (a pyvenv.cfg, a ._pth file, a site-packages beside it), PYTHONHOME ignored; PYTHONPATH and
-I/-E as CPython documents them. Every planted file below redirected or shadowed something before the
launcher set the binary as its own home and the runtime's `site` stopped reading a pyvenv.cfg next to it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exxo.archive import Member
from tests.boot_harness import Builder

APP = r'''
import json, subprocess, sys

PROBE = """
import json, site, sys, mypkg
print(json.dumps({"prefix": sys.prefix, "base_prefix": sys.base_prefix, "path": sys.path,
                  "where": mypkg.WHERE, "sitepackages": site.getsitepackages(),
                  "no_user_site": sys.flags.no_user_site, "stdlib": __import__("os").__file__}))
"""


def main():
    r = subprocess.run([sys.executable, *sys.argv[1:], "-c", PROBE], capture_output=True, text=True)
    print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr[-2000:]}))
    return 0
'''


@pytest.fixture(scope="module")
def planted(b: Builder, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The binary at D/bin/app, inside what looks like a venv that somebody else controls."""
    if b.kind != "runtime":
        pytest.fail("needs the real runtime: its launcher and site.py are what is tested (make runtime)")
    root = tmp_path_factory.mktemp("planted")
    sp = f"lib/python{b.minor}/site-packages/"
    members = [Member(sp + "app.py", APP.encode()), Member(sp + "mypkg/__init__.py", b"WHERE = 'bundled'\n")]
    binary = b.build(root / "bin" / "app", members, "app:main")
    # A venv around the binary: site.venv() would make D the prefix and run D's .pth files.
    (root / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\n")
    (root / "bin" / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = true\n")
    beside = root / sp
    beside.mkdir(parents=True)
    (beside / "planted.pth").write_text("import sys; sys.stderr.write('PLANTED-PTH-RAN\\n')\n")
    (beside / "mypkg").mkdir()
    (beside / "mypkg" / "__init__.py").write_text("WHERE = 'beside the binary'\n")
    # A ._pth file replaces sys.path wholesale (getpath reads <executable>._pth).
    (root / "bin" / "app._pth").write_text(str(root / "nowhere") + "\n")
    # A `pip install --user` of the same name.
    user = root / "home" / ".local" / sp
    (user / "mypkg").mkdir(parents=True)
    (user / "mypkg" / "__init__.py").write_text("WHERE = 'user site'\n")
    return binary, root, f"{binary}/{sp.rstrip('/')}"


def child(binary: Path, root: Path, *flags: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(root / "home"), "PYTHONHOME": str(root / "nowhere")}
    proc = subprocess.run([str(binary), *flags], capture_output=True, text=True, env=base | (env or {}),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    outer = json.loads(proc.stdout)
    assert outer["rc"] == 0, outer["err"]
    assert "PLANTED-PTH-RAN" not in outer["err"]
    got: dict[str, Any] = json.loads(outer["out"])
    return got


def test_child_is_the_binarys_python_whatever_is_planted_beside_it(planted: tuple[Path, Path, str]) -> None:
    binary, root, sp = planted
    got = child(binary, root)
    assert got["prefix"] == got["base_prefix"] == str(binary)
    assert got["where"] == "bundled"  # not the user site's, not the planted site-packages'
    assert got["no_user_site"] == 1
    assert str(got["stdlib"]).startswith(str(binary) + "/")  # PYTHONHOME pointed elsewhere
    path: list[str] = got["path"]
    assert not any(p.startswith(str(root)) and not p.startswith(str(binary)) for p in path), path
    assert not any(p.startswith("/opt/exxo") for p in path), path  # the compile-time prefix is gone
    assert sp in path and got["sitepackages"] == [sp]


def test_pythonpath_and_isolation_flags_as_cpython_documents(planted: tuple[Path, Path, str]) -> None:
    binary, root, sp = planted
    extra = root / "extra"
    extra.mkdir(exist_ok=True)
    env = {"PYTHONPATH": str(extra)}
    path = child(binary, root, env=env)["path"]
    assert str(extra) in path and path.index(str(extra)) < path.index(sp)
    for flag in ("-E", "-I"):
        got = child(binary, root, flag, env=env)
        assert str(extra) not in got["path"] and got["where"] == "bundled", (flag, got)
