"""`exxo bootstrap [-p 3.13] [--target aarch64] [--source PATH|URL] [--jobs N] [--force] [--plain] [--print-path]`."""

from __future__ import annotations

import argparse
import os

from exxo.runtime import toolchain
from exxo.runtime.bootstrap import ensure_runtime, find_runtime


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bootstrap",
        help="build the exxo runtime (a static CPython) for a Python version and cache it",
        description="Build the exxo runtime for a CPython version from the official source and cache it under "
        "$XDG_CACHE_HOME/exxo/runtimes/. `exxo venv` and `exxo build` do this implicitly.",
        epilog="examples:\n  exxo bootstrap                      # CPython 3.13\n"
        "  exxo bootstrap -p 3.11 --jobs 4\n"
        "  exxo bootstrap --target aarch64      # cross-built for 64-bit Arm (needs the x86-64 one first)\n"
        "  exxo bootstrap --source ~/Downloads/Python-3.13.15.tar.xz   # offline\n"
        "  exxo bootstrap --print-path          # path of the runtime's python (builds first if needed)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-p", "--python", default="3.13", metavar="VERSION", help="CPython version (default: 3.13)")
    p.add_argument("--source", metavar="PATH|URL", help="CPython source tarball to use instead of downloading")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel compile jobs")
    p.add_argument("--force", action="store_true", help="rebuild even when the runtime is cached")
    p.add_argument("--plain", action="store_true",
                   help="build without PGO and LTO (-O3 only): the reference `make bench` compares against")
    p.add_argument("--target", default=toolchain.HOST_ARCH, metavar="ARCH",
                   help=f"the processor to build for: {', '.join(toolchain.TARGETS)} (default: {toolchain.HOST_ARCH})")
    p.add_argument("--print-path", action="store_true", help="print the runtime executable's path")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.plain:
        os.environ["EXXO_RUNTIME_OPT"] = "plain"  # a knob of the recipe hash: its own cache entry
    target = toolchain.check_target(args.target)
    cached = None if args.force else find_runtime(args.python, target)
    runtime = cached or ensure_runtime(args.python, source_override=args.source, jobs=args.jobs, force=args.force,
                                       target=target)
    if args.print_path:
        print(runtime.python)
    elif cached is not None:
        print(f"exxo: runtime CPython {runtime.version} already built: {runtime.dir}")
    return 0
