"""Read the project: build and install it with pip, then read the installed distribution's metadata.

exxo never parses setup.py: any PEP 517 backend (or a legacy setup.py) is built by pip, and what is known
about the project (name, version, console scripts, requirements) comes from its installed `.dist-info`, read with
`importlib.metadata` (collect.read_distributions).

The project is installed non-editable into a private directory (`pip install --no-deps --target`), not over the
venv's own copy: the usual `pip install -e .` in the venv stays editable after a build. Its requirements must
be in the venv; missing ones are installed there by pip (`ensure_requirements`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from exxo.errors import BuildError, InputError
from exxo.progress import Reporter

# [tool.exxo] key -> the type its value must have (flags of `exxo build` override these)
CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {
    "python": str, "entry": str, "main": str, "output": str, "compress": bool, "native": str,
    "include": list, "exclude": list, "embed-runtime": bool, "scripts": str, "strip": bool,
    "dependency-sources": bool, "compress-bytecode": bool, "stdlib-exclude": list, "stdlib-keep": list,
    "stdlib": str,  # "all" (default) or "imported" (default of -c): exxo.reach
    "target": str,  # the processor: x86_64 (default) or aarch64 (cross-built), as --target
}
NATIVE_MODES = ("memfd", "cache")
DEFAULT_BUILD_REQUIRES = ["setuptools>=40.8.0"]  # PEP 518: what a project without [build-system] gets


@dataclass
class Project:
    src: Path
    name: str  # canonical distribution name
    version: str
    location: Path  # the directory pip installed the built project into (its dist-info and files)
    scripts: dict[str, EntryPoint] = field(default_factory=dict)  # console script name -> its entry point
    requires: list[str] = field(default_factory=list)  # Requires-Dist, as written
    config: dict[str, Any] = field(default_factory=dict)  # [tool.exxo]


def load_pyproject(src: Path) -> dict[str, Any]:
    path = src / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid TOML: {exc}", hint="fix the file, then run exxo again") from exc


def read_config(src: Path) -> dict[str, Any]:
    """`[tool.exxo]` of SRC/pyproject.toml (empty when there is none), each value checked."""
    path = src / "pyproject.toml"
    config = load_pyproject(src).get("tool", {}).get("exxo", {})
    if not isinstance(config, dict):
        raise InputError(f"[tool.exxo] in {path} is not a table", hint='write it as:\n  [tool.exxo]\n  entry = "app"')
    unknown = sorted(set(config) - set(CONFIG_TYPES))
    if unknown:
        raise InputError(f"unknown key(s) in [tool.exxo] of {path}: {', '.join(unknown)}",
                         hint="known keys: " + ", ".join(sorted(CONFIG_TYPES)))
    for key, value in config.items():
        want = CONFIG_TYPES[key]
        ok = isinstance(value, want) and (not isinstance(value, list) or all(isinstance(v, str) for v in value))
        if not ok:
            kind = "a list of strings" if want is list else ("true or false" if want is bool else "a string")
            raise InputError(f"[tool.exxo] {key} = {value!r} in {path}: the value must be {kind}")
    if config.get("native", "memfd") not in NATIVE_MODES:
        raise InputError(f"[tool.exxo] native = {config['native']!r} in {path} is not memfd or cache",
                         hint='use native = "memfd" (default) or native = "cache"')
    if config.get("stdlib", "all") not in ("all", "imported"):
        raise InputError(f"[tool.exxo] stdlib = {config['stdlib']!r} in {path} is not \"all\" or \"imported\"",
                         hint='stdlib = "all" carries the whole stdlib; stdlib = "imported" only what the code imports')
    if config.get("scripts", "all") != "all":
        raise InputError(f"[tool.exxo] scripts = {config['scripts']!r} in {path}: the only value is \"all\"",
                         hint='scripts = "all" makes the binary answer to every console script (--all-scripts)')
    return dict(config)


def check_source(src: Path) -> None:
    if not src.is_dir():
        raise InputError(f"project directory {src} does not exist", hint="pass the project with -s SRC")
    if not (src / "pyproject.toml").is_file() and not (src / "setup.py").is_file():
        raise InputError(f"{src} has neither pyproject.toml nor setup.py: it is not a Python project",
                         hint="run exxo build in your project's directory, or pass it with -s SRC")


def build_requires(src: Path) -> list[str]:
    system = load_pyproject(src).get("build-system", {})
    requires = system.get("requires") if isinstance(system, dict) else None
    if "build-backend" not in system and requires is None:
        return list(DEFAULT_BUILD_REQUIRES)
    return [str(r) for r in requires or []]


def _satisfied(requirements: list[str], installed: dict[str, str], env: dict[str, str]) -> bool:
    """Whether every requirement (markers evaluated in `env`) has a matching installed version."""
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            return False
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        version = installed.get(canonicalize_name(req.name))
        if version is None or (req.specifier and not req.specifier.contains(version, prereleases=True)):
            return False
    return True


def install(python: Path, src: Path, target: Path, reporter: Reporter) -> Project:
    """Build SRC with pip and install it (alone, non-editable) into the empty directory `target`; read it."""
    from exxo import collect

    check_source(src)
    config = read_config(src)
    inv = collect.inventory(python)
    installed = {name: str(d["version"]) for name, d in inv.dists.items()}
    # A PEP 517 build in an isolated env installs the backend first (seconds, each build). When the venv
    # already has what [build-system] requires, building with it gives the same result, faster.
    isolated = not _satisfied(build_requires(src), installed, inv.env)
    cmd: list[str | Path] = [python, "-m", "pip", "install", "--no-deps", "--no-input", "--no-compile",
                             "--disable-pip-version-check", "--target", target, src]
    what = f"pip building and installing {src}"
    try:
        try:
            reporter.run(cmd if isolated else [*cmd[:-1], "--no-build-isolation", src], what=what)
        except BuildError:
            if isolated:
                raise
            reporter.log("the build with the venv's own build backend failed; trying again in an isolated env")
            for child in target.iterdir():
                _remove(child)
            reporter.run(cmd, what=what)
    except BuildError as exc:
        raise BuildError(exc.message, log_tail=exc.log_tail, hint=exc.hint or "fix the error pip reports above "
                         "(`pip install .` in the venv shows it all), then run exxo build again") from exc
    dists = collect.read_distributions([target])
    if len(dists) != 1:
        raise BuildError(f"pip installed {len(dists)} distributions for {src}, expected 1",
                         hint="report this as an exxo bug, with the build log")
    meta = dists[0]
    return Project(src, canonicalize_name(meta["name"]), meta["version"], target, meta["scripts"],
                   meta["requires"], config)


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def ensure_requirements(python: Path, proj: Project, reporter: Reporter) -> None:
    """pip-install the project's requirements into the venv when any of their closure is missing there."""
    from exxo import collect

    inv = collect.inventory(python, [proj.location])
    problems = collect.closure(inv, proj.name)[1]
    if not problems:
        return
    reporter.stage(f"pip installing the requirements of {proj.name} into the venv ({', '.join(problems)})")
    reporter.run([python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check", *proj.requires],
                 what=f"pip installing the requirements of {proj.name}")


def choose_entry(project: Project, entry: str | None, main: str | None) -> tuple[str, dict[str, Any]]:
    """(output name, {"module", "attr", "name"}) from --main / --entry / [tool.exxo] / the console scripts."""
    if entry is None and main is None:  # flags override [tool.exxo] as a pair: --entry beats main = "..."
        entry, main = project.config.get("entry"), project.config.get("main")
    if main:
        module, _, func = main.partition(":")
        if not module or not all(p.isidentifier() for p in module.split(".")) or \
                (func and not all(p.isidentifier() for p in func.split("."))):
            raise InputError(f"--main {main!r} is not MODULE:FUNCTION", hint="e.g. --main mypkg.cli:main")
        name = entry or project.name
        return name, {"module": module, "attr": func or None, "name": name}
    scripts = project.scripts
    if entry:
        wanted = canonicalize_name(entry)
        match = [s for s in scripts if canonicalize_name(s) == wanted]
        if not match:
            raise InputError(f"{project.name} has no console script named {entry!r}",
                             hint="its scripts: " + (", ".join(sorted(scripts)) or "none"))
        name = match[0]
    elif len(scripts) == 1:
        name = next(iter(scripts))
    elif not scripts:
        raise InputError(
            f"{project.name} declares no console script, so exxo does not know what the binary runs",
            hint="add one to pyproject.toml:\n  [project.scripts]\n  my-app = \"my_package.cli:main\"\n"
                 "or pass the function with --main MODULE:FUNCTION")
    else:
        listing = "\n".join(f"  --entry {s}   ({scripts[s].value})" for s in sorted(scripts))
        raise InputError(f"{project.name} has {len(scripts)} console scripts; choose the one to build",
                         hint="pick one:\n" + listing)
    script = scripts[name]  # importlib.metadata parses "mod : func [extra]"; attr is None for a bare module
    return name, {"module": script.module, "attr": script.attr, "name": name}
