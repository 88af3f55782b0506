"""What a binary's code can import, read off its bytecode (issue 13), for two size decisions:

- `[tool.exxo] stdlib = "imported"` (the default of -c) leaves out every top-level stdlib module or package
  that no shipped code can reach (`unreached`);
- the default packing stores only the site-packages members an app's start imports and packs the rest
  (`hot_members`).

References are read by the runtime's own interpreter (probes/imports.py, cached per member): import statements
at module level (eager), inside functions (lazy) and in a module's script part (`if __name__ == "__main__":`,
its main/_test functions), whether the module calls an import function (then its identifier and dotted-name
strings count too), the NUL-terminated strings of native members that name modules (C code importing Python
modules), and what each built-in C module imports from its init function (measured in a fresh interpreter).

The stdlib is followed module by module from the roots (all of the app's references; what the interpreter's
C code uses; the start-up modules, for what runs when they are imported): a reached module brings its parent
packages and its eager and lazy imports; a module importing by computed names brings its whole package;
development tools that stdlib functions import (doctest, pdb...) come only when the app names them; stdlib
script parts never. A top-level name with any reached module ships whole. What is still missing at run time
is a module imported only by a name computed at run time: its import fails with a ModuleNotFoundError naming
`stdlib-keep` (the boot's importer.Dropped); `stdlib = "all"` keeps everything.
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
from exxo.packing import cache_read, cache_write, cached

# What the interpreter's C code uses when it needs it, whatever the app imports: codecs' search function
# (encodings: every codec by computed name), warnings and tracebacks (warnings, traceback, linecache),
# time.strptime (_strptime), pickling (copyreg, _compat_pickle). Followed in full.
INTERPRETER_USES = ("encodings", "codecs", "io", "abc", "warnings", "traceback", "linecache", "_strptime",
                    "copyreg", "_compat_pickle", "types")
# The start-up modules (site and what it imports, the -m runner, the zip importer): followed for what runs when
# they are imported, not for their functions (the REPL, help()), unless the app's code imports them.
START_UP = ("site", "_sitebuiltins", "os", "stat", "posixpath", "genericpath", "_collections_abc", "importlib",
            "zipimport", "runpy")
# Development tools that stdlib modules import inside functions for their self-tests and `python -m` mains
# (pickle's _test imports doctest, warnings' formatting tracemalloc...): followed only when the app's own code
# (or stdlib-keep) names them, or a stdlib module imports them at module level.
TOOLS = ("doctest", "pdb", "pydoc", "unittest", "tkinter", "idlelib", "turtle", "trace", "profile", "cProfile",
         "pstats", "timeit", "tracemalloc", "webbrowser", "code", "_pyrepl", "rlcompleter")
# Stdlib modules that import another by a name computed at run time outside their own package (inside it,
# the package's `dynamic` flag covers them): reaching the key reaches every module whose name starts with the
# value. sysconfig imports the build's `_sysconfigdata_<abi>_<platform>_<multiarch>`.
COMPUTED = {"sysconfig": "_sysconfigdata_"}
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


Refs = tuple[list[str], list[str], bool, list[str], list[str]]  # probes/imports.py references()
NO_REFS: Refs = ([], [], False, [], [])


def scan(python: Path, members: dict[str, bytes]) -> dict[str, Refs]:
    """{member: its references}, read by `python` (probes/imports.py); cached per member and interpreter, so
    a rebuild only reads what changed."""
    exe = python.resolve()
    probe = probes.command(python, "imports")[-1].encode()  # its source: a changed probe reads everything again
    tag = hashlib.sha256(os.fsencode(exe) + b"%d\0" % exe.stat().st_mtime_ns + probe).digest()

    def key(name: str, data: bytes) -> bytes:
        return tag + name.encode() + b"\0" + hashlib.sha256(data).digest()

    found: dict[str, Refs] = {}
    todo: dict[str, bytes] = {}
    for name, data in members.items():
        blob = cache_read("imports", key(name, data))
        try:
            found[name] = marshal.loads(blob or b"")
        except (EOFError, ValueError, TypeError):  # none yet (or not a reading: read it again)
            todo[name] = data
    if todo:
        proc = common.run_captured(probes.command(python, "imports", flags=("-I", "-S")),
                                   "reading the app's imports", input=marshal.dumps(todo))
        new: dict[str, Refs] = marshal.loads(proc.stdout)
        for name, refs in new.items():
            cache_write("imports", key(name, todo[name]), marshal.dumps(refs))
        found.update(new)
    return found


def builtin_imports(python: Path) -> dict[str, list[str]]:
    """{built-in module of `python`: what importing it loads} (probes/imports.py --builtins), cached per
    interpreter file."""
    st = python.resolve().stat()
    probe = probes.command(python, "imports")[-1].encode()
    key = b"%s %d %d\0" % (os.fsencode(python.resolve()), st.st_size, st.st_mtime_ns) + probe

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


_C_STRING = re.compile(rb"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\x00")


def native_imports(data: bytes) -> list[str]:
    """The names a native member could import from C: its NUL-terminated strings that look like module names
    (PyImport_ImportModule("uuid") in an extension module; "datetime.datetime_CAPI" names datetime too).
    A C extension that imports a stdlib module the binary lacks may not check for NULL: this keeps it.
    Cached per content (numpy's libraries are 40 MB to read)."""
    def make() -> bytes:
        return "\n".join(sorted({m.decode() for m in _C_STRING.findall(data)})).encode()

    return cached("native-imports", hashlib.sha256(data).digest(), make).decode().split()


def _module(ref: str, graph: dict[str, Refs]) -> str | None:
    """The stdlib module a reference names: itself, or its longest prefix that is one ("os.path.join" ->
    "os.path", "logging.handlers.RotatingFileHandler" -> "logging.handlers"); None outside the stdlib."""
    while ref:
        if ref in graph:
            return ref
        ref = ref.rpartition(".")[0]
    return None


def reachable(full_roots: Iterable[str], eager_roots: Iterable[str], graph: dict[str, Refs],
              packages: set[str], builtins: dict[str, list[str]], exclude: Iterable[str] = ()) -> set[str]:
    """The stdlib modules (dotted names; `graph`: module -> its references, `packages`: which are packages)
    reached from `full_roots` (every import in them may run) and `eager_roots` (only what runs when they are
    imported: the interpreter's own start-up modules, whose functions serve the REPL and help()).

    A module reaches its parent packages; one that imports by computed names (`dynamic`) reaches every module
    of its package (encodings' codecs, dbm's backends); a built-in C module reaches what it imports
    (`builtins`); modules in `exclude` (and their submodules) are never reached."""
    cut = tuple(exclude)
    builtins = dict(builtins)
    state: dict[str, int] = {}  # 1: eager, 2: full
    todo = [(name, 2) for name in full_roots] + [(name, 1) for name in eager_roots]
    while todo:
        ref, mode = todo.pop()
        top = ref.split(".", 1)[0]
        if top in builtins:
            todo.extend((m, 2) for m in builtins.pop(top))
        module = _module(ref, graph)
        if module is None or state.get(module, 0) >= mode:
            continue
        if any(module == c or module.startswith(c + ".") for c in cut):
            continue
        old = state.get(module, 0)
        state[module] = mode
        eager, lazy, dynamic, names, _ = graph[module]  # a stdlib module's script part runs only with -m
        parts = module.split(".")
        todo.extend((".".join(parts[:i]), mode) for i in range(1, len(parts)))
        if old == 0:
            todo.extend((r, mode) for r in eager)
        if top in COMPUTED:
            todo.extend((m, 2) for m in graph if m.startswith(COMPUTED[top]))
        if mode == 2:
            todo.extend((r, 2) for r in (*lazy, *names) if r.split(".", 1)[0] not in TOOLS)
            package = module if module in packages else module.rpartition(".")[0]
            if dynamic and package:
                todo.extend((m, 2) for m in graph if m.startswith(package + "."))
    return set(state)


def unreached(python: Path, runtime: bytes, prefix: str, app: dict[str, bytes], keep: Iterable[str],
              exclude: Iterable[str] = ()) -> list[str]:
    """The top-level stdlib modules nothing in `app` (the binary's bytecode, native members and .pth files but
    the stdlib's) can reach, sorted: what `stdlib = "imported"` leaves out. `keep` are reached whatever imports
    them."""
    from exxo.probes.imports import module_of

    stdlib = stdlib_members(runtime, prefix)
    code = {n: d for n, d in app.items() if n.endswith(".pyc") or n.startswith("__exxo__/boot/")}
    refs = scan(python, {**stdlib, **code})
    graph: dict[str, Refs] = {}
    packages = set()
    for name in stdlib:
        module, is_package = module_of(name)
        graph[module] = refs.get(name, NO_REFS)
        if is_package:
            packages.add(module)
    roots: set[str] = set()
    start = set(START_UP)
    for name in code:
        eager, lazy, _, names, script = refs.get(name, NO_REFS)
        if name.startswith("__exxo__/"):
            # exxo's boot imports site, runpy, importlib... as the interpreter's start-up does (it is that
            # start-up), and names the modules it patches once the app imports them: strings, not imports
            start.update(eager, lazy)
        else:
            roots.update(eager, lazy, names, script)
    for data in app.values():
        if data[:4] == b"\x7fELF":
            roots.update(native_imports(data))
    roots |= pth_imports(app.items()) | set(keep) | set(INTERPRETER_USES)
    reached = reachable(roots, start, graph, packages, builtin_imports(python), exclude)
    tops = {top_of(n, prefix) for n in stdlib}
    return sorted(tops - {m.split(".", 1)[0] for m in reached})


# ---- what an app imports at start: its hot members --------------------------------------------------------

def app_module_of(member: str) -> str | None:
    """The module a site-packages member is (bytecode or extension module), else None."""
    if "/site-packages/" not in member:
        return None
    from exxo.probes.imports import module_of

    if member.endswith(".pyc"):
        return module_of(member)[0]
    leaf = member.rsplit("/", 1)[-1]
    if leaf.endswith(".so") and "." in leaf[:-3]:
        path = member.split("/site-packages/", 1)[1]
        return path.rsplit("/", 1)[0].replace("/", ".") + "." + leaf.split(".", 1)[0] if "/" in path \
            else leaf.split(".", 1)[0]
    return None


def hot_members(python: Path, members: dict[str, bytes], entry_modules: Iterable[str]) -> set[str]:
    """The site-packages members an app start imports, as far as its bytecode tells: the entry modules with
    every import in them (the entry function runs), then, module by module, what each imports at module level
    and its parent packages; the `.pth` files' imports too. The rest is cold: packed, and decompressed only
    if it is imported after all (a wrong guess costs that time, never a failure)."""
    by_module: dict[str, list[str]] = {}
    for name in members:
        module = app_module_of(name)
        if module is not None:
            by_module.setdefault(module, []).append(name)
    code = {n: members[n] for ms in by_module.values() for n in ms if n.endswith(".pyc")}
    refs = scan(python, code)
    graph = {m: [refs.get(n, NO_REFS) for n in ns if n.endswith(".pyc")] for m, ns in by_module.items()}
    todo: list[tuple[str, bool]] = [(m, True) for m in entry_modules]
    todo += [(m, False) for m in pth_imports(members.items())]
    seen: set[str] = set()
    while todo:
        ref, entry = todo.pop()
        module = ref
        while module and module not in graph:
            module = module.rpartition(".")[0]
        if not module or module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend((".".join(parts[:i]), False) for i in range(1, len(parts)))
        for eager, lazy, _, names, script in graph[module]:
            todo.extend((r, False) for r in eager)
            if entry:
                todo.extend((r, False) for r in (*lazy, *names, *script))
    hot = {n for m in seen for n in by_module[m]}
    # Packages pick their compiled accelerators by names computed at run time (gevent's import_c_accel):
    # an extension module beside hot bytecode counts as hot, unless it is a test module.
    dirs = {n.rsplit("/", 2)[0] if "/__pycache__/" in n else n.rsplit("/", 1)[0] for n in hot if n.endswith(".pyc")}
    for name in members:
        leaf = name.rsplit("/", 1)[-1]
        if name.endswith(".so") and name.rsplit("/", 1)[0] in dirs and "test" not in leaf and \
                app_module_of(name) is not None:
            hot.add(name)
    return hot
