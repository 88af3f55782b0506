"""site-packages -> the zip members of the app: the project and what it requires, byte-compiled.

The distributions are the project's requirement closure (markers evaluated for the runtime, extras honoured),
read from the venv's installed metadata by the venv's own interpreter; pip, setuptools and wheel come in only
when something requires them. Each distribution contributes the files of its RECORD that live in
site-packages. Every `.py` is compiled by the venv's interpreter (the runtime: bytecode is version-specific)
into `__pycache__/<mod>.<tag>.pyc`, unchecked-hash pycs so the result does not depend on file mtimes.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import marshal
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from exxo.archive import Member
from exxo.errors import BuildError, InputError

_INVENTORY = r"""
import json, sys, sysconfig, platform, os, importlib.metadata as m
site = sysconfig.get_paths()["purelib"]
paths = sys.argv[1:] + [site]
dists = []
for d in m.distributions(path=paths):
    base = os.path.dirname(str(d._path))
    files = d.files
    top = d.read_text("top_level.txt")
    dists.append({"name": d.metadata["Name"], "version": d.version, "requires": d.requires or [],
                  "files": None if files is None else [str(f) for f in files], "base": base,
                  "dist_info": os.path.basename(str(d._path)), "direct_url": d.read_text("direct_url.json"),
                  "top_level": (top or "").split()})
impl = sys.implementation
env = {"implementation_name": impl.name,
       "implementation_version": "%d.%d.%d" % impl.version[:3],
       "os_name": os.name, "platform_machine": platform.machine(), "platform_release": platform.release(),
       "platform_system": platform.system(), "platform_version": platform.version(),
       "python_full_version": platform.python_version(), "platform_python_implementation":
       platform.python_implementation(), "python_version": "%d.%d" % sys.version_info[:2],
       "sys_platform": sys.platform}
egg_links = [n for n in os.listdir(site) if n.endswith(".egg-link")] if os.path.isdir(site) else []
print(json.dumps({"site": site, "dists": dists, "env": env, "tag": sys.implementation.cache_tag,
                  "version": platform.python_version(), "egg_links": egg_links}))
"""

# argv[1]: cache dir ("" for none); stdin: "rel\0path\0rel\0path..."; stdout: marshal {rel: pyc bytes}.
# The code's co_filename is `rel`: the boot rewrites it to the member's path inside the binary, and no
# build-machine path ends up in the binary. A pyc depends only on (interpreter, rel, source), so it is cached
# under their hash: the next build of the same app compiles only what changed.
_COMPILE = r"""
import hashlib, importlib.util, marshal, os, sys, tempfile
from importlib._bootstrap_external import _code_to_hash_pyc
cache = sys.argv[1]
salt = importlib.util.MAGIC_NUMBER + sys.version.encode() + b"\0"
items = sys.stdin.buffer.read().decode().split("\0")
out = {}
for rel, path in zip(items[0::2], items[1::2]):
    with open(path, "rb") as f:
        source = f.read()
    key = hashlib.sha256(salt + rel.encode() + b"\0" + source).hexdigest()
    cached = os.path.join(cache, key[:2], key[2:] + ".pyc") if cache else ""
    try:
        with open(cached, "rb") as f:
            pyc = f.read()
        if pyc[:4] == importlib.util.MAGIC_NUMBER and len(pyc) > 16:
            out[rel] = pyc
            continue
    except OSError:
        pass
    try:
        code = compile(source, rel, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        continue  # shipped as source only (e.g. templates named *.py, py2-only test data)
    out[rel] = pyc = _code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False)
    if cache:
        try:
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(cached))
            with os.fdopen(fd, "wb") as f:
                f.write(pyc)
            os.replace(tmp, cached)
        except OSError:
            pass  # a read-only or full cache only costs time
