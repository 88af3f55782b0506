"""`exxo inspect --sizes`: where a binary's bytes go, so a user sees what to trim.

Members are grouped into packages (a site-packages top-level name, the stdlib, prefix data, exxo's own
parts); each group and each of the biggest members shows its bytes in the file (compressed or stored, an
identical copy stored once counted once) next to its unpacked size.
"""

from __future__ import annotations

from typing import Any

from exxo import format as fmt

METHODS = {fmt.METHOD_STORED: "stored", fmt.METHOD_DEFLATED: "deflated", fmt.METHOD_ZSTD: "zstd"}


def package_of(name: str, stdlib_prefix: str) -> str:
    """The group a member belongs to: `numpy` (and `numpy.libs`, its metadata), `stdlib`, `share/`, `exxo`."""
    site = stdlib_prefix + "/site-packages/"
    if name.startswith(site):
        top = name[len(site):].split("/", 1)[0]
        if top == "__pycache__":  # single-file modules' bytecode: site-packages/__pycache__/six.cpython-313.pyc
            top = name[len(site):].split("/")[1].split(".", 1)[0]
        if top.endswith((".dist-info", ".egg-info")):
            return "(distribution metadata)"
        return top.removesuffix(".py").split(".cpython-")[0].split(".abi3")[0]
    if name.startswith(stdlib_prefix + "/"):
        return "stdlib"
    if name.startswith(fmt.RESERVED_PREFIX) or name == fmt.MAIN_NAME:
        return "exxo (boot, index, manifest)"
    return name.split("/", 1)[0] + "/" if "/" in name else name


def _kind(name: str, elf: dict[str, Any]) -> str:
    if name in elf:
        return "native"
    if name.endswith(".pyc"):
        return "bytecode"
    if name.endswith(".py"):
        return "source"
    return "data"


def size_report(manifest: dict[str, Any], top: int = 15) -> dict[str, Any]:
    """Per package and per kind (native, bytecode, source, data): in-file and unpacked bytes; the biggest
    members; what storing identical copies once saved."""
    files = manifest["files"]
    elf = manifest.get("elf", {})
    prefix = manifest["stdlib_prefix"]
    packages: dict[str, dict[str, int]] = {}
    kinds: dict[str, dict[str, int]] = {}
    seen: set[int] = set()
    members = []
    shared = saved = 0
    for name in sorted(files):
        e = files[name]
        if e[fmt.F_IS_DIR]:
            continue
        first = e[fmt.F_OFFSET] not in seen or e[fmt.F_CSIZE] == 0
        seen.add(e[fmt.F_OFFSET])
        in_file = e[fmt.F_CSIZE] if first else 0
        if not first:
            shared += 1
            saved += e[fmt.F_CSIZE]
        for table, key in ((packages, package_of(name, prefix)), (kinds, _kind(name, elf))):
            row = table.setdefault(key, {"in_file": 0, "unpacked": 0, "files": 0})
            row["in_file"] += in_file
            row["unpacked"] += e[fmt.F_SIZE]
            row["files"] += 1
        members.append({"name": name, "in_file": in_file, "unpacked": e[fmt.F_SIZE],
                        "method": METHODS.get(e[fmt.F_METHOD], str(e[fmt.F_METHOD])) if first else "copy"})
    members.sort(key=lambda m: (-m["in_file"], -m["unpacked"], m["name"]))
    return {
        "file": manifest["_sizes"]["file"],
        "runtime": manifest["_sizes"]["runtime"],
        "zip": manifest["_sizes"]["zip"],
        "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1]["in_file"])),
        "packages": dict(sorted(packages.items(), key=lambda kv: (-kv[1]["in_file"], kv[0]))[:top]),
        "members": members[:top],
        "identical_copies": {"names": shared, "saved": saved},
    }


def _mb(n: int) -> str:
    return f"{n / 1e6:8.2f} MB"


def print_sizes(r: dict[str, Any]) -> None:
    print(f"\n  sizes       {r['file'] / 1e6:.1f} MB: runtime ELF {r['runtime'] / 1e6:.1f} MB, "
          f"zip {r['zip'] / 1e6:.1f} MB")
    print(f"\n  {'kind':<34}{'in file':>11}{'unpacked':>12}{'files':>8}")
    for key, row in r["kinds"].items():
        print(f"  {key:<34}{_mb(row['in_file'])}{_mb(row['unpacked'])} {row['files']:>7}")
    print(f"\n  {'biggest packages':<34}{'in file':>11}{'unpacked':>12}{'files':>8}")
    for key, row in r["packages"].items():
        print(f"  {key:<34}{_mb(row['in_file'])}{_mb(row['unpacked'])} {row['files']:>7}")
    print(f"\n  {'biggest members':<34}{'in file':>11}{'unpacked':>12}  method")
    for m in r["members"]:
        print(f"  {m['name']}\n  {'':<34}{_mb(m['in_file'])}{_mb(m['unpacked'])}  {m['method']}")
    copies = r["identical_copies"]
    if copies["names"]:
        print(f"\n  identical copies stored once: {copies['names']} names, {copies['saved'] / 1e3:,.1f} kB saved")
    print("\n  trim with [tool.exxo] exclude = [\"pkg/tests/*\"] (site-packages globs), stdlib-exclude = [\"module\"];"
          "\n  `exxo build -c` for the smallest binary (docs/reference.md)")
