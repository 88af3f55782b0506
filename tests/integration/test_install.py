"""exxo as a Python package: a wheel built by `python -m build` installs an `exxo` command and `python -m exxo`,
with the launcher source and the runtime recipe data inside and the metadata right."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from exxo import __version__

pytestmark = [pytest.mark.slow, pytest.mark.network]  # the build backend and exxo's dependencies from PyPI
ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_a_working_exxo(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy of the working tree: the build must not write into the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "dist", "build", "*.egg-info",
                                                             "__pycache__", ".*_cache"))
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(src)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("exxo-*.whl"))

    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("exxo/launcher/main.c", "exxo/runtime/modules.toml", "exxo/_boot/__init__.py",
                   "exxo/_boot/zipio.py", "exxo/py.typed", f"exxo-{__version__}.dist-info/licenses/LICENSE",
                   "exxo/probes/interpreter.py", "exxo/probes/compile.py", "exxo/probes/create_venv.py"):
        assert needed in names, needed
    meta = email.parser.Parser().parsestr(
        zipfile.ZipFile(wheel).read(f"exxo-{__version__}.dist-info/METADATA").decode())
    assert meta["Name"] == "exxo" and meta["Version"] == __version__
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    assert "Operating System :: POSIX :: Linux" in meta.get_all("Classifier")
    assert any(r.startswith("ziglang") for r in meta.get_all("Requires-Dist"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    for argv in ([str(venv / "bin" / "exxo"), "--version"], [str(venv / "bin" / "python"), "-m", "exxo", "--version"]):
        out = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith(f"exxo {__version__}"), out.stdout
    # The installed package finds its data (the launcher source is read when a runtime is built, the probes'
    # sources when a venv's interpreter is asked its facts).
    code = ("from exxo.runtime.cpython import launcher_source; print(len(launcher_source()) > 1000)\n"
            "from exxo import collect; print(collect.interpreter_facts(__import__('pathlib').Path(__import__('sys')"
            ".executable))['tag'])")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert probe.stdout.split() == ["True", sys.implementation.cache_tag], probe.stderr
