"""The package list harness (`make compat`): ../shared/compat/packages.toml, one exxo binary per entry.

For each entry: an exxo venv with the entry's requirements (pip's wheel cache under ~/.cache makes reruns
fast), a generated project whose console script exec()s the smoke snippet, `exxo build`, then the binary is
copied to an empty directory and run with `env -i`, once per native-loading mode (memfd, cache). Results go to
docs/compatibility.md (and a JSON file beside it).

    python tests/compat/harness.py [--only name,name] [--out docs/compatibility.md] [--jobs N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT.parent / "shared" / "compat" / "packages.toml"
sys.path.insert(0, str(ROOT))

from tests.projects import write_project  # noqa: E402

EXXO = [sys.executable, "-m", "exxo"]
MODES = ("memfd", "cache")


@dataclass
class Result:
    name: str
    version: str = ""
    modes: dict[str, str] = field(default_factory=dict)  # mode -> "pass" | error text
    build_error: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.build_error and all(v == "pass" for v in self.modes.values()) and bool(self.modes)


def load_entries() -> list[dict[str, object]]:
    data = tomllib.loads(PACKAGES.read_text())
    return list(data["package"])


def project_for(entry: dict[str, object], dest: Path, as_code: bool = False) -> None:
    """The entry's project. `as_code`: the snippet is a module of the project rather than a string it exec()s,
    as an app's code is (what `stdlib = "imported"`, the default of -c, reads its imports from)."""
    module = "compat_" + "".join(c if c.isalnum() else "_" for c in str(entry["name"]).lower())
    snippet = str(entry["smoke"])
    files = {"__init__.py": (f"SNIPPET = {snippet!r}\n\n"
                             "def main():\n"
                             "    exec(compile(SNIPPET, '<smoke>', 'exec'), {'__name__': '__smoke__'})\n"
                             "    print('SMOKE-OK')\n"
                             "    return 0\n")}
    if as_code:
        files = {"smoke_code.py": snippet + "\n",
                 "__init__.py": "def main():\n    from . import smoke_code  # noqa: F401\n    print('SMOKE-OK')\n"
                                "    return 0\n"}
    deps = [str(r) for r in entry.get("pip", [])]  # type: ignore[attr-defined]
    write_project(dest, module.replace("_", "-"), module, deps, {"smoke": f"{module}:main"}, files=files)


def dist_version(venv: Path, requirement: str) -> str:
    from packaging.requirements import Requirement

    name = Requirement(requirement).name
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          f"import importlib.metadata as m; print(m.version({name!r}))"],
                         capture_output=True, text=True)
    return out.stdout.strip()


def run_entry(entry: dict[str, object], work: Path, python: str, build_flags: tuple[str, ...] = ()) -> Result:
    res = Result(str(entry["name"]))
    start = time.monotonic()
    proj, venv, out = work / "proj", work / "venv", work / "bin" / "smoke"
    project_for(entry, proj, as_code="-c" in build_flags)
    steps = [
        [*EXXO, "venv", str(venv), "-p", python],
        [*EXXO, "build", "-s", str(proj), "--venv", str(venv), "-o", str(out), *build_flags],
    ]
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            res.build_error = (proc.stderr or proc.stdout).strip()[-1500:]
            res.seconds = time.monotonic() - start
            return res
    reqs = list(entry.get("pip", []))  # type: ignore[call-overload]
    res.version = dist_version(venv, reqs[0]) if reqs else "stdlib"
    empty = work / "empty"
    empty.mkdir()
    alone = empty / "smoke"
    shutil.copy2(out, alone)
    for mode in MODES:
        home = work / f"home-{mode}"
        home.mkdir()
        env = {"EXXO_NATIVE": mode, "HOME": str(home), "PATH": "/usr/bin:/bin"}
        proc = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(alone)],
                              cwd=empty, capture_output=True, text=True, timeout=600)
        if proc.returncode == 0 and "SMOKE-OK" in proc.stdout:
            res.modes[mode] = "pass"
        else:
            tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            res.modes[mode] = f"exit {proc.returncode}: {tail[:300]}"
    res.seconds = time.monotonic() - start
    return res


def write_report(results: list[Result], path: Path, flags: tuple[str, ...] = ()) -> None:
    how = f" with `exxo build {' '.join(flags)}` (the snippet a module of the project)" if flags else ""
    lines = [
        "# Compatibility: the package list" + (f" ({' '.join(flags)})" if flags else ""),
        "",
        f"Generated by `{'tests/compat/harness.py --compress' if flags else 'make compat'}` (tests/compat/harness.py) "
        f"on {time.strftime('%Y-%m-%d')} from "
        "`../shared/compat/packages.toml`: each entry built into one exxo binary whose entry point runs the",
        "entry's smoke snippet, copied alone into an empty directory and run with `env -i`, in both native-loading",
        f"modes{how}. No entry has any per-package configuration.",
        "",
        f"Passed: {sum(r.passed for r in results)} of {len(results)}.",
        "",
        "| package | version | result | memfd | cache | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: r.name):
        if r.build_error:
            note = "build failed: " + r.build_error.splitlines()[-1][:200].replace("|", "\\|")
            lines.append(f"| {r.name} | {r.version} | FAIL | - | - | {note} |")
            continue
        cells = ["pass" if r.modes.get(m) == "pass" else "FAIL" for m in MODES]
        notes = "; ".join(f"{m}: {v}" for m, v in r.modes.items() if v != "pass").replace("|", "\\|")
        lines.append(f"| {r.name} | {r.version} | {'pass' if r.passed else 'FAIL'} | {cells[0]} | {cells[1]} | "
                     f"{notes} |")
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="comma-separated entry names")
    parser.add_argument("--out", default=str(ROOT / "docs" / "compatibility.md"))
    parser.add_argument("--python", default="3.13")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--compress", action="store_true",
                        help="build with -c (the snippet becomes a module of the project, as an app's code is)")
    args = parser.parse_args()
    entries = load_entries()
    if args.only:
        wanted = set(args.only.split(","))
        entries = [e for e in entries if e["name"] in wanted]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="exxo-compat-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {}
        for entry in entries:
            work = Path(tmp) / str(entry["name"])
            work.mkdir()
            flags = ("-c",) if args.compress else ()
            futures[pool.submit(run_entry, entry, work, args.python, flags)] = entry["name"]
        for fut in concurrent.futures.as_completed(futures):
            r = fut.result()
            results.append(r)
            status = "pass" if r.passed else "FAIL"
            print(f"{r.name:28} {status} ({r.seconds:.0f}s) {r.build_error[-200:] if r.build_error else r.modes}",
                  flush=True)
    write_report(results, Path(args.out), ("-c",) if args.compress else ())
    failed = [r.name for r in results if not r.passed]
    print(f"{len(results) - len(failed)}/{len(results)} passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
