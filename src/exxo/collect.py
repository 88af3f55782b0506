"""site-packages -> the zip members of the app: the project and what it requires, byte-compiled.

The distributions are the project's requirement closure (markers evaluated for the runtime, extras honoured),
read from the venv's installed metadata by the venv's own interpreter; pip, setuptools and wheel come in only
when something requires them. Each distribution contributes the files of its RECORD that live in
site-packages. Every `.py` is compiled by the venv's interpreter (the runtime: bytecode is version-specific)
into `__pycache__/<mod>.<tag>.pyc`, unchecked-hash pycs so the result does not depend on file mtimes.
"""

from __future__ import annotations

import fnmatch
import json
import marshal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from exxo.archive import Member
from exxo.errors import BuildError, InputError

_INVENTORY = r"""
import json, sys, sysconfig, platform, os, importlib.metadata as m
site = sysconfig.get_paths()["purelib"]
dists = []
for d in m.distributions(path=[site]):
    files = [str(f) for f in (d.files or [])]
    direct = d.read_text("direct_url.json")
    dists.append({"name": d.metadata["Name"], "version": d.version, "requires": d.requires or [],
                  "files": files, "dist_info": os.path.basename(str(d._path)), "direct_url": direct})
impl = sys.implementation
env = {"implementation_name": impl.name,
       "implementation_version": "%d.%d.%d" % impl.version[:3],
       "os_name": os.name, "platform_machine": platform.machine(), "platform_release": platform.release(),
       "platform_system": platform.system(), "platform_version": platform.version(),
       "python_full_version": platform.python_version(), "platform_python_implementation":
       platform.python_implementation(), "python_version": "%d.%d" % sys.version_info[:2],
       "sys_platform": sys.platform}
print(json.dumps({"site": site, "dists": dists, "env": env, "tag": sys.implementation.cache_tag,
                  "version": platform.python_version()}))
"""

_COMPILE = r"""
import importlib.util, marshal, sys
from importlib._bootstrap_external import _code_to_hash_pyc
root = sys.argv[1]
out = {}
for rel in sys.stdin.read().split("\0"):
    if not rel:
        continue
    with open(root + "/" + rel, "rb") as f:
        source = f.read()
    try:
        code = compile(source, root + "/" + rel, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        continue  # shipped as source only (e.g. templates named *.py, py2-only test data)
    out[rel] = _code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False)
sys.stdout.buffer.write(marshal.dumps(out))
"""

ALWAYS_EXCLUDED = ("*.pyc", "*/__pycache__/*", "__pycache__/*", "*.dist-info/INSTALLER",
                   "*.dist-info/REQUESTED", "*.dist-info/direct_url.json")


@dataclass
class Inventory:
    site: Path
    dists: dict[str, dict[str, Any]]  # canonical name -> metadata
    env: dict[str, str]
    tag: str
    version: str


def inventory(python: Path) -> Inventory:
    proc = subprocess.run([str(python), "-I", "-c", _INVENTORY], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"cannot read the venv's installed packages with {python}", log_tail=proc.stderr[-2000:])
    data = json.loads(proc.stdout)
    dists: dict[str, dict[str, Any]] = {canonicalize_name(d["name"]): d for d in data["dists"]}
    return Inventory(Path(data["site"]), dists, data["env"], data["tag"], data["version"])


def closure(inv: Inventory, root: str) -> list[str]:
    """Canonical names of `root` and everything it requires in this environment."""
    order: list[str] = []
    todo: list[tuple[str, frozenset[str]]] = [(canonicalize_name(root), frozenset())]
    seen: dict[str, set[str]] = {}
    while todo:
        name, extras = todo.pop()
        if name in seen and extras <= seen[name]:
            continue
        dist = inv.dists.get(name)
        if dist is None:
            raise InputError(f"{name} is required but not installed in the venv",
                             hint=f"pip install {name} (in the exxo venv), then build again")
        if name not in seen:
            order.append(name)
        seen.setdefault(name, set()).update(extras)
        for text in dist["requires"]:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not any(
                    _marker_ok(req.marker, inv.env, extra) for extra in (seen[name] or {""})):
                continue
            todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    return order


def _marker_ok(marker: Marker, env: dict[str, str], extra: str) -> bool:
    return marker.evaluate({**env, "extra": extra})


def _excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in patterns)


def collect(python: Path, root: str, include: list[str] | None = None,
            exclude: list[str] | None = None) -> tuple[list[Member], Inventory]:
    inv = inventory(python)
    names = closure(inv, root)
    patterns = ALWAYS_EXCLUDED + tuple(exclude or ())
    files: set[str] = set()
    for name in names:
        dist = inv.dists[name]
        if name != canonicalize_name(root) and dist.get("direct_url") and '"editable": true' in dist["direct_url"]:
            raise InputError(f"{dist['name']} is installed in editable mode; exxo cannot ship an editable install",
                             hint=f"reinstall it normally: pip install {dist['name']}")
        if not dist["files"]:
            raise InputError(f"{dist['name']} has no RECORD: exxo cannot tell which files are its own",
                             hint=f"reinstall it with pip: pip install --force-reinstall {dist['name']}")
        for rel in dist["files"]:
            rel = rel.replace("\\", "/")
            if rel.startswith("../") or rel.startswith("/") or _excluded(rel, patterns):
                continue  # scripts and data outside site-packages; caches
            if (inv.site / rel).is_file():
                files.add(rel)
    for pattern in include or ():
        files.update(str(p.relative_to(inv.site)) for p in inv.site.glob(pattern) if p.is_file())
    sources = sorted(f for f in files if f.endswith(".py"))
    proc = subprocess.run([str(python), "-I", "-S", "-c", _COMPILE, str(inv.site)],
                          input="\0".join(sources).encode(), capture_output=True)
    if proc.returncode != 0:
        raise BuildError("byte-compiling the app failed", log_tail=proc.stderr.decode()[-2000:])
    compiled: dict[str, bytes] = marshal.loads(proc.stdout)
    members = [Member(rel, (inv.site / rel).read_bytes()) for rel in sorted(files)]
    for rel, pyc in compiled.items():
        parent, _, leaf = rel.rpartition("/")
        cached = (parent + "/" if parent else "") + f"__pycache__/{leaf[:-3]}.{inv.tag}.pyc"
        members.append(Member(cached, pyc))
    return members, inv
