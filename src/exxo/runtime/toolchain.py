"""The toolchain seam: what compiles the runtime and its libraries.

Today: zig cc (PyPI `ziglang`, pinned in pyproject.toml) targeting x86_64-linux-gnu.2.17, so the runtime
needs GLIBC_2.17 at most whatever machine builds it. Another toolchain (an old sysroot + gcc) would be
another function returning a `Toolchain`.

CPython itself is compiled by the machine's gcc against zig's glibc 2.17 headers, and linked by zig (its
glibc 2.17 stubs): the `gcc-cc` wrapper. zig's clang at -O2 (zig passes -O2 whatever -O3 asks) inlines far
less than gcc -O3 in CPython's hot code: measured with callgrind on the same 3.13.15 sources, a regex loop
took 37% more instructions (`sre_charset`/`sre_category` not inlined) and json 15% more; the hybrid build is
on par with a stock gcc build (regex 166.2M vs 166.7M instructions). The libraries stay on zig cc.

zig traps handled here:
- zig links its whole compiler_rt object as soon as one helper (`__udivti3`, 128-bit division in libmpdec)
  is needed, and compiler_rt's weak `log2`/`log`/`memcpy`... then beat glibc's: `math.log2(2.0**-1065)`
  came out -1064.9999999999998. gcc's `libgcc.a` on the link line provides the helpers first, so compiler_rt
  is not pulled in and libm's functions are used (checked by the validator and test_math).
- zig searches neither /usr/include nor /usr/lib, but configure scripts find system libraries through
  pkg-config: PKG_CONFIG_LIBDIR points at an empty directory so nothing of the build machine leaks in.
- zig rebuilds glibc's start files (crt1, libc_nonshared: ~1 CPU-second) for every link whenever another
  zig installation used its cache since (cache entries are shared between installs, their inputs' stat data
  are not). Configure scripts link hundreds of test programs, so with two venvs holding ziglang a library
  build took several times its CPU. Each install therefore gets its own cache directory under exxo's cache
  (measured: a test link 0.55 CPU-s in a shared cache, 0.02 in a private one).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from exxo.common import GLIBC_FLOOR, cache_root, xdg_cache_home
from exxo.errors import BuildError
from exxo.progress import Reporter

TARGET = f"x86_64-linux-gnu.{GLIBC_FLOOR}"
# Baseline x86-64 (zig's `-mcpu=x86_64`, in the wrappers so it never reaches sysconfig, where gcc would
# reject zig's spelling): no AVX requirement (builds for newer levels crash on older CPUs).
CPU = "x86_64"
# -g0: zig cc emits DWARF by default; the runtime is stripped anyway, and without it compiles take ~15% less
# CPU and the archives a third of the size.
CFLAGS = "-O2 -fPIC -g0"
# The code-generation flags of everything gcc compiles for the runtime (CPython itself; see zig_toolchain) and
# of gcc's link-time optimisation of it (gcclink.py): one list, so the LTO pass generates the same kind of code.
GCC_CODEGEN = ["-fno-pic", "-mno-direct-extern-access", "-fno-semantic-interposition"]

# Cross targets (`exxo bootstrap --target aarch64`): zig cc compiles CPython too (no gcc for the target), a
# plain -O2 build (no PGO: the training task would have to run under emulation; no gcc LTO). `generic` is
# ARMv8.0-A: every 64-bit Arm server and board. libgcc.a is the cross gcc's (Debian's
# libgcc-12-dev-arm64-cross), for the same reason as on x86-64: its helpers (__udivti3, the quad-precision
# `long double` soft-float) keep zig's compiler_rt, and its shadowing libm functions, out.
HOST_ARCH = "x86_64"
CROSS = {
    "aarch64": {"triple": "aarch64-linux-gnu", "cpu": "generic", "machine": "EM_AARCH64",
                "loader": "ld-linux-aarch64.so.1", "sysroot": "/usr/aarch64-linux-gnu",
                "apt": "qemu-user libc6-arm64-cross libgcc-12-dev-arm64-cross binutils-aarch64-linux-gnu"},
}
TARGETS = (HOST_ARCH, *CROSS)


def check_target(target: str) -> str:
    """`target` itself when exxo can build for it; a BuildError naming the supported ones otherwise."""
    aliases = {"x86-64": "x86_64", "amd64": "x86_64", "arm64": "aarch64"}
    target = aliases.get(target, target)
    if target not in TARGETS:
        raise BuildError(f"unknown target {target!r}", hint=f"exxo builds for: {', '.join(TARGETS)}")
    return target


def emulator(target: str) -> list[str]:
    """The argv prefix that runs a `target` executable here: [] for the build machine's own, else qemu-user
    with the target's glibc (Debian's cross packages) as the loader's root."""
    if target == HOST_ARCH:
        return []
    qemu = shutil.which(f"qemu-{target}")
    sysroot = Path(CROSS[target]["sysroot"])
    if qemu is None or not (sysroot / "lib" / CROSS[target]["loader"]).exists():
        raise BuildError(f"running {target} programs here needs qemu-user and the {target} glibc",
                         hint=f"install them with:\n  apt-get install {CROSS[target]['apt']}")
    return [qemu, "-L", str(sysroot)]


