"""Read the project: install it into the exxo venv with pip, then read the installed distribution's metadata.

exxo never parses setup.py: any PEP 517 backend (or a legacy setup.py) is built by pip, and what is known
about the project (name, version, console scripts, requirements) comes from its installed `.dist-info`.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from exxo.errors import BuildError, InputError

CONFIG_KEYS = {"python", "entry", "main", "output", "compress", "native", "include", "exclude", "embed-runtime"}


@dataclass
class Project:
    src: Path
    name: str  # canonical distribution name
    version: str
    scripts: dict[str, str] = field(default_factory=dict)  # console script name -> "module:attr"
    config: dict[str, Any] = field(default_factory=dict)  # [tool.exxo]


def read_config(src: Path) -> dict[str, Any]:
    """`[tool.exxo]` of SRC/pyproject.toml (empty when there is none)."""
    path = src / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}", hint="fix the file, then run exxo build again") from exc
    config: dict[str, Any] = data.get("tool", {}).get("exxo", {})
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise InputError(f"unknown key(s) in [tool.exxo] of {path}: {', '.join(unknown)}",
                         hint="known keys: " + ", ".join(sorted(CONFIG_KEYS)))
    return config


def check_source(src: Path) -> None:
    if not src.is_dir():
        raise InputError(f"project directory {src} does not exist", hint="pass the project with -s SRC")
    if not (src / "pyproject.toml").is_file() and not (src / "setup.py").is_file():
        raise InputError(f"{src} has neither pyproject.toml nor setup.py: it is not a Python project",
                         hint="run exxo build in your project's directory, or pass it with -s SRC")


_METADATA_SCRIPT = r"""
import json, sys, importlib.metadata as m
d = m.distribution(sys.argv[1])
print(json.dumps({
    "name": d.metadata["Name"], "version": d.version,
    "scripts": {e.name: e.value for e in d.entry_points if e.group == "console_scripts"},
}))
"""


def install_and_read(python: Path, src: Path) -> Project:
    """pip-install SRC (non-editable, with its dependencies) into the venv of `python`, then read it."""
    check_source(src)
    config = read_config(src)
    with tempfile.TemporaryDirectory(prefix="exxo-pip-") as tmp:
        report = Path(tmp) / "report.json"
        proc = subprocess.run(
            [str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
             "--report", str(report), str(src)],
            capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
            raise BuildError(f"pip could not install {src} into the venv", log_tail=tail,
                             hint="fix the error pip reports above (run `pip install .` in the venv to see it all)")
        data = json.loads(report.read_text())
    names = [item["metadata"]["name"] for item in data.get("install", [])
             if item.get("is_direct") and str(item.get("download_info", {}).get("url", "")).startswith("file:")]
    if not names:
        raise BuildError(f"pip did not report installing {src}", hint="is it already installed? run with a "
                         "clean venv or report this as an exxo bug")
    meta = json.loads(subprocess.run([str(python), "-I", "-c", _METADATA_SCRIPT, names[0]],
                                     capture_output=True, text=True, check=True).stdout)
    return Project(src, canonicalize_name(meta["name"]), meta["version"], meta["scripts"], config)


def choose_entry(project: Project, entry: str | None, main: str | None) -> tuple[str, dict[str, Any]]:
    """(output name, {"module", "attr", "name"}) from --main / --entry / the project's console scripts."""
    main = main or project.config.get("main")
    entry = entry or project.config.get("entry")
    if main:
        module, _, attr = main.partition(":")
        if not module or not all(p.isidentifier() for p in module.split(".")) or \
                (attr and not all(p.isidentifier() for p in attr.split("."))):
            raise InputError(f"--main {main!r} is not MODULE:FUNCTION", hint="e.g. --main mypkg.cli:main")
        name = entry or project.name
        return name, {"module": module, "attr": attr or None, "name": name}
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
        listing = "\n".join(f"  --entry {s}   ({scripts[s]})" for s in sorted(scripts))
        raise InputError(f"{project.name} has {len(scripts)} console scripts; choose the one to build",
                         hint="pick one:\n" + listing)
    value = scripts[name]
    module, _, attr = value.partition(":")
    attr = attr.split("[")[0].strip() or None  # "mod:func [extra]" -> func
    return name, {"module": module.strip(), "attr": attr, "name": name}
