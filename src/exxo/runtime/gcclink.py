"""The gcc-cc wrapper's link step when gcc's PGO or LTO is involved (toolchain.py sends it here).

The runtime is linked by zig (its glibc 2.17 stubs keep the GLIBC_2.17 cap), but zig's linker knows nothing of
gcc's two optimisation passes:

- `-fprofile-generate` objects call gcc's profile runtime (`__gcov_*`), which zig does not have: the
  instrumented link gets gcc's own `libgcov.a`. That interpreter only runs the training task, on the build
  machine, and is thrown away.
- `-flto` objects carry gcc's GIMPLE, which zig's lld cannot read. The objects are built "fat" (machine code as
  well), so every link of the build works as before; for the interpreter itself (`-o python`) the LTO objects
  are first merged by gcc's own link-time optimiser into one ordinary object (`gcc -r
  -flinker-output=nolto-rel`: cross-file inlining over all of CPython), which zig then links like any other.
  A partial link keeps every global symbol (nothing can be internalised), so the exports stay exactly the C
  API the validator checks; the inlining, which is where LTO's gain is, is not limited by that.

Usage (from the wrapper): python -m exxo.runtime.gcclink ZIG TARGET CPU LIBGCOV JOBS -- <cc arguments>
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Code-generation flags the merged object is built with: the same as the gcc-cc wrapper's compiles (the
# optimisation level and PGO's per-function decisions travel inside the LTO objects).
# gcclink.py runs on its own (copied beside the wrappers, `python -I`), so the list is repeated from
# toolchain.GCC_CODEGEN; tests/unit checks they agree.
LTO_CODEGEN = ["-O3", "-march=x86-64", "-mtune=generic", "-fno-pic", "-mno-direct-extern-access",
               "-fno-semantic-interposition"]
# gcc's default partitioning (-flto=JOBS code-generates in parallel). CPython's own LTOFLAGS for gcc say
# -flto-partition=none; measured (callgrind, 3.11.2, per benchmark loop) it executed the same instructions
# (regex_effbot +0.05%, json_dumps -0.4%, deltablue +0.7%) and made the 3.11 bootstrap ~110 s longer (serial
# code generation), so it is not used. See benchmarks/results-pgo-2026-12-02.md.
LTO_PARTITION: list[str] = []
LTO_OUTPUTS = {"python"}  # only the interpreter is worth the minutes of a link-time optimisation


def has_lto(path: str) -> bool:
    """An object file with gcc's LTO sections (`.gnu.lto_*`)."""
    try:
        return b".gnu.lto_" in Path(path).read_bytes()
    except OSError:
        return False


def zig_args(args: list[str], libgcov: str) -> list[str]:
    """The arguments zig's link gets: gcc's PGO/LTO flags removed, libgcov added for an instrumented link."""
    out = [a for a in args if not (a.startswith("-flto") or a.startswith("-fprofile-")
                                   or a in ("-ffat-lto-objects", "-fuse-linker-plugin"))]
    if "-fprofile-generate" in args:
        out.append(libgcov)
    return out


def lto_merge(args: list[str], jobs: str) -> list[str]:
    """Replace the LTO objects of the interpreter's link by one object optimised across all of them."""
    output = args[args.index("-o") + 1] if "-o" in args else "a.out"
    if Path(output).name not in LTO_OUTPUTS or not any(a.startswith("-flto") for a in args):
        return args
    objects = [a for a in args if a.endswith(".o") and has_lto(a)]
    if not objects:
        return args
    merged = f"{output}.lto.o"
    subprocess.run(["gcc", "-r", "-nostdlib", "-flinker-output=nolto-rel", f"-flto={jobs}", *LTO_PARTITION,
                    *LTO_CODEGEN,
                    "-o", merged, *objects], check=True)
    first = args.index(objects[0])
    keep = set(objects)
    rest = [a for a in args if a not in keep]
    rest.insert(min(first, len(rest)), merged)
    return rest


def main(argv: list[str]) -> int:
    zig, target, cpu, libgcov, jobs, sep, *args = argv
    if sep != "--":
        raise SystemExit("usage: gcclink ZIG TARGET CPU LIBGCOV JOBS -- ARGS...")
    args = zig_args(lto_merge(args, jobs), libgcov)
    os.execv(zig, [zig, "cc", "-target", target, f"-mcpu={cpu}", *args])
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
