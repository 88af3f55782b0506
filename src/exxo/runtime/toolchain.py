"""The toolchain seam: what compiles the runtime and its libraries.

Today: zig cc (PyPI `ziglang`, pinned in pyproject.toml) targeting x86_64-linux-gnu.2.17, so the runtime
needs GLIBC_2.17 at most whatever machine builds it. Another toolchain (an old sysroot + gcc) would be
another function returning a `Toolchain`.

zig traps handled here:
- zig links its whole compiler_rt object as soon as one helper (`__udivti3`, 128-bit division in libmpdec)
  is needed, and compiler_rt's weak `log2`/`log`/`memcpy`... then beat glibc's: `math.log2(2.0**-1065)`
  came out -1064.9999999999998. gcc's `libgcc.a` on the link line provides the helpers first, so compiler_rt
  is not pulled in and libm's functions are used (checked by the validator and test_math).
- zig searches neither /usr/include nor /usr/lib, but configure scripts find system libraries through
  pkg-config: PKG_CONFIG_LIBDIR points at an empty directory so nothing of the build machine leaks in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from exxo.errors import BuildError
from exxo.progress import Reporter

TARGET = "x86_64-linux-gnu.2.17"
# Baseline x86-64 (zig's `-mcpu=x86_64`, in the wrappers so it never reaches sysconfig, where gcc would
# reject zig's spelling): no AVX requirement (builds for newer levels crash on older CPUs).
CPU = "x86_64"
CFLAGS = "-O2 -fPIC"


@dataclass(frozen=True)
class Toolchain:
    name: str
    target_glibc: str
    wrapper_dir: Path
    libgcc: Path

    def env(self) -> dict[str, str]:
        # No CXX: nothing in the runtime is C++, and configure scripts that merely probe for a C++ compiler
        # would make zig build its libc++ (10 minutes on 2 cores); they find the system's g++ instead.
        empty = self.wrapper_dir / "no-pkgconfig"
        empty.mkdir(exist_ok=True)
        return {
            "CC": str(self.wrapper_dir / "cc"),
            "AR": str(self.wrapper_dir / "ar"),
            "RANLIB": str(self.wrapper_dir / "ranlib"),
            "CFLAGS": CFLAGS,
            "PKG_CONFIG_LIBDIR": str(empty),
            "PKG_CONFIG_PATH": "",
            # zig's cache; created on first use (its glibc stubs take ~20 s once).
            "ZIG_GLOBAL_CACHE_DIR": os.environ.get("ZIG_GLOBAL_CACHE_DIR", str(Path.home() / ".cache" / "zig")),
        }

    def link_libs(self) -> list[str]:
        return [str(self.libgcc)]


def _libgcc() -> Path:
    try:
        out = subprocess.run(["gcc", "-print-libgcc-file-name"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError("gcc's libgcc.a is needed to link the runtime (zig's compiler_rt shadows libm)",
                         hint="install it with:\n  apt-get install build-essential") from exc
    path = Path(out.stdout.strip())
    if not path.is_file():
        raise BuildError(f"libgcc.a not found ({path})", hint="install it with:\n  apt-get install build-essential")
    return path


def zig_toolchain(workdir: Path, reporter: Reporter | None = None) -> Toolchain:
    """Write cc/c++/ar/ranlib wrappers around `python -m ziglang` into workdir."""
    try:
        import ziglang  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        raise BuildError("the zig toolchain (PyPI package ziglang) is not installed",
                         hint="pip install 'ziglang==0.17.1' (a dependency of exxo)") from exc
    workdir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    tools = {
        "cc": f'exec "{python}" -m ziglang cc -target {TARGET} -mcpu={CPU} "$@"',
        "c++": f'exec "{python}" -m ziglang c++ -target {TARGET} -mcpu={CPU} "$@"',
        "ar": f'exec "{python}" -m ziglang ar "$@"',
        "ranlib": f'exec "{python}" -m ziglang ranlib "$@"',
    }
    for name, body in tools.items():
        path = workdir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    if reporter is not None:
        reporter.log(f"zig toolchain wrappers in {workdir} (target {TARGET})")
    if shutil.which("make") is None:
        raise BuildError("make is not installed", hint="install it with:\n  apt-get install make")
    return Toolchain("zig-0.17.1-" + TARGET, "2.17", workdir, _libgcc())
