"""exxo.project against real pip installs of the fixture projects (a plain venv of the host interpreter)."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from exxo import project
from exxo.errors import BuildError, InputError
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


def test_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Python project"):
        project.check_source(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        project.check_source(tmp_path / "nope")


def test_config_values(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.exxo]\npython = "3.13"\nentry = "x"\ncompress = true\n'
          'native = "cache"\nexclude = ["*/tests/*"]\n')
    assert project.read_config(tmp_path) == {"python": "3.13", "entry": "x", "compress": True, "native": "cache",
                                             "exclude": ["*/tests/*"]}
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    assert project.read_config(tmp_path) == {}


@pytest.mark.parametrize(("body", "message"), [
    ("[tool.exxo]\nfrobnicate = 1\n", "unknown key(s) in [tool.exxo]"),
    ("[tool.exxo]\ncompress = 'yes'\n", "must be true or false"),
    ("[tool.exxo]\nexclude = 'a'\n", "must be a list of strings"),
    ("[tool.exxo]\nexclude = [1]\n", "must be a list of strings"),
    ("[tool.exxo]\nnative = 'disk'\n", "is not memfd or cache"),
    ("[tool]\nexxo = 3\n", "is not a table"),
    ("[tool.exxo\n", "is not valid TOML"),
])
def test_config_errors(tmp_path: Path, body: str, message: str) -> None:
    write(tmp_path / "pyproject.toml", body)
    with pytest.raises(InputError) as info:
        project.read_config(tmp_path)
    assert message in info.value.message and str(tmp_path / "pyproject.toml") in info.value.message


def test_build_requires(tmp_path: Path) -> None:
    write(tmp_path / "setup.py", "")
    assert project.build_requires(tmp_path) == ["setuptools>=40.8.0"]
    write(tmp_path / "pyproject.toml", '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n')
    assert project.build_requires(tmp_path) == ["hatchling"]


# ---- choosing the entry point -------------------------------------------------------------------------


def proj(scripts: dict[str, str], config: dict[str, object] | None = None) -> project.Project:
    eps = {name: EntryPoint(name, value, "console_scripts") for name, value in scripts.items()}
    return project.Project(Path("/src"), "my-app", "1", Path("/target"), eps, [], dict(config or {}))


def test_several_scripts_need_entry() -> None:
    p = proj({"two-server": "two:server", "two_admin": "two:admin"})
    with pytest.raises(InputError) as info:
        project.choose_entry(p, None, None)
    assert "2 console scripts" in info.value.message
    assert "--entry two-server" in (info.value.hint or "") and "--entry two_admin" in (info.value.hint or "")
    # -, _ and . spell the same name (PEP 503 normalisation), as pip does for distribution names
    assert project.choose_entry(p, "two-admin", None)[1] == {"module": "two", "attr": "admin", "name": "two_admin"}
    assert project.choose_entry(p, "Two.Server", None)[0] == "two-server"
    with pytest.raises(InputError, match="no console script named 'three'"):
        project.choose_entry(p, "three", None)


def test_no_scripts_needs_main() -> None:
    with pytest.raises(InputError) as info:
        project.choose_entry(proj({}), None, None)
    assert "[project.scripts]" in (info.value.hint or "") and "--main" in (info.value.hint or "")
    assert project.choose_entry(proj({}), None, "pkg.cli:run") == ("my-app", {"module": "pkg.cli", "attr": "run",
                                                                               "name": "my-app"})
    assert project.choose_entry(proj({}), None, "pkg.cli")[1]["attr"] is None  # run as __main__


@pytest.mark.parametrize("bad", ["pkg-name:main", ":main", "pkg:ma-in", "pkg.:x"])
def test_bad_main(bad: str) -> None:
    with pytest.raises(InputError, match="is not MODULE:FUNCTION"):
        project.choose_entry(proj({}), None, bad)


def test_script_with_extras_and_spaces() -> None:
    p = proj({"app": "pkg.cli : main [extra]"})  # as entry_points.txt may spell it
    assert project.choose_entry(p, None, None)[1] == {"module": "pkg.cli", "attr": "main", "name": "app"}


def test_config_entry_and_flags_override_it() -> None:
    p = proj({"a": "m:a", "b": "m:b"}, {"entry": "b"})
    assert project.choose_entry(p, None, None)[0] == "b"
    assert project.choose_entry(p, "a", None)[0] == "a"
    p = proj({"a": "m:a"}, {"main": "m:other"})
    assert project.choose_entry(p, None, None)[1]["attr"] == "other"
    assert project.choose_entry(p, "a", None)[1]["attr"] == "a"  # --entry beats main = "..." in the config
