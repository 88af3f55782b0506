"""The boot code under the host CPython (tests/boot_harness.py emulates the C launcher): a real wheel with a
C extension, the zip-path I/O layer, both native modes. The same code runs inside real binaries in the
integration tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exxo import archive

HARNESS = Path(__file__).resolve().parents[1] / "boot_harness.py"
pytestmark = pytest.mark.network  # markupsafe from PyPI
APP = b'''
import os, sys
def main():
    import markupsafe, markupsafe._speedups
    here = os.path.dirname(__file__)
    print(markupsafe.escape("<a>"))
    print(markupsafe._speedups.__file__.startswith(sys.argv[0] + "/"))
    print(sorted(os.listdir(here)), os.path.isfile(os.path.join(here, "data.txt")))
    print(open(os.path.join(here, "data.txt")).read().strip())
    import importlib.metadata as m
    print(m.version("markupsafe"))  # read from the dist-info inside the binary
    return 3
'''


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("boot")
    site = tmp / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(site), "markupsafe"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    members = [archive.Member(p.relative_to(site).as_posix(), p.read_bytes()) for p in sorted(site.rglob("*"))
               if p.is_file() and "__pycache__" not in p.parts]
    members += [archive.Member("app/__init__.py", APP), archive.Member("app/data.txt", b"payload\n")]
    boot, mods = archive.compile_boot(Path(sys.executable))
    (info,) = site.glob("markupsafe-*.dist-info")
    version = info.name[len("markupsafe-"):-len(".dist-info")]
    out = tmp / "app"
    archive.write_binary(out, Path("/bin/true"), members, {"module": "app", "attr": "main", "name": "app"},
                         "memfd", {"version": "host", "minor": "", "tag": sys.implementation.cache_tag}, boot, mods)
    return out, version


@pytest.mark.parametrize("mode", ["memfd", "cache"])
def test_boot_runs_app(binary: tuple[Path, str], mode: str, tmp_path: Path) -> None:
    path, version = binary
    env = {"EXXO_NATIVE": mode, "XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-I", "-S", str(HARNESS), str(path)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines() == ["&lt;a&gt;", "True", "['__init__.py', 'data.txt'] True", "payload", version]
    assert any(tmp_path.iterdir()) == (mode == "cache")
