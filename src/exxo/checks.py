"""What `exxo build` checks before it writes a binary, so that it never writes one that cannot start or that
the zip format cannot hold: member names and sizes, the project's own modules compile, the entry point exists.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exxo import probes
from exxo.archive import Member
from exxo.errors import BuildError, InputError

SIZE_LIMIT = 0xFFFFFFFF  # a member's size must fit the zip's 32-bit fields: the archive writer has no zip64

_SITE = re.compile(r"lib/python3\.\d+/site-packages/")


def site_relative(name: str) -> str:
    """A member name as a path relative to site-packages (members may sit under lib/python3.X/site-packages/)."""
    match = _SITE.match(name)
    return name[match.end():] if match else name


def check_members(members: Sequence[Member]) -> None:
    """Every member's name must be UTF-8 (zip names are) and its size below 4 GiB (no zip64)."""
    for m in members:
        rel = site_relative(m.name)
        try:
            m.name.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(rel)
            raise InputError(f"the file name {shown!r} in site-packages is not UTF-8: names inside an exxo binary "
                             "must be (zip member names)",
                             hint="rename the file to a UTF-8 name, or leave it out: [tool.exxo] exclude = "
                                  f"[\"{os.path.dirname(rel) or '.'}/*\"] (a glob)") from None
        if len(m.data) > SIZE_LIMIT:
            raise InputError(f"{rel} is {len(m.data) / 2**30:.1f} GiB: an exxo binary cannot hold a file of "
                             "4 GiB or more (its zip has no zip64 extension)",
                             hint=f"leave it out ([tool.exxo] exclude = [\"{rel}\"]) and ship it beside the "
                                  "binary, or have the app fetch it")




def own_sources(members: Sequence[Member], location: Path) -> list[str]:
    """The members that are the project's own Python sources (pip installed them into `location`)."""
    rels = (site_relative(m.name) for m in members)
    return [rel for rel in rels if rel.endswith(".py") and (location / rel).is_file()]


def check_own_code(python: Path, members: Sequence[Member], location: Path, tag: str) -> None:
    """The project's own modules must compile with the runtime: collect ships a file that does not compile as
    source only (data named *.py in a dependency), which for the project's code means a binary that fails."""
    names = {site_relative(m.name) for m in members}
    broken = []
    for rel in own_sources(members, location):
        parent, _, leaf = rel.rpartition("/")
        if f"{parent + '/' if parent else ''}__pycache__/{leaf[:-3]}.{tag}.pyc" not in names:
            broken.append(rel)
    if not broken:
        return
    proc = subprocess.run(probes.command(python, "compile_errors", *(str(location / r) for r in broken),
                                         flags=("-I", "-S")), capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError("checking the project's modules failed", log_tail=proc.stderr[-2000:])
    lines = []
    for line in proc.stdout.splitlines():
        path, lineno, msg = line.split("\t", 2)
        lines.append(f"{Path(path).relative_to(location)}, line {lineno}: {msg}")
    if lines:
        raise InputError("the project's own code does not compile with the binary's Python:\n  " + "\n  ".join(lines),
                         hint="fix the syntax error(s), then build again")


def _module_files(names: set[str], module: str, tag: str) -> tuple[str | None, bool]:
    """(the member that defines `module` or None, whether it is a package) among the member names."""
    base = module.replace(".", "/")
    parent, _, leaf = base.rpartition("/")
    cache = (parent + "/" if parent else "") + "__pycache__/"
    for rel, package in ((base + "/__init__.py", True), (f"{base}/__pycache__/__init__.{tag}.pyc", True),
                         (base + ".py", False), (f"{cache}{leaf}.{tag}.pyc", False)):
        if rel in names:
            return rel, package
    for n in names:
        if n.startswith(base + ".") and n.endswith(".so") and "/" not in n[len(base):]:
            return n, False  # an extension module
    if (base + "/") in names or any(n.startswith(base + "/") for n in names):
        return base + "/", True  # a namespace package
    return None, False


def _in_stdlib(python: Path, module: str) -> bool:
    argv = probes.command(python, "find_module", module, flags=("-I", "-S"))
    return subprocess.run(argv, capture_output=True).returncode == 0


_DYNAMIC = {"globals", "vars", "exec", "eval", "setattr", "__dict__", "__getattr__", "modules", "__all__"}


def defines(source: str, attr: str) -> bool | None:
    """Whether the module source binds `attr` at module level; None when that cannot be told statically (a star
    import, a module __getattr__, globals()/setattr/exec, or a source this Python cannot parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    bound: set[str] = set()
    blocks = ("body", "orelse", "finalbody", "handlers", "cases")

    def stores(node: ast.AST) -> None:
        bound.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))

    def visit(body: list[Any]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, (ast.ExceptHandler, ast.match_case)):
                visit(node.body)
            else:  # a simple statement, or an if/for/while/with/try/match at module level: its blocks too
                for field, value in ast.iter_fields(node):
                    if field in blocks:
                        visit(value)
                    elif isinstance(value, ast.AST):
                        stores(value)
                    elif isinstance(value, list):
                        for item in value:
                            if isinstance(item, ast.AST):
                                stores(item)

    visit(tree.body)
    if attr in bound:
        return True
    if "__getattr__" in bound:
        return None
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if name in _DYNAMIC or (isinstance(node, ast.alias) and node.name == "*") or \
                (isinstance(node, ast.Global) and attr in node.names):
            return None
    return False


def check_entry(python: Path, members: Sequence[Member], entry: dict[str, Any], location: Path, tag: str,
                project: str) -> None:
    """The entry point must exist in the binary: its module among the members (or in the stdlib), a package
    run as __main__ must have one, and a function of the project's own module must be defined there."""
    module, attr = entry["module"], entry.get("attr")
    names = {site_relative(m.name) for m in members}
    rel, package = _module_files(names, module, tag)
    what = f"{module}:{attr}" if attr else module
    if rel is None:
        if _in_stdlib(python, module):
            return
        own = sorted({n.split("/")[0].removesuffix(".py") for n in own_sources(members, location)})
        raise InputError(f"the entry point {what} cannot start: there is no module {module} in {project}, its "
                         "requirements or the stdlib",
                         hint="check the module name in --main / [project.scripts]"
                              + (f"; the project's top-level modules: {', '.join(own)}" if own else ""))
    if attr is None:
        if package and not any(n.startswith(f"{module.replace('.', '/')}/__main__.") or
                               n.startswith(f"{module.replace('.', '/')}/__pycache__/__main__.") for n in names):
            raise InputError(f"the entry point {module} is a package without __main__.py: running it as __main__ "
                             "needs one", hint=f"add {module.replace('.', '/')}/__main__.py, or name a function: "
                                               f"--main {module}:main")
        return
    source = location / rel
    if not rel.endswith(".py") or not source.is_file():
        return  # a dependency's module, or compiled code: its attributes are known only by running it
    found = defines(source.read_text(encoding="utf-8", errors="replace"), attr.split(".")[0])
    if found is False:
        raise InputError(f"the entry point {what} cannot start: {rel} defines no {attr.split('.')[0]}",
                         hint="check the function's name in --main / [project.scripts]")
