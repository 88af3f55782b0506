"""Probe: the modules each piece of bytecode can import, read by this interpreter (bytecode is version-specific).

stdin: marshal {member name: pyc or marshalled code}; stdout: marshal {member name: (eager, lazy, dynamic,
names, script)}: see references().
With argv[1] == "--builtins" instead: marshal {built-in module: [modules importing it loads]}, each measured in a
fresh `-I -S` interpreter (what a C module imports from its init function shows in no bytecode).

A reference is what the code could import (exxo.reach turns references into the stdlib modules a binary keeps):
- every IMPORT_NAME, in every code object (functions, class bodies, try blocks: whatever may run), relative
  ones resolved against the member's package;
- in a module that calls an import function (import_module, __import__, find_spec, import_string), every string
  constant that is an identifier or a dotted one: `importlib.import_module("json")`, `NAME = "email.mime"`.
  Elsewhere strings are data (pickle's name maps, documentation) and count for nothing.
"""

from __future__ import annotations

import dis
import importlib.util
import inspect
import marshal
import re
import subprocess
import sys
from types import CodeType

DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
IDENT = re.compile(r"[A-Za-z_]\w*")
SCRIPT_FUNCTIONS = frozenset({"main", "_main", "test", "_test", "demo", "_demo"})
Refs = tuple[list[str], list[str], bool, list[str], list[str]]
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


def _main_block(instructions: list[dis.Instruction]) -> range:
    """The offsets of the module's `if __name__ == "__main__":` block (empty when it has none)."""
    for i, ins in enumerate(instructions[:-3]):
        if ins.opname == "LOAD_NAME" and ins.argval == "__name__" and instructions[i + 1].argval == "__main__" \
                and instructions[i + 2].opname == "COMPARE_OP":
            for jump in instructions[i + 3:i + 5]:
                if jump.opname.startswith("POP_JUMP") and "FALSE" in jump.opname and isinstance(jump.argval, int):
                    return range(jump.offset, jump.argval)
    return range(0)


def references(code: CodeType, module: str, is_package: bool) -> Refs:
    """What `code` (and every code object inside it) may import: (eager, lazy, dynamic, names, script).
    Eager: the import statements that run when the module is imported (module level, class bodies); lazy: those
    inside functions; dynamic: whether the code calls an import function; names: then, its identifier strings;
    script: what only running the module as a script imports (its `if __name__ == "__main__":` block and the
    module-level functions named main, _main, test, _test, demo, _demo that such blocks call)."""
    package = module if is_package else module.rpartition(".")[0]
    found: dict[str, set[str]] = {"eager": set(), "lazy": set(), "script": set()}
    strings: list[str] = []
    dynamic = False
    todo = [(code, "eager")]
    while todo:
        co, kind = todo.pop()
        for c in co.co_consts:
            if isinstance(c, CodeType):
                top_level_main = co is code and c.co_name in SCRIPT_FUNCTIONS
                # class bodies run at import, functions (CO_OPTIMIZED: their locals are fast) when called
                inner = kind if not c.co_flags & inspect.CO_OPTIMIZED else "lazy" if kind == "eager" else kind
                todo.append((c, "script" if top_level_main else inner))
        instructions = list(dis.get_instructions(co))
        main = _main_block(instructions) if co is code else range(0)
        consts: list[object] = []
        for ins in instructions:
            if ins.opname in ("LOAD_CONST", "LOAD_SMALL_INT"):
                consts.append(ins.argval)
            elif ins.opname == "IMPORT_NAME":
                level = consts[-2] if len(consts) >= 2 and isinstance(consts[-2], int) else 0
                fromlist = consts[-1] if consts and isinstance(consts[-1], tuple) else ()
                name = str(ins.argval)
                if level:
                    base = package.rsplit(".", level - 1)[0] if level > 1 else package
                    name = f"{base}.{name}" if name else base
                if name:  # `from pkg import x`: x may be a submodule (exxo.reach checks which are modules)
                    out = found["script" if ins.offset in main else kind]
                    out.add(name)
                    out.update(f"{name}.{f}" for f in fromlist if isinstance(f, str) and f != "*")
            elif ins.opname.startswith(("LOAD_GLOBAL", "LOAD_NAME", "LOAD_ATTR", "LOAD_METHOD")):
                dynamic = dynamic or ins.argval in IMPORTERS
        strings.extend(_strings(co.co_consts))
    names = {s for s in strings if DOTTED.fullmatch(s) or IDENT.fullmatch(s)} if dynamic else set()
    eager, lazy = found["eager"], found["lazy"] - found["eager"]
    return sorted(eager), sorted(lazy), dynamic, sorted(names), sorted(found["script"] - eager - lazy)


def _code(data: bytes) -> CodeType | None:
    try:
        code = marshal.loads(data[16:] if data[:4] == importlib.util.MAGIC_NUMBER else data)
    except (ValueError, EOFError, TypeError):
        return None
    return code if isinstance(code, CodeType) else None


def scan(members: dict[str, bytes]) -> dict[str, Refs]:
    out = {}
    for name, data in members.items():
        code = _code(data)
        if code is not None:
            module, is_package = module_of(name)
            out[name] = references(code, module, is_package)
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
