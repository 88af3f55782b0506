"""Probe: marshal exxo's boot sources with this interpreter (the runtime: bytecode is version-specific).

stdin: JSON {module name: source}; stdout: marshal {module name: marshal.dumps(code)}. Each code object's
file name is `<exxo boot>/<name>.py` (no build-machine path in the binary).
"""

from __future__ import annotations

import json
import marshal
import sys


def compile_all(sources: dict[str, str]) -> dict[str, bytes]:
    return {name: marshal.dumps(compile(text, f"<exxo boot>/{name}.py", "exec", dont_inherit=True))
            for name, text in sorted(sources.items())}


def main() -> int:
    sys.stdout.buffer.write(marshal.dumps(compile_all(json.loads(sys.stdin.buffer.read()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
