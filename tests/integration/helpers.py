"""Build fixture projects with the real exxo and run the binaries the way users do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def exxo(*args: str | os.PathLike[str], cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: int = 1200) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | (env or {})
    return subprocess.run([sys.executable, "-m", "exxo", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=full, timeout=timeout)


def fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target)
    return target


def alone(binary: Path, dest: Path) -> Path:
    """Copy the binary alone into an empty directory."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / binary.name
    shutil.copy2(binary, target)
    return target


def run_clean(binary: Path, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run with `env -i` (plus `env`) from an empty directory."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd or binary.parent)}
    full = base | (env or {})
    return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in full.items()), str(binary), *args],
                          capture_output=True, text=True, cwd=cwd or binary.parent, timeout=timeout)


def parse(stdout: str) -> dict[str, object]:
    import json

    out = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def assert_intact_zip(binary: Path) -> list[str]:
    """The binary is a zip whose every member reads back with its CRC: stored and deflated ones by `zipfile`
    (any zip tool), zstd ones (method 93, which zipfile reads only from Python 3.14) by exxo's own reader.
    Returns the names in central-directory order."""
    import zipfile

    from exxo.archive import Members, read_info

    with zipfile.ZipFile(binary) as zf:
        infos = zf.infolist()
        zstd = [i.filename for i in infos if i.compress_type == 93]
        for info in infos:
            if info.compress_type != 93 and not info.is_dir():
                zf.read(info)  # raises on a CRC mismatch
    with Members(binary, read_info(binary)) as members:
        for name in zstd:
            members.read(name)  # checks size and CRC
    return [i.filename for i in infos]
