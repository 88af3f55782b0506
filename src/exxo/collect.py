"""site-packages -> the zip members of the app: the project and what it requires, byte-compiled.

The distributions are the project's requirement closure (markers evaluated for the runtime, extras honoured),
read from the venv's installed metadata (its site-packages and marker environment come from the venv's own
interpreter, probes/interpreter.py); pip, setuptools and wheel come in only when something requires them. Each
distribution contributes the files of its RECORD that live in site-packages. Every `.py` is compiled by the
venv's interpreter (the runtime: bytecode is version-specific; probes/compile.py) into
`__pycache__/<mod>.<tag>.pyc`, unchecked-hash pycs so the result does not depend on file mtimes.
"""

from __future__ import annotations

import csv
import fnmatch
import functools
import io
import json
import marshal
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from exxo import common, probes
from exxo.archive import Member
from exxo.errors import InputError

ALWAYS_EXCLUDED = ("*.pyc", "*/__pycache__/*", "__pycache__/*", "*.dist-info/INSTALLER",
                   "*.dist-info/REQUESTED", "*.dist-info/direct_url.json")


@dataclass
class Inventory:
    site: Path
    dists: dict[str, dict[str, Any]]  # canonical name -> metadata (the first found on the path wins)
    env: dict[str, str]  # PEP 508 marker environment of the venv's interpreter
    tag: str  # sys.implementation.cache_tag, e.g. cpython-313
    version: str
    egg_links: list[str]  # legacy `setup.py develop` installs (site-packages/*.egg-link)


def inventory(python: Path, first: list[Path] | None = None) -> Inventory:
    """The distributions installed in the venv of `python`; those in `first` (dirs) shadow the venv's.

    The venv's interpreter is asked only what it alone knows (`interpreter_facts`, once per process); what is
    installed is read from the metadata files here, so reading it again after pip changed it costs no child.
    """
    facts = interpreter_facts(python)
    site = Path(str(facts["site"]))
    dists: dict[str, dict[str, Any]] = {}
    for d in read_distributions([*(first or []), site]):
        dists.setdefault(canonicalize_name(d["name"]), d)
    egg_links = sorted(n for n in os.listdir(site) if n.endswith(".egg-link")) if site.is_dir() else []
    return Inventory(site, dists, dict(facts["env"]), str(facts["tag"]), str(facts["version"]), egg_links)


def interpreter_facts(python: Path) -> dict[str, Any]:
    """site, env, tag, version of `python` (probes/interpreter.py), asked once per interpreter file."""
    real = python.resolve()
    stat = real.stat() if real.exists() else None
    return dict(_facts(str(python), None if stat is None else (stat.st_ino, stat.st_mtime_ns)))


@functools.cache
def _facts(python: str, identity: tuple[int, int] | None) -> dict[str, Any]:
    # `identity` (the interpreter file's inode and mtime) is part of the cache key: a venv recreated at the
    # same path with another runtime is asked again.
    try:
        proc = common.run_captured(probes.command(python, "interpreter"), f"reading the venv's interpreter {python}",
                                   hint="recreate the venv: exxo venv DIR --clear")
    except OSError as exc:
        raise InputError(f"cannot run the venv's interpreter {python}: {exc.strerror}",
                         hint="recreate the venv: exxo venv DIR --clear") from exc
    facts: dict[str, Any] = json.loads(proc.stdout)
    return facts


def read_distributions(paths: list[Path]) -> list[dict[str, Any]]:
    """Every distribution installed in `paths` (in path order), read from its metadata by this process: the
    files say the same to any interpreter. `scripts`: its console scripts as importlib.metadata parses them."""
    out = []
    for d in metadata.distributions(path=[str(p) for p in paths]):
        info = Path(str(d._path))  # type: ignore[attr-defined]  # the .dist-info / .egg-info directory
        files = d.files
        out.append({
            "name": d.metadata["Name"], "version": d.version, "requires": d.requires or [],
            "files": None if files is None else [str(f) for f in files], "base": str(info.parent),
            "dist_info": info.name, "direct_url": d.read_text("direct_url.json"),
            "top_level": (d.read_text("top_level.txt") or "").split(),
            "scripts": {e.name: e for e in d.entry_points if e.group == "console_scripts"},
        })
    return out