def cross_strip(target: str) -> str:
    """binutils' strip for the target (Debian's binutils-<triple>)."""
    tool = shutil.which(f"{CROSS[target]['triple']}-strip")
    if tool is None:
        raise BuildError(f"strip for {target} is not installed",
                         hint=f"install it with:\n  apt-get install {CROSS[target]['apt']}")
    return tool


def _cross_libgcc(target: str) -> Path:
    triple = CROSS[target]["triple"]
    found = sorted(Path("/usr/lib/gcc-cross").glob(f"{triple}/*/libgcc.a"))
    if not found:
        raise BuildError(f"the {target} libgcc.a (gcc's cross runtime) is not installed",
                         hint=f"install it with:\n  apt-get install {CROSS[target]['apt']}")
    return found[-1]


@dataclass(frozen=True)
class Toolchain:
    name: str
    target_glibc: str
    wrapper_dir: Path
    libgcc: Path
    zig_cache: Path | None = None  # ZIG_GLOBAL_CACHE_DIR (None: the user's or zig's default)
    target: str = HOST_ARCH  # the processor the code is for (a key of CROSS when cross-compiling)

    @property
    def cross(self) -> bool:
        return self.target != HOST_ARCH

    def host_args(self) -> list[str]:
        """configure's --build/--host when cross-compiling (autoconf's names: --host is the target)."""
        if not self.cross:
            return []
        return ["--build=x86_64-linux-gnu", f"--host={CROSS[self.target]['triple']}"]

    def env(self, cpython: bool = False) -> dict[str, str]:
        """The build environment; `cpython=True`: CC is the gcc-compiles/zig-links wrapper (see above)."""
        # No CXX: nothing in the runtime is C++, and a configure script that links a C++ test program with
        # `zig c++` (CPython's does, for its thread flags) makes zig build libc++ from source first (minutes
        # of CPU). Such scripts find the system's c++ instead; `wrapper_dir / "c++"` exists for callers that
        # do want zig's.
        empty = self.wrapper_dir / "no-pkgconfig"
        empty.mkdir(exist_ok=True)
        return {
            "CC": str(self.wrapper_dir / ("gcc-cc" if cpython else "cc")),
            "AR": str(self.wrapper_dir / "ar"),
            "RANLIB": str(self.wrapper_dir / "ranlib"),
            "CFLAGS": CFLAGS,
            "PKG_CONFIG_LIBDIR": str(empty),
            "PKG_CONFIG_PATH": "",
            # zig's cache; created on first use (its glibc stubs take ~20-40 s once per install).
            "ZIG_GLOBAL_CACHE_DIR": str(self.zig_cache or os.environ.get("ZIG_GLOBAL_CACHE_DIR") or _zig_cache()),
        }

    def link_libs(self) -> list[str]:
        return [str(self.libgcc)]


def _zig_cache(zig: Path | None = None) -> str:
    """zig's own default cache; with `zig`, a directory of exxo's cache for that installation only."""
    if zig is None:
        return str(xdg_cache_home() / "zig")
    return str(cache_root() / "zig" / hashlib.sha256(os.fsencode(zig.resolve())).hexdigest()[:12])


