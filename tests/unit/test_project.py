"""exxo.project without pip: [tool.exxo], [build-system], choosing the entry point (the pip installs:
tests/integration/test_project_pip.py)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from exxo import project
from exxo.errors import InputError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a Python project"):
        project.check_source(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        project.check_source(tmp_path / "nope")


def test_config_values(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.exxo]\npython = "3.13"\nentry = "x"\ncompress = true\n'
          'native = "cache"\nexclude = ["*/tests/*"]\nscripts = "all"\n')
    assert project.read_config(tmp_path) == {"python": "3.13", "entry": "x", "compress": True, "native": "cache",
                                             "exclude": ["*/tests/*"], "scripts": "all"}
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    assert project.read_config(tmp_path) == {}


@pytest.mark.parametrize(("body", "message"), [
    ("[tool.exxo]\nfrobnicate = 1\n", "unknown key(s) in [tool.exxo]"),
    ("[tool.exxo]\ncompress = 'yes'\n", "must be true or false"),
    ("[tool.exxo]\nexclude = 'a'\n", "must be a list of strings"),
    ("[tool.exxo]\nexclude = [1]\n", "must be a list of strings"),
    ("[tool.exxo]\nnative = 'disk'\n", "is not memfd or cache"),
    ("[tool.exxo]\nscripts = 'some'\n", 'the only value is "all"'),
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
