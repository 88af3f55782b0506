"""The reference interpreter for benchmarks: the same CPython release built normally (gcc, `./configure &&
make`, no exxo changes), cached under ~/.cache/exxo/bench/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from exxo.common import cache_root
from exxo.runtime import sources


def reference_python(version: str) -> Path:
    src = sources.resolve(version)
    dest = cache_root() / "bench" / f"cpython-{src.version}-gcc"
    python = dest / "bin" / "python3"
    if python.exists():
        return python
    tarball = sources.fetch(src, None, None)
    work = dest.with_name(dest.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sources.extract(tarball, work)
    srcdir = work / f"Python-{src.version}"
    jobs = str(os.cpu_count() or 2)
    subprocess.run(["./configure", f"--prefix={dest}", "--with-ensurepip=no"], cwd=srcdir, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["make", f"-j{jobs}"], cwd=srcdir, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["make", "install"], cwd=srcdir, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)
    return python