def closure(inv: Inventory, root: str | Sequence[str]) -> tuple[list[str], list[str]]:
    """(canonical names of `root` (one name or several) and all they require here, requirements that are
    missing or unmet).

    Markers are evaluated for the venv's interpreter (the runtime), with the extras each distribution is
    asked for; a distribution reached again with more extras is walked again for those.
    """
    order: list[str] = []
    problems: list[str] = []
    roots = [root] if isinstance(root, str) else list(root)
    todo: list[tuple[str, frozenset[str], Requirement | None]] = [
        (canonicalize_name(r), frozenset(), None) for r in reversed(roots)]
    seen: dict[str, set[str]] = {}
    while todo:
        name, extras, req = todo.pop()
        dist = inv.dists.get(name)
        if dist is None:
            problems.append(str(req) if req else name)
            continue
        if req is not None and req.specifier and not req.specifier.contains(dist["version"], prereleases=True):
            problems.append(f"{req} (installed: {dist['version']})")
        if name in seen and extras <= seen[name]:
            continue
        if name not in seen:
            order.append(name)
        seen.setdefault(name, set()).update(extras)
        for text in dist["requires"]:
            try:
                sub = Requirement(text)
            except InvalidRequirement:
                continue  # not installable by pip either: it cannot be among what is installed
            if sub.marker is not None and not any(
                    sub.marker.evaluate({**inv.env, "extra": extra}) for extra in (seen[name] or {""})):
                continue
            todo.append((canonicalize_name(sub.name), frozenset(sub.extras), sub))
    return order, sorted(set(problems))


def _excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


def _is_editable(dist: dict[str, Any]) -> bool:
    try:
        info = json.loads(dist.get("direct_url") or "{}")
    except ValueError:
        return False
    return bool(isinstance(info, dict) and info.get("dir_info", {}).get("editable"))


def dist_files(inv: Inventory, dist: dict[str, Any]) -> list[str]:
    """The files of one distribution, relative to its base dir: its RECORD (or installed-files.txt), or, when it
    has none, its top-level packages/modules (top_level.txt) and its metadata dir."""
    base = Path(dist["base"])
    if dist["files"] is not None:
        return [f.replace("\\", "/") for f in dist["files"]]
    names = [t for t in dist["top_level"] if t and "/" not in t and t not in (".", "..")]
    if not names:
        raise InputError(f"{dist['name']} has no RECORD and no top_level.txt: exxo cannot tell which files are its "
                         "own", hint=f"reinstall it with pip: pip install --force-reinstall {dist['name']}")
    out = []
    roots = [base / dist["dist_info"], *(base / n for n in names)]
    for top in names:  # single-file modules and extensions: top.py, top.cpython-313-x86_64-linux-gnu.so
        roots += [p for p in base.glob(f"{top}.*") if p.is_file()]
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        out += [p.relative_to(base).as_posix() for p in paths]
    return out


def collect(python: Path, root: str | Sequence[str], include: list[str] | None = None, exclude: list[str] | None = None,
            first: list[Path] | None = None, dependency_sources: bool = True) -> tuple[list[Member], Inventory]:
    """The zip members of the app: `root`'s closure from the venv (with `first` dirs shadowing it). Without
    `dependency_sources`, a dependency's `.py` whose bytecode compiled is left out (the roots' stay)."""
    inv = inventory(python, first)
    names, problems = closure(inv, root)
    missing = [p for p in problems if "(installed:" not in p]
    if missing:
        hint = "install them in the exxo venv (pip install ...), then build again"
        if inv.egg_links:
            hint += "\nnote: the venv has `setup.py develop` installs (" + ", ".join(inv.egg_links) + \
                ") that exxo cannot ship: pip install them normally"
        what = root if isinstance(root, str) else ", ".join(root)
        raise InputError(f"{what} needs distributions that are not installed in the venv: {', '.join(missing)}",
                         hint=hint)
    roots = [p.resolve() for p in (python.parent.parent, *(first or ()))]  # the venv, the project's install
    patterns = ALWAYS_EXCLUDED + tuple(exclude or ())
    files: dict[str, Path] = {}  # site-packages-relative name -> file on disk
    own: set[str] = set()  # the roots' own files (their sources always ship)
    root_names = {canonicalize_name(r) for r in ([root] if isinstance(root, str) else root)}
    data_files: dict[str, Path] = {}  # prefix-relative name (share/..., etc/...) -> file on disk
    for name in names:
        dist = inv.dists[name]
        if _is_editable(dist):
            raise InputError(f"{dist['name']} is installed in editable mode; exxo cannot ship an editable install "
                             "of a dependency", hint=f"reinstall it normally: pip install {dist['name']}")
        base = Path(dist["base"])
        for rel in dist_files(inv, dist):
            if rel.startswith("/") or _excluded(rel, patterns):
                continue
            if rel.startswith("../"):  # installed outside site-packages: data under the prefix, scripts
                outside = prefix_relative(base, rel, inv.version)
                if outside is not None and (base / rel).is_file():
                    data_files.setdefault(outside, base / rel)
                continue
            if (base / rel).is_file():
                files.setdefault(rel, _inside(base / rel, [base.resolve(), *roots]))
                if name in root_names:
                    own.add(rel)
    for pattern in include or ():
        matched = [p for p in inv.site.glob(pattern) if p.is_file()]
        if not matched:
            raise InputError(f"[tool.exxo] include pattern {pattern!r} matches no file in {inv.site}",
                             hint="patterns are relative to site-packages, e.g. include = [\"mypkg/data/*\"]")
        for p in matched:
            files.setdefault(p.relative_to(inv.site).as_posix(), _inside(p, [inv.site.resolve(), *roots]))
    members = [Member(rel, _filtered_record(files[rel].read_bytes(), files) if rel.endswith(".dist-info/RECORD")
                      else files[rel].read_bytes()) for rel in sorted(files)]
    sources = {rel: path for rel, path in files.items() if rel.endswith(".py")}
    compiled = compile_sources(python, sources, inv.tag, pyc_cache())
    members += compiled
    if not dependency_sources:
        has_pyc = {_source_of(m.name, inv.tag) for m in compiled}
        members = [m for m in members if m.name in own or m.name not in has_pyc]
    # The binary is the prefix: site-packages at its place in it, data files at theirs (docs/design.md).
    site = site_packages_prefix(inv.version)
    return [Member(site + m.name, m.data) for m in members] + [
        Member(rel, data_files[rel].read_bytes()) for rel in sorted(data_files)], inv