def _gcc_print(flag: str, why: str) -> str:
    """What `gcc -print-...` says (a path of gcc's installation); a BuildError naming the package if no gcc."""
    try:
        out = subprocess.run(["gcc", flag], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(why, hint="install it with:\n  apt-get install build-essential") from exc
    return out.stdout.strip()


def _gcc_include() -> str:
    """gcc's own headers (stddef.h, stdarg.h, intrinsics): with -nostdinc they must be named."""
    return _gcc_print("-print-file-name=include", "gcc is needed to compile the runtime")


def _libgcc() -> Path:
    path = Path(_gcc_print("-print-libgcc-file-name",
                           "gcc's libgcc.a is needed to link the runtime (zig's compiler_rt shadows libm)"))
    if not path.is_file():
        raise BuildError(f"libgcc.a not found ({path})", hint="install it with:\n  apt-get install build-essential")
    return path


def _libgcov() -> str:
    """gcc's profile runtime, linked into the instrumented interpreter of a PGO build (gcclink.py)."""
    return _gcc_print("-print-file-name=libgcov.a", "gcc is needed to compile the runtime")


def zig_toolchain(workdir: Path, reporter: Reporter | None = None, target: str = HOST_ARCH) -> Toolchain:
    """Write cc/c++/ar/ranlib wrappers around the `ziglang` package's zig into workdir."""
    if target != HOST_ARCH:
        return _cross_toolchain(workdir, reporter, check_target(target))
    try:
        import ziglang  # type: ignore[import-untyped]
    except ImportError as exc:
        raise BuildError("the zig toolchain (PyPI package ziglang) is not installed",
                         hint="pip install 'ziglang==0.17.1' (a dependency of exxo)") from exc
    workdir.mkdir(parents=True, exist_ok=True)
    # The wrappers exec the zig binary of the `ziglang` package directly: `python -m ziglang` does exactly
    # that (os.execv), but its Python start-up costs ~30 ms per call, and a build makes thousands of calls.
    zig = Path(ziglang.__file__).parent / "zig"
    if not os.access(zig, os.X_OK):
        raise BuildError(f"the ziglang package has no zig executable at {zig}",
                         hint="reinstall it: pip install --force-reinstall 'ziglang==0.17.1'")
    cache = Path(os.environ.get("ZIG_GLOBAL_CACHE_DIR") or _zig_cache(zig))
    # The wrappers carry the cache directory too, for anyone running them without env() (a user's sdist
    # build never does: sysconfig names plain cc).
    setup = f': "${{ZIG_GLOBAL_CACHE_DIR:={cache}}}"; export ZIG_GLOBAL_CACHE_DIR\n'
    # gcc-cc: compile (-c/-E/-S) with gcc against zig's glibc headers for the target, link with zig cc.
    # -nostdinc keeps the build machine's newer glibc headers out (they redirect e.g. stat to GLIBC_2.33).
    # -fno-pic: the interpreter is a non-PIE executable (zig links it at a fixed address), so position-
    # dependent code: a `switch` dispatches with one `jmp *table(,%reg,8)` instead of PIC's four-instruction
    # relative table (lea/movslq/add/jmp), the eval loop's computed goto saves its `lea` too. Measured with
    # callgrind (3.11.2): `sre_charset` 45 -> 35 instructions a call, regex_effbot's loop -7%; Debian's
    # python3.11 is built the same way (non-PIE). See docs/how-it-works.md.
    # -mno-direct-extern-access (gcc 12): extern data (environ, stdout, timezone) is still read through the
    # GOT, as with -fPIC. Debian's gcc defaults to -fPIE, which reads it directly and so makes the linker copy
    # it into the executable (R_X86_64_COPY); against zig's glibc stubs the copy of `environ` is not tied to
    # glibc's `__environ`, and os.environ came out empty (the validator rejects any copy relocation).
    # -fno-semantic-interposition: harmless without -fPIC, kept for a PIC build of the same sources.
    libc_inc = zig.parent / "lib" / "libc" / "include"
    includes = " ".join(f"-isystem {libc_inc / d}" for d in
                        ("x86-linux-gnu", "generic-glibc", "x86-linux-any", "any-linux-any"))
    gcc_cc = (
        'for a in "$@"; do case $a in -c|-E|-S) '
        f'exec gcc -march=x86-64 -mtune=generic {" ".join(GCC_CODEGEN)} -nostdinc '
        f'-isystem "{_gcc_include()}" {includes} '
        f'-D__GLIBC_MINOR__={TARGET.rsplit(".", 1)[1]} "$@";; esac; done\n'
        # A link with gcc's PGO or LTO flags (only the runtime's optimised build passes them, at make time)
        # goes through gcclink.py: libgcov for the instrumented link, gcc's LTO before zig's (see there).
        f'case " $* " in *" -flto"*|*" -fprofile-generate "*) exec "{sys.executable}" -I "{workdir / "gcclink.py"}" '
        f'"{zig}" {TARGET} {CPU} "{_libgcov()}" "${{EXXO_LTO_JOBS:-2}}" -- "$@";; esac\n'
        f'exec "{zig}" cc -target {TARGET} -mcpu={CPU} "$@"'
    )
    (workdir / "gcclink.py").write_bytes((resources.files("exxo") / "runtime" / "gcclink.py").read_bytes())
    tools = {
        "gcc-cc": gcc_cc,
        "cc": f'exec "{zig}" cc -target {TARGET} -mcpu={CPU} "$@"',
        "c++": f'exec "{zig}" c++ -target {TARGET} -mcpu={CPU} "$@"',
        "ar": f'exec "{zig}" ar "$@"',
        "ranlib": f'exec "{zig}" ranlib "$@"',
    }
    for name, body in tools.items():
        path = workdir / name
        path.write_text(f"#!/bin/sh\n{setup}{body}\n")
        path.chmod(0o755)
    if reporter is not None:
        reporter.log(f"zig toolchain wrappers in {workdir} (target {TARGET})")
    if shutil.which("make") is None:
        raise BuildError("make is not installed", hint="install it with:\n  apt-get install make")
    # The name is part of every library's cache key: another zig version builds into other prefixes.
    return Toolchain(f"zig-{zig_version()}-{TARGET}", GLIBC_FLOOR, workdir, _libgcc(), cache)


def _zig() -> Path:
    try:
        import ziglang
    except ImportError as exc:
        raise BuildError("the zig toolchain (PyPI package ziglang) is not installed",
                         hint="pip install 'ziglang==0.17.1' (a dependency of exxo)") from exc
    zig = Path(ziglang.__file__).parent / "zig"
    if not os.access(zig, os.X_OK):
        raise BuildError(f"the ziglang package has no zig executable at {zig}",
                         hint="reinstall it: pip install --force-reinstall 'ziglang==0.17.1'")
    return zig


def cross_target(target: str) -> str:
    """zig's target for a cross target, e.g. aarch64-linux-gnu.2.17."""
    return f"{CROSS[target]['triple']}.{GLIBC_FLOOR}"


def _cross_toolchain(workdir: Path, reporter: Reporter | None, target: str) -> Toolchain:
    """zig cc for another processor, for the libraries and CPython alike. `gcc-cc` (the name CPython's build
    is given, see Toolchain.env) is zig cc as well here, with -fPIC -fno-semantic-interposition for the same
    reasons as on x86-64 (no copy relocations of glibc's data; the C API still inlined within CPython)."""
    workdir.mkdir(parents=True, exist_ok=True)
    zig = _zig()
    cache = Path(os.environ.get("ZIG_GLOBAL_CACHE_DIR") or _zig_cache(zig))
    setup = f': "${{ZIG_GLOBAL_CACHE_DIR:={cache}}}"; export ZIG_GLOBAL_CACHE_DIR\n'
    ztarget, cpu = cross_target(target), CROSS[target]["cpu"]
    tools = {
        "gcc-cc": f'exec "{zig}" cc -target {ztarget} -mcpu={cpu} -fPIC -fno-semantic-interposition "$@"',
        "cc": f'exec "{zig}" cc -target {ztarget} -mcpu={cpu} "$@"',
        "c++": f'exec "{zig}" c++ -target {ztarget} -mcpu={cpu} "$@"',
        "ar": f'exec "{zig}" ar "$@"',
        "ranlib": f'exec "{zig}" ranlib "$@"',
    }
    for name, body in tools.items():
        path = workdir / name
        path.write_text(f"#!/bin/sh\n{setup}{body}\n")
        path.chmod(0o755)
    if reporter is not None:
        reporter.log(f"zig toolchain wrappers in {workdir} (target {ztarget})")
    if shutil.which("make") is None:
        raise BuildError("make is not installed", hint="install it with:\n  apt-get install make")
    return Toolchain(f"zig-{zig_version()}-{ztarget}", GLIBC_FLOOR, workdir, _cross_libgcc(target), cache, target)


def zig_version() -> str:
    """The pinned `ziglang` package's version (part of the libraries' and the runtime's cache keys)."""
    from importlib import metadata

    try:
        return metadata.version("ziglang")
    except metadata.PackageNotFoundError:  # a ziglang importable without metadata (e.g. inside a zip)
        return "unknown"
