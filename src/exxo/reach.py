"""The stdlib modules a binary's code can import (issue 13): `[tool.exxo] stdlib = "imported"`, the default of -c,
leaves out every top-level stdlib module or package that nothing shipped can reach.

Reach is decided per top-level name: a package any code imports comes whole, because packages import their
own parts by computed names (multiprocessing's popen_* modules, dbm's backends, encodings' codecs). From the
roots (the app's and the boot's bytecode, the modules the interpreter itself imports from C, `stdlib-keep`)
the import references of every kept module are followed until nothing new comes in. References are read from
bytecode by the runtime's interpreter (probes/imports.py): import statements anywhere in the code, dotted-name
strings, and identifier strings handed to an import function. A built-in C module brings what its init
function imports (measured by importing it in a fresh interpreter).

What is still missing at run time is a module reached only by a name computed at run time: its import fails
with a ModuleNotFoundError naming `stdlib-keep` (the boot's importer.Dropped), and `stdlib = "all"` keeps
everything.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import os
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from exxo import common, probes
from exxo.packing import cached

STDLIB_MODES = ("all", "imported")
# Imported by the interpreter's C code when it needs them, not by any import statement: codecs' search
# function (encodings), warnings and tracebacks (warnings, traceback, linecache), time.strptime (_strptime),
# pickling (copyreg, _compat_pickle), the start-up modules (site and what it imports), -m (runpy) and the
# zipimport path importer. Kept in every binary.
INTERPRETER_IMPORTS = ("encodings", "codecs", "io", "abc", "site", "_sitebuiltins", "os", "stat", "posixpath",
                       "genericpath", "_collections_abc", "importlib", "zipimport", "runpy", "warnings",
                       "traceback", "linecache", "_strptime", "copyreg", "_compat_pickle", "types")
_PTH_IMPORT = re.compile(r"^\s*(?:import\s+([\w.]+)|from\s+([\w.]+)\s+import)", re.M)


def stdlib_members(runtime: bytes, prefix: str) -> dict[str, bytes]:
    """The runtime zip's stdlib bytecode: {member name: pyc}."""
    out = {}
    with zipfile.ZipFile(io.BytesIO(runtime)) as zf:
        for info in zf.infolist():
            if info.filename.startswith(prefix + "/") and info.filename.endswith(".pyc"):
                out[info.filename] = zf.read(info)
    return out


def top_of(member: str, prefix: str) -> str:
    """lib/python3.13/json/decoder.pyc -> json; lib/python3.13/os.pyc -> os."""
    return member[len(prefix) + 1:].split("/", 1)[0].removesuffix(".pyc")


def scan(python: Path, members: dict[str, bytes]) -> dict[str, list[str]]:
    """{member: the dotted names it references}, read by `python` (probes/imports.py); cached per member and
    interpreter, so a rebuild only reads what changed."""
    tag = hashlib.sha256(os.fsencode(python.resolve()) + b"%d" % python.resolve().stat().st_mtime_ns).digest()

    def key(name: str, data: bytes) -> bytes:
        return tag + name.encode() + b"\0" + hashlib.sha256(data).digest()

    found: dict[str, list[str]] = {}
    todo: dict[str, bytes] = {}
    for name, data in members.items():
        blob = cached("imports", key(name, data), lambda: b"")
        if blob:
            found[name] = marshal.loads(blob)
        else:
            todo[name] = data
    if todo:
        proc = common.run_captured(probes.command(python, "imports", flags=("-I", "-S")),
                                   "reading the app's imports", input=marshal.dumps(todo))
        new: dict[str, list[str]] = marshal.loads(proc.stdout)
        for name, refs in new.items():
            blob = marshal.dumps(refs)
            cached("imports", key(name, todo[name]), lambda blob=blob: blob)  # type: ignore[misc]
        found.update(new)
    return found


def builtin_imports(python: Path) -> dict[str, list[str]]:
    """{built-in module of `python`: what importing it loads} (probes/imports.py --builtins), cached per
    interpreter file."""
    st = python.resolve().stat()
    key = b"%s %d %d" % (os.fsencode(python.resolve()), st.st_size, st.st_mtime_ns)

    def make() -> bytes:
        return common.run_captured(probes.command(python, "imports", "--builtins", flags=("-I", "-S")),
                                   "reading the runtime's built-in modules").stdout

    result: dict[str, list[str]] = marshal.loads(cached("builtin-imports", key, make))
    return result


def pth_imports(members: Iterable[tuple[str, bytes]]) -> set[str]:
    """The modules `import` lines of site-packages' .pth files name (site runs them at start)."""
    out = set()
    for name, data in members:
        if name.endswith(".pth"):
            for m in _PTH_IMPORT.finditer(data.decode("utf-8", "replace")):
                out.add(m.group(1) or m.group(2))
    return out


def reachable(roots: Iterable[str], stdlib_refs: dict[str, set[str]], builtins: dict[str, list[str]],
              tops: set[str]) -> set[str]:
    """The top-level stdlib names reached from `roots` (dotted names), following `stdlib_refs` (top-level
    name -> the dotted names its modules reference) and `builtins` (C module -> what it loads)."""
    kept: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        top = name.split(".", 1)[0]
        if top in builtins:
            todo.extend(m for m in builtins.pop(top) if m.split(".", 1)[0] not in kept)
        if top in tops and top not in kept:
            kept.add(top)
            todo.extend(stdlib_refs.get(top, ()))
    return kept


def unreached(python: Path, runtime: bytes, prefix: str, app: dict[str, bytes], keep: Iterable[str]) -> list[str]:
    """The top-level stdlib modules nothing in `app` (every member of the binary but the stdlib) can reach,
    sorted: what `stdlib = "imported"` leaves out."""
    stdlib = stdlib_members(runtime, prefix)
    code = {n: d for n, d in app.items() if n.endswith(".pyc") or n.startswith("__exxo__/boot/")}
    refs = scan(python, {**stdlib, **code})
    tops = {top_of(n, prefix) for n in stdlib}
    by_top: dict[str, set[str]] = {}
    for name in stdlib:
        by_top.setdefault(top_of(name, prefix), set()).update(refs.get(name, ()))
    roots = {r for n in code for r in refs.get(n, ())}
    roots |= pth_imports(app.items()) | set(INTERPRETER_IMPORTS) | set(keep)
    kept = reachable(roots, by_top, dict(builtin_imports(python)), tops)
    return sorted(tops - kept)
