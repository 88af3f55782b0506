"""exxo.project against real pip installs of the fixture projects (a plain venv of the host interpreter)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from exxo import collect, project
from exxo.errors import BuildError
from exxo.progress import Reporter
from tests.conftest import FIXTURES


def copy_fixture(name: str, dest: Path) -> Path:
    return Path(shutil.copytree(FIXTURES / name, dest / name))


def install(venv: Path, src: Path, tmp: Path) -> project.Project:
    target = tmp / "target"
    target.mkdir(exist_ok=True)
    with Reporter(tmp / "build.log", quiet=True) as rep:
        return project.install(venv / "bin" / "python", src, target, rep)


def installed(venv: Path) -> dict[str, dict[str, object]]:
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json", "-v"],
                         capture_output=True, text=True, check=True).stdout
    return {d["name"].lower(): d for d in json.loads(out)}


def values(scripts: dict[str, EntryPoint]) -> dict[str, str]:
    return {name: ep.value for name, ep in scripts.items()}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---- reading the installed metadata -------------------------------------------------------------------


def test_pure_project(host_venv: Path, tmp_path: Path) -> None:
    proj = install(host_venv, copy_fixture("cli-pure", tmp_path), tmp_path)
    assert (proj.name, proj.version) == ("cli-pure", "0.3.1")
    assert values(proj.scripts) == {"cli-pure": "cli_pure:main"}
    assert (proj.location / "cli_pure" / "__init__.py").is_file()
    assert (proj.location / "cli_pure-0.3.1.dist-info" / "RECORD").is_file()
    assert project.choose_entry(proj, None, None) == ("cli-pure", {"module": "cli_pure", "attr": "main",
                                                                    "name": "cli-pure"})


def test_src_layout_hatchling_dash_and_dot(host_venv: Path, tmp_path: Path) -> None:
    proj = install(host_venv, copy_fixture("src-layout-dash", tmp_path), tmp_path)
    assert proj.name == "my-dash-app"  # canonical form of "my-dash.app"
    assert values(proj.scripts) == {"my-dash.app": "my_dash_app.cli:run"}
    assert any(r.startswith("click") for r in proj.requires)
    assert (proj.location / "my_dash_app" / "cli.py").is_file()
    name, entry = project.choose_entry(proj, None, None)
    assert name == "my-dash.app" and entry == {"module": "my_dash_app.cli", "attr": "run", "name": "my-dash.app"}


def test_legacy_setup_py_with_c_extension(host_venv: Path, tmp_path: Path) -> None:
    proj = install(host_venv, copy_fixture("cext-sdist", tmp_path), tmp_path)
    assert proj.name == "cext-app" and values(proj.scripts) == {"cext-app": "cext_app:main"}
    assert list((proj.location / "cext_app").glob("_fast.*.so"))


def test_editable_install_in_the_venv_stays_editable(host_venv: Path, tmp_path: Path) -> None:
    src = copy_fixture("two-scripts", tmp_path)
    python = str(host_venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-build-isolation", "-e", str(src)], check=True)
    proj = install(host_venv, src, tmp_path)
    assert proj.name == "two-scripts"
    assert installed(host_venv)["two-scripts"].get("editable_project_location") == str(src)


def test_missing_requirements_are_installed_into_the_venv(host_venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "needs-iniconfig"
    write(src / "pyproject.toml", '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = '
          '"setuptools.build_meta"\n[project]\nname = "needs-iniconfig"\nversion = "1"\ndependencies = ["iniconfig"]\n')
    write(src / "needs_iniconfig.py", "import iniconfig\n")
    assert "iniconfig" not in installed(host_venv)
    proj = install(host_venv, src, tmp_path)
    assert "needs-iniconfig" not in installed(host_venv)  # the project itself went to the private dir only
    with Reporter(tmp_path / "req.log", quiet=True) as rep:
        project.ensure_requirements(host_venv / "bin" / "python", proj, rep)
    assert "iniconfig" in installed(host_venv)


def test_pip_failure_is_a_build_error_with_pip_output(host_venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "broken"
    write(src / "setup.py", "raise SystemExit('this setup.py is broken on purpose')\n")
    with pytest.raises(BuildError) as info:
        install(host_venv, src, tmp_path)
    assert "pip building and installing" in info.value.message
    assert "broken on purpose" in info.value.log_tail
    assert "pip install ." in (info.value.hint or "")


# ---- the project directory and [tool.exxo] ------------------------------------------------------------


def test_the_venvs_interpreter_is_asked_once_per_build(host_venv: Path, tmp_path: Path) -> None:
    # What `exxo build` asks the venv's interpreter, through a wrapper that logs the probes it is given:
    # its facts once (before pip, for the build isolation choice), then the bytecode; the installed metadata
    # (the project's, then its requirements') is read from the files.
    log = tmp_path / "probes.log"
    wrapper = write(tmp_path / "wrapped" / "python", (
        "#!/bin/sh\n"
        f"for a in \"$@\"; do case $a in *'Probe: the facts'*) echo interpreter >> '{log}';;\n"
        f"  *'Probe: byte-compile'*) echo compile >> '{log}';; esac; done\n"
        f"exec '{host_venv / 'bin' / 'python'}' \"$@\"\n"))
    wrapper.chmod(0o755)
    target = tmp_path / "target"
    target.mkdir()
    with Reporter(tmp_path / "build.log", quiet=True) as rep:
        proj = project.install(wrapper, copy_fixture("cli-pure", tmp_path), target, rep)
        project.ensure_requirements(wrapper, proj, rep)
    members, _ = collect.collect(wrapper, proj.name, first=[proj.location])
    site = collect.site_packages_prefix(f"{sys.version_info[0]}.{sys.version_info[1]}")
    assert site + "cli_pure/__init__.py" in {m.name for m in members}
    assert log.read_text().split() == ["interpreter", "compile"]
