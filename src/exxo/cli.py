"""Command line: argparse, `main(argv) -> int`, and the one error boundary.

Each sub-command lives in its own module exposing `add_parser(subparsers)` and `run(args) -> int`;
this module only wires them together and turns ExxoError / KeyboardInterrupt into messages and exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Protocol

from exxo import __version__, build, inspect, venv
from exxo.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, ExxoError
from exxo.runtime import command

# The sub-command modules, in --help order. All are imported: argparse needs every sub-parser to parse a
# command line (`exxo build` start-up is dominated by the build, not by these imports).
COMMANDS = {"bootstrap": command, "venv": venv, "build": build, "inspect": inspect}


class CommandModule(Protocol):
    def add_parser(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _version_text() -> str:
    text = f"exxo {__version__}"
    runtime = getattr(sys, "_exxo_runtime", None)  # set by the boot code inside a self-hosted exxo binary
    if runtime:
        text += f" (runtime: CPython {runtime})"
    else:
        text += f" (running on CPython {sys.version.split()[0]})"
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exxo",
        description="Turn a Python application into one portable Linux x86_64 executable.",
    )
    parser.add_argument("--version", action="version", version=_version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    modules: list[CommandModule] = list(COMMANDS.values())
    for module in modules:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except ExxoError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("exxo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `exxo inspect --sbom BINARY | head`: the reader has gone, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the final flush does not fail again
        return 1
    except Exception as exc:  # a bug: one clear line, the traceback on request
        if os.environ.get("EXXO_DEBUG"):
            raise
        print(f"exxo: internal error: {type(exc).__name__}: {exc}\n"
              "  hint: this is a bug in exxo; rerun with EXXO_DEBUG=1 to see the traceback and report it",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
