"""Probe: which of the given source files this interpreter cannot compile, and why.

argv: file paths; stdout: one "path<TAB>line<TAB>message" per file that does not compile.
"""

from __future__ import annotations

import sys


def errors(paths: list[str]) -> list[tuple[str, int, str]]:
    out = []
    for path in paths:
        with open(path, "rb") as f:
            source = f.read()
        try:
            compile(source, path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            out.append((path, exc.lineno or 0, str(exc.msg)))
        except ValueError as exc:  # null bytes
            out.append((path, 0, str(exc)))
    return out


def main() -> int:
    for path, line, msg in errors(sys.argv[1:]):
        print(f"{path}\t{line}\t{msg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
