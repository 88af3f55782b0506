"""A tiny project to build with exxo, written by the test harnesses (compat, numpy suite, JupyterLab,
portability): a pyproject.toml with its console scripts and one package."""

from __future__ import annotations

import json
from pathlib import Path


def write_project(dest: Path, name: str, package: str, dependencies: list[str], scripts: dict[str, str],
                  files: dict[str, str] | None = None, package_data: list[str] | None = None) -> Path:
    """dest/pyproject.toml and dest/<package>/ (files: relative name -> text; __init__.py empty if not given)."""
    (dest / package).mkdir(parents=True, exist_ok=True)
    for rel, text in ({"__init__.py": ""} | (files or {})).items():
        (dest / package / rel).write_text(text)
    lines = ["[build-system]", 'requires = ["setuptools>=68"]', 'build-backend = "setuptools.build_meta"', "",
             "[project]", f"name = {json.dumps(name)}", 'version = "1.0"',
             f"dependencies = {json.dumps(dependencies)}", "", "[project.scripts]",
             *(f"{k} = {json.dumps(v)}" for k, v in scripts.items()), "", "[tool.setuptools]",
             f"packages = {json.dumps([package])}"]
    if package_data:
        lines += ["", "[tool.setuptools.package-data]", f"{package} = {json.dumps(package_data)}"]
    (dest / "pyproject.toml").write_text("\n".join(lines) + "\n")
    return dest