def _source_of(pyc: str, tag: str) -> str:
    """`pkg/__pycache__/mod.<tag>.pyc` -> `pkg/mod.py`."""
    parent, _, leaf = pyc.rpartition("__pycache__/")
    return parent + leaf.removesuffix(f".{tag}.pyc") + ".py"


def site_packages_prefix(version: str) -> str:
    """Where site-packages members go in the binary: `lib/python3.X/site-packages/`, as in a venv."""
    return "lib/python{}/site-packages/".format(".".join(version.split(".")[:2]))


# Prefix directories whose files an installed app never reads: console scripts (the binary is the entry
# point; their shebangs name the build machine's venv) and C headers.
_PREFIX_SKIPPED = ("bin/", "include/", "lib/")


def prefix_relative(base: Path, rel: str, version: str) -> str | None:
    """A RECORD path outside site-packages (`../../../share/jupyter/...`) as a path relative to the
    installation prefix (`share/jupyter/...`), or None when it is not data under the prefix."""
    site = site_packages_prefix(version).rstrip("/")
    if base.as_posix().rstrip("/").endswith("/" + site):  # a venv's (or an installation's) site-packages
        inside = os.path.normpath(site + "/" + rel).replace(os.sep, "/")
        if not inside.startswith(("../", "/")) and inside != ".." and not inside.startswith(_PREFIX_SKIPPED):
            return inside
    return None


def _inside(path: Path, roots: list[Path]) -> Path:
    """`path`, when it is (or links to) a file inside `roots` (its site-packages, the venv, the project's
    install): a symlink to anything outside (/etc/passwd) is refused, never embedded."""
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in roots):
        raise InputError(f"{path} is a symlink to {real}, outside the venv: exxo embeds only files of the venv",
                         hint="replace the link by a copy of the file, or leave it out with [tool.exxo] exclude")
    return path


def _filtered_record(data: bytes, shipped: dict[str, Path]) -> bytes:
    """A RECORD listing only what the binary carries: no installer files (direct_url.json names the build
    machine's paths, so it would make the binary depend on where the project was), no scripts outside."""
    rows = csv.reader(io.StringIO(data.decode("utf-8")))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        if row and (row[0] in shipped or row[0].endswith(".dist-info/RECORD")):
            writer.writerow(row)
    return out.getvalue().encode("utf-8")


def pyc_cache() -> Path | None:
    if os.environ.get("EXXO_NO_PYC_CACHE"):
        return None
    return common.cache_root() / "pyc"


def compile_sources(python: Path, sources: dict[str, Path], tag: str, cache: Path | None = None) -> list[Member]:
    """`pkg/mod.py` -> `pkg/__pycache__/mod.<tag>.pyc`, compiled by `python` (probes/compile.py: unchecked-hash
    pycs), reusing the pycs in `cache` made by earlier builds."""
    request = "\0".join(f"{rel}\0{path}" for rel, path in sorted(sources.items()))
    proc = common.run_captured(probes.command(python, "compile", str(cache or ""), flags=("-I", "-S")),
                               "byte-compiling the app", input=request.encode())
    compiled: dict[str, bytes] = marshal.loads(proc.stdout)
    members = []
    for rel, pyc in sorted(compiled.items()):
        parent, _, leaf = rel.rpartition("/")
        members.append(Member((parent + "/" if parent else "") + f"__pycache__/{leaf[:-3]}.{tag}.pyc", pyc))
    return members
