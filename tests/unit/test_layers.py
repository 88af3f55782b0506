"""The shape of src/exxo: the runtime layer never imports the pipeline, no import cycles, small modules.

The import graph is read from the source (ast), function-level imports included (a lazy import is still an
arrow); imports under `if TYPE_CHECKING:` are not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import exxo

SRC = Path(exxo.__file__).resolve().parent
PIPELINE = {"exxo.archive", "exxo.build", "exxo.collect", "exxo.project", "exxo.venv", "exxo.inspect", "exxo.cli",
            "exxo.toolenv", "exxo.sbom",
            "exxo.compress"}
# What every layer may import; these import no other exxo module but each other. exxo.format is the binary
# format's one definition, shared by the runtime's writers, the pipeline and the boot (which ships it).
LOW_LEVEL = {"exxo.common", "exxo.errors", "exxo.progress", "exxo.format"}
# Known arrows from exxo.runtime up into the pipeline, each with the reason it is still there (none today:
# the self-hosted runtime's writer moved from exxo.archive to exxo.runtime.selfhost).
ALLOWED_UPWARD: set[tuple[str, str]] = set()
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = ("exxo", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports_of(name: str) -> set[str]:
    path = MODULES[name]
    return parse_imports(path.read_text(), name, path.name == "__init__.py")


def parse_imports(source: str, name: str, is_package: bool = False) -> set[str]:
    """The exxo modules the module `name` imports (a `from pkg import x` names pkg.x when that is a module)."""
    tree = ast.parse(source)
    skip = _type_checking_only(tree)
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def test_the_graph_is_read() -> None:
    # the reader itself: arrows that are known to exist, a lazy one and a from-import of a module among them
    assert "exxo.errors" in GRAPH["exxo.runtime.sources"]
    assert "exxo.collect" in GRAPH["exxo.project"]  # imported inside functions
    assert {"exxo.build", "exxo.runtime.command"} <= GRAPH["exxo.cli"]
    source = ("from typing import TYPE_CHECKING\nfrom . import sources\nif TYPE_CHECKING:\n"
              "    from exxo.archive import Member\ndef f():\n    from ..collect import inventory\n")
    assert parse_imports(source, "exxo.runtime.x") == {"exxo.runtime.sources", "exxo.collect"}


def test_runtime_never_imports_the_pipeline() -> None:
    upward = {(src, dst) for src, dsts in GRAPH.items() if src.startswith("exxo.runtime") for dst in dsts
              if dst in PIPELINE}
    assert upward - ALLOWED_UPWARD == set()
    assert ALLOWED_UPWARD <= upward, "an allowed arrow is gone: remove it from ALLOWED_UPWARD"


def test_low_level_modules_import_only_each_other() -> None:
    assert LOW_LEVEL <= set(MODULES)
    for name in LOW_LEVEL:
        assert GRAPH[name] <= LOW_LEVEL, (name, GRAPH[name] - LOW_LEVEL)


def test_probes_import_no_exxo_module() -> None:
    # They run in the venv's interpreter, where exxo is not importable (exxo.probes itself only reads them).
    for name in MODULES:
        if name.startswith("exxo.probes."):
            assert GRAPH[name] == set(), name


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(GRAPH) == []


def test_no_module_is_too_long() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (more than {MAX_LINES} lines)"
