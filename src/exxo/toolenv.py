"""`exxo build REQ...`: a private, cached exxo venv holding published requirements, for a build without a project.

The venv lives under `$XDG_CACHE_HOME/exxo/envs/<runtime>-<key>`, where the key hashes everything that decides
what pip installs: the runtime (its cache directory name is its recipe's hash), the requirements as given, the
contents of every `-r`/`--constraint` file, the index options and the file names in each `--find-links`
directory. The same command line therefore reuses the venv (no pip run, no network) and gives the same binary;
any change makes a new one. A venv is complete only when its stamp (`exxo-requirements.json`, written last,
naming the distributions that were asked for) exists: a half-made one (pip failed, Ctrl-C) is made again.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from exxo.common import cache_root
from exxo.errors import BuildError, InputError
from exxo.progress import Reporter
from exxo.runtime.bootstrap import Runtime

STAMP = "exxo-requirements.json"


@dataclass
class PipRequest:
    """What the user asked pip to install (paths are absolute)."""

    requirements: list[str] = field(default_factory=list)
    requirement_files: list[Path] = field(default_factory=list)
    constraint_files: list[Path] = field(default_factory=list)
    index_url: str | None = None
    find_links: list[str] = field(default_factory=list)
    no_index: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PipRequest:
        def files(given: list[str] | None, what: str) -> list[Path]:
            out = []
            for name in given or []:
                path = Path(name).absolute()
                if not path.is_file():
                    raise InputError(f"{what} {name}: no such file", hint="give the path of an existing file")
                out.append(path)
            return out

        links = [str(Path(x).absolute()) if Path(x).exists() else x for x in args.find_links or []]
        return cls(list(args.requirements), files(args.requirement, "-r"), files(args.constraint, "--constraint"),
                   args.index_url, links, bool(args.no_index))

    def pip_args(self) -> list[str]:
        out = list(self.requirements)
        for path in self.requirement_files:
            out += ["-r", str(path)]
        for path in self.constraint_files:
            out += ["-c", str(path)]
        if self.index_url:
            out += ["--index-url", self.index_url]
        for link in self.find_links:
            out += ["--find-links", link]
        if self.no_index:
            out.append("--no-index")
        return out

    def key(self, runtime: Runtime) -> str:
        """The hash of everything that decides what pip installs (see the module's docstring)."""
        def listing(link: str) -> list[str]:
            path = Path(link)
            return sorted(p.name for p in path.iterdir()) if path.is_dir() else []

        facts = {
            "runtime": runtime.dir.name, "requirements": self.requirements,
            "requirement_files": [[str(p), p.read_text(errors="replace")] for p in self.requirement_files],
            "constraint_files": [[str(p), p.read_text(errors="replace")] for p in self.constraint_files],
            "index_url": self.index_url, "find_links": [[x, listing(x)] for x in self.find_links],
            "no_index": self.no_index,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class ToolEnv:
    path: Path
    python: Path
    requested: list[str]  # canonical names of the distributions asked for (the ones whose scripts count)
    reused: bool


def envs_dir() -> Path:
    return cache_root() / "envs"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One `exxo build` at a time makes a given venv (a second waits, then reuses it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def named_in_arguments(requirements: list[str]) -> list[str]:
    """Canonical names of the plain requirements given on the command line (`httpie`, `black[d]>=24`)."""
    out: list[str] = []
    for text in requirements:
        try:
            out.append(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue  # a path or URL: pip's report names what it is
    return out


def ensure(runtime: Runtime, request: PipRequest, reporter: Reporter) -> ToolEnv:
    """The cached venv for `request` on `runtime`, made (venv + pip install) when it is not there yet."""
    from exxo import venv

    path = envs_dir() / f"{runtime.dir.name}-{request.key(runtime)}"
    stamp = path / STAMP
    with _locked(path.with_name(path.name + ".lock")):
        if stamp.is_file():
            requested = list(json.loads(stamp.read_text())["requested"])
            return ToolEnv(path, venv.venv_python(path), requested, True)
        if path.exists():
            shutil.rmtree(path)  # a venv a failed or interrupted build left half-made
        reporter.stage(f"making the private venv {path}")
        venv.create(path, runtime)
        python = venv.venv_python(path)
        report = path / "pip-report.json"
        reporter.stage("pip installing " + " ".join(request.pip_args()))
        try:
            reporter.run([python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                          "--report", report, *request.pip_args()], what="pip installing the requirements")
        except BuildError as exc:
            shutil.rmtree(path, ignore_errors=True)
            raise BuildError(exc.message, log_tail=exc.log_tail,
                             hint="pip's message above says what it could not install: check the names and "
                                  "versions (pip install ... in any venv shows the same); offline, give the "
                                  "wheels with --no-index --find-links DIR") from exc
        installed = json.loads(report.read_text()).get("install", [])
        requested = sorted({canonicalize_name(i["metadata"]["name"]) for i in installed if i.get("requested")}
                           | set(named_in_arguments(request.requirements)))
        stamp.write_text(json.dumps({"requested": requested, "pip": request.pip_args()}, indent=1) + "\n")
        return ToolEnv(path, python, requested, False)
