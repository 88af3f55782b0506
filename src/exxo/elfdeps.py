"""Which bundled member each DT_NEEDED name of an ELF member is, decided at build time as the dynamic loader
would decide it in site-packages, and recorded in the manifest (`deps`) for the boot to use in both native
modes.

The loader looks a name up in the object's own search path first (DT_RUNPATH, else DT_RPATH; `$ORIGIN` is
the object's directory), by file name. A name it does not find there can only be satisfied by a library
already loaded under that SONAME (a package's `__init__` preloads its libraries with ctypes), so that comes
next, then any member of that file name. The order matters when a wheel ships identical copies of one
library under several file names with one SONAME: resolving by SONAME first named a copy that the loader,
following RUNPATH in the native cache, never looks for (issue 12, item 9).
"""

from __future__ import annotations

import posixpath
from typing import Any


def _search_dirs(member: str, runpath: list[str]) -> list[str]:
    """The member-relative directories of a RUNPATH/RPATH; absolute ones lie outside the binary."""
    origin = posixpath.dirname(member)
    out = []
    for entry in runpath:
        d = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        if entry and not d.startswith("/") and "$" not in d:
            out.append(d)
    return out


def resolve_needed(facts: dict[str, dict[str, Any]]) -> None:
    """Adds `deps` ({DT_NEEDED name: member}, bundled names only, never the member itself) to every entry of
    `facts` (ELF member -> format.ELF_FIELDS object). Deterministic: ties go to the first member by name."""
    by_soname: dict[str, str] = {}
    by_file: dict[str, str] = {}
    for member in sorted(facts):
        if facts[member].get("soname"):
            by_soname.setdefault(facts[member]["soname"], member)
        by_file.setdefault(posixpath.basename(member), member)
    for member in sorted(facts):
        entry = facts[member]
        deps: dict[str, str] = {}
        for needed in entry.get("needed", ()):
            if "/" in needed:  # a path: the loader opens it as it is, nothing to resolve
                continue
            found = next((c for d in _search_dirs(member, entry.get("runpath", []))
                          if (c := posixpath.normpath(posixpath.join(d, needed))) in facts), None)
            found = found or by_soname.get(needed) or by_file.get(needed)
            if found is not None and found != member:
                deps[needed] = found
        entry["deps"] = deps
