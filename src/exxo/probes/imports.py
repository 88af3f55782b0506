"""Probe: the modules each piece of bytecode can import, read by this interpreter (bytecode is version-specific).

stdin: marshal {member name: pyc or marshalled code}; stdout: marshal {member name: [dotted module names]}.
With argv[1] == "--builtins" instead: marshal {built-in module: [modules importing it loads]}, each measured in a
fresh `-I -S` interpreter (what a C module imports from its init function shows in no bytecode).

A reference is what the code could import (exxo.reach turns references into the stdlib modules a binary keeps):
- every IMPORT_NAME, in every code object (functions, class bodies, try blocks: whatever may run), relative
  ones resolved against the member's package;
- every string constant that is a dotted identifier ("logging.handlers", "email.mime.text"): names handed to
  importlib.import_module, logging's dictConfig, pickle's class paths...;
- in code that calls an import function (import_module, __import__, find_spec, import_string), every string
  constant that is an identifier: `importlib.import_module("json")`.
"""

from __future__ import annotations

import dis
import importlib.util
import marshal
import re
import subprocess
import sys
from types import CodeType

DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
IDENT = re.compile(r"[A-Za-z_]\w*")
IMPORTERS = frozenset({"import_module", "__import__", "find_spec", "import_string", "_import_module"})


def module_of(member: str) -> tuple[str, bool]:
    """lib/python3.13/json/__pycache__/decoder.cpython-313.pyc -> ("json.decoder", False); the boot's and the
    app's members the same way from their site-packages-relative path. Whether it is a package's __init__."""
    path = member.split("/site-packages/", 1)[-1]
    if path.startswith("lib/python"):
        path = path.split("/", 2)[2] if path.count("/") >= 2 else path
    parts = [p for p in path.split("/") if p != "__pycache__"]
    leaf = parts[-1].split(".", 1)[0]
    if leaf == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join([*parts[:-1], leaf]), False


def _strings(consts: tuple[object, ...]) -> list[str]:
    out: list[str] = []
    for c in consts:
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, (tuple, frozenset)):
            out.extend(_strings(tuple(c)))
    return out


def references(code: CodeType, module: str, is_package: bool) -> set[str]:
    """The dotted names `code` (and every code object inside it) may import; see the module docstring."""
    package = module if is_package else module.rpartition(".")[0]
    out: set[str] = set()
    todo = [code]
    while todo:
        co = todo.pop()
        todo.extend(c for c in co.co_consts if isinstance(c, CodeType))
        consts: list[object] = []
        for ins in dis.get_instructions(co):
            if ins.opname == "LOAD_CONST" or ins.opname == "LOAD_SMALL_INT":
                consts.append(ins.argval)
            elif ins.opname == "IMPORT_NAME":
                level = consts[-2] if len(consts) >= 2 and isinstance(consts[-2], int) else 0
                name = str(ins.argval)
                if level:
                    base = package.rsplit(".", level - 1)[0] if level > 1 else package
                    name = f"{base}.{name}" if name else base
                    fromlist = consts[-1] if consts and isinstance(consts[-1], tuple) else ()
                    out.update(f"{name}.{f}" for f in fromlist if isinstance(f, str) and f != "*")
                if name:
                    out.add(name)
        strings = _strings(co.co_consts)
        out.update(s for s in strings if DOTTED.fullmatch(s))
        if IMPORTERS.intersection(co.co_names):
            out.update(s for s in strings if IDENT.fullmatch(s))
    return out


def _code(data: bytes) -> CodeType | None:
    try:
        code = marshal.loads(data[16:] if data[:4] == importlib.util.MAGIC_NUMBER else data)
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def scan(members: dict[str, bytes]) -> dict[str, list[str]]:
    out = {}
    for name, data in members.items():
        code = _code(data)
        if code is not None:
            module, is_package = module_of(name)
            out[name] = sorted(references(code, module, is_package))
    return out


def builtin_imports() -> dict[str, list[str]]:
    """What importing each built-in module loads besides what a bare `-I -S` interpreter has."""
    probe = ("import sys\nbefore = set(sys.modules)\nimport %s\n"
             "print('\\n'.join(sorted(set(sys.modules) - before)))\n")
    out = {}
    for name in sorted(sys.builtin_module_names):
        if name in sys.modules:
            continue
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", probe % name], capture_output=True, text=True)
        if proc.returncode == 0:
            out[name] = [m for m in proc.stdout.split() if m != name]
    return out


def main() -> None:
    if sys.argv[1:] == ["--builtins"]:
        sys.stdout.buffer.write(marshal.dumps(builtin_imports()))
        return
    sys.stdout.buffer.write(marshal.dumps(scan(marshal.loads(sys.stdin.buffer.read()))))


if __name__ == "__main__":
    main()