sys.stdout.buffer.write(marshal.dumps(out))
"""

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
    """The distributions installed in the venv of `python`; those in `first` (dirs) shadow the venv's."""
    argv = [str(python), "-I", "-c", _INVENTORY, *map(str, first or [])]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True)
    except OSError as exc:
        raise InputError(f"cannot run the venv's interpreter {python}: {exc.strerror}",
                         hint="recreate the venv: exxo venv DIR --clear") from exc
    if proc.returncode != 0:
        raise BuildError(f"cannot read the venv's installed packages with {python}", log_tail=proc.stderr[-2000:])
    data = json.loads(proc.stdout)
    dists: dict[str, dict[str, Any]] = {}
    for d in data["dists"]:
        dists.setdefault(canonicalize_name(d["name"]), d)
    return Inventory(Path(data["site"]), dists, data["env"], data["tag"], data["version"], data["egg_links"])


def closure(inv: Inventory, root: str) -> tuple[list[str], list[str]]:
    """(canonical names of `root` and all it requires here, requirements that are missing or unmet).

    Markers are evaluated for the venv's interpreter (the runtime), with the extras each distribution is
    asked for; a distribution reached again with more extras is walked again for those.
    """
    order: list[str] = []
    problems: list[str] = []
    todo: list[tuple[str, frozenset[str], Requirement | None]] = [(canonicalize_name(root), frozenset(), None)]
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


def collect(python: Path, root: str, include: list[str] | None = None, exclude: list[str] | None = None,
            first: list[Path] | None = None) -> tuple[list[Member], Inventory]:
    """The zip members of the app: `root`'s closure from the venv (with `first` dirs shadowing it)."""
    inv = inventory(python, first)
    names, problems = closure(inv, root)
    missing = [p for p in problems if "(installed:" not in p]
    if missing:
        hint = "install them in the exxo venv (pip install ...), then build again"
        if inv.egg_links:
            hint += "\nnote: the venv has `setup.py develop` installs (" + ", ".join(inv.egg_links) + \
                ") that exxo cannot ship: pip install them normally"
        raise InputError(f"{root} needs distributions that are not installed in the venv: {', '.join(missing)}",
                         hint=hint)
    roots = [p.resolve() for p in (python.parent.parent, *(first or ()))]  # the venv, the project's install
    patterns = ALWAYS_EXCLUDED + tuple(exclude or ())
    files: dict[str, Path] = {}  # member name -> file on disk
    for name in names:
        dist = inv.dists[name]
        if _is_editable(dist):
            raise InputError(f"{dist['name']} is installed in editable mode; exxo cannot ship an editable install "
                             "of a dependency", hint=f"reinstall it normally: pip install {dist['name']}")
        base = Path(dist["base"])
        for rel in dist_files(inv, dist):
            if rel.startswith("../") or rel.startswith("/") or _excluded(rel, patterns):
                continue  # scripts and data outside site-packages; caches
            if (base / rel).is_file():
                files.setdefault(rel, _inside(base / rel, [base.resolve(), *roots]))
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
    members += compile_sources(python, sources, inv.tag, pyc_cache())
    return members, inv


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
    from exxo.runtime.bootstrap import cache_root

    return cache_root() / "pyc"


def compile_sources(python: Path, sources: dict[str, Path], tag: str, cache: Path | None = None) -> list[Member]:
    """`pkg/mod.py` -> `pkg/__pycache__/mod.<tag>.pyc`, compiled by `python` (unchecked-hash pycs), reusing
    the pycs in `cache` made by earlier builds."""
    request = "\0".join(f"{rel}\0{path}" for rel, path in sorted(sources.items()))
    proc = subprocess.run([str(python), "-I", "-S", "-c", _COMPILE, str(cache or "")], input=request.encode(),
                          capture_output=True)
    if proc.returncode != 0:
        raise BuildError("byte-compiling the app failed", log_tail=proc.stderr.decode(errors="replace")[-2000:])
    compiled: dict[str, bytes] = marshal.loads(proc.stdout)
    members = []
    for rel, pyc in sorted(compiled.items()):
        parent, _, leaf = rel.rpartition("/")
        members.append(Member((parent + "/" if parent else "") + f"__pycache__/{leaf[:-3]}.{tag}.pyc", pyc))
    return members
