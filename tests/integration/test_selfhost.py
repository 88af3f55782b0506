"""Self-hosting: `make dist` builds exxo with exxo; that one file does the whole workflow on a machine with
no Python at all (a bullseye minbase chroot), offline (pip reads a local wheel directory)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import FIXTURES
from tests.rootfs import bullseye_root, chroot_run

pytestmark = [pytest.mark.runtime, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist_exxo(runtime: object) -> Path:
    proc = subprocess.run(["make", "dist"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return ROOT / "dist" / "exxo"


def test_version(dist_exxo: Path, runtime: object) -> None:
    from exxo import __version__

    proc = subprocess.run([str(dist_exxo), "--version"], capture_output=True, text=True, env={"PATH": "/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(f"exxo {__version__} (runtime: CPython 3.")


def test_whole_workflow_in_a_root_without_python(dist_exxo: Path, tmp_path: Path) -> None:
    root = bullseye_root(tmp_path / "root")
    assert not any((root / "usr" / "bin").glob("python*"))
    shutil.copy2(dist_exxo, root / "exxo")
    shutil.copytree(FIXTURES / "cli-pure", root / "proj")
    wheels = root / "wheels"
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), "setuptools>=68",
                           "wheel"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels",
           "LANG": "C.UTF-8"}
    for argv in (["/exxo", "venv", "/env"], ["/exxo", "build", "-s", "/proj", "--venv", "/env", "-o", "/out/app"]):
        proc = chroot_run(root, argv, env=env, timeout=900)
        assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-3000:])
    proc = chroot_run(root, ["/out/app", "hello"], env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "argv ['/out/app', 'hello']"
