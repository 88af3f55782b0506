"""`exxo inspect BINARY [--json] [--list] [--sbom] [--sizes]`: what an exxo binary carries, and where its bytes
go."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from exxo import format as fmt
from exxo.archive import read_info
from exxo.sizes import print_sizes, size_report


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inspect", help="show what an exxo binary carries",
                       description="Show the runtime version, exxo version, entry point, build id, sizes, "
                       "native libraries and (with --list) every file of an exxo binary.",
                       epilog="examples:\n  exxo inspect dist/app\n  exxo inspect dist/app --json --list | jq .files\n"
                              "  exxo inspect --sbom dist/app > app.cdx.json   # CycloneDX 1.6: distributions, "
                              "runtime, libraries",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binary", type=Path)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--list", action="store_true", help="list every file")
    p.add_argument("--sbom", action="store_true",
                   help="print a CycloneDX 1.6 SBOM (JSON): every distribution with its licence and file hashes, "
                        "the CPython runtime and the libraries linked into it, the libraries wheels bundle")
    p.add_argument("--sizes", action="store_true",
                   help="where the bytes go: the biggest packages and members, in the file vs unpacked")
    p.add_argument("--top", type=int, default=15, metavar="N", help="rows per --sizes table (15)")
    p.set_defaults(run=run)


def summary(manifest: dict[str, Any], path: Path) -> dict[str, Any]:
    files = {k: v for k, v in manifest["files"].items() if not v[fmt.F_IS_DIR]}
    entry = manifest["entry"]
    return {
        "path": str(path),
        "python": manifest["python"].get("version"),
        "target": manifest["python"].get("target") or elf_target(path),
        "exxo_version": manifest["exxo_version"],
        "entry": f"{entry['module']}:{entry['attr']}" if entry.get("attr") else entry["module"],
        "entry_name": entry.get("name"),
        "build_id": manifest["build_id"],
        "native_mode": manifest["native"],
        "sizes": manifest["_sizes"] | {"files_uncompressed": sum(v[fmt.F_SIZE] for v in files.values())},
        "file_count": len(files),
        "scripts": answers_to(manifest),
        "native_libraries": {k: {"soname": v.get("soname"), "needed": v.get("needed", [])}
                             for k, v in sorted(manifest.get("elf", {}).items())},
    }


def elf_target(path: Path) -> str:
    """The processor the binary is for, from its ELF header (e_machine)."""
    with open(path, "rb") as f:
        head = f.read(20)
    machine = int.from_bytes(head[18:20], "little") if len(head) == 20 else 0
    return {62: "x86_64", 183: "aarch64"}.get(machine, f"unknown (e_machine {machine})")


def answers_to(manifest: dict[str, Any]) -> list[str]:
    """The names the binary answers to when run under them (argv[0]): its console scripts (a multi-call binary
    has several), and python, python3, python3.X, under which it is the app's Python interpreter."""
    entry = manifest["entry"]
    scripts = sorted(entry.get("scripts") or ([entry["name"]] if entry.get("name") else []))
    minor = manifest["python"].get("minor") or ""
    return scripts + ["python", "python3"] + ([f"python{minor}"] if minor else [])


def run(args: argparse.Namespace) -> int:
    if args.sbom:
        from exxo import sbom

        print(sbom.render(args.binary), end="")
        return 0
    manifest = read_info(args.binary)
    info = summary(manifest, args.binary)
    if args.list:
        info["files"] = sorted(k for k, v in manifest["files"].items() if not v[fmt.F_IS_DIR])
    if args.sizes:
        info["size_report"] = size_report(manifest, args.top)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    s = info["sizes"]
    print(f"{info['path']}: exxo binary\n"
          f"  runs        {info['entry_name']} -> {info['entry']}\n"
          f"  answers to  {', '.join(info['scripts'])}\n"
          f"  runtime     CPython {info['python']}\n"
          f"  target      {info['target']}\n"
          f"  built by    exxo {info['exxo_version']}, build id {info['build_id']}\n"
          f"  native mode {info['native_mode']}\n"
          f"  size        {s['file'] / 1e6:.1f} MB (runtime {s['runtime'] / 1e6:.1f} MB, "
          f"zip {s['zip'] / 1e6:.1f} MB, {info['file_count']} files, {s['files_uncompressed'] / 1e6:.1f} MB "
          "unpacked)")
    libs = info["native_libraries"]
    print(f"  native      {len(libs)} ELF files" + ("" if not libs else ":"))
    for name, facts in libs.items():
        needed = ", ".join(facts["needed"])
        print(f"    {name}" + (f"  (SONAME {facts['soname']})" if facts["soname"] else "")
              + (f"  needs {needed}" if needed else ""))
    for name in info.get("files", []):
        print(f"  {name}")
    if args.sizes:
        print_sizes(info["size_report"])
    return 0
