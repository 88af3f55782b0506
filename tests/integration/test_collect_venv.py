"""exxo.collect: the members of real installs in a plain host venv (pip: setuptools from PyPI)."""

from __future__ import annotations

import marshal
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from exxo import collect
from exxo.archive import Member
from exxo.errors import InputError
from tests.conftest import FIXTURES

TAG = sys.implementation.cache_tag  # host_venv's interpreter is the one running the tests


def pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "--no-build-isolation", *args], check=True)


def make_project(root: Path, name: str, deps: list[str], body: str = "", files: dict[str, str] | None = None) -> Path:
    src = root / name
    mod = name.replace("-", "_")
    src.mkdir(parents=True)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\ndependencies = {deps!r}\n{body}')
    for rel, text in (files or {mod + ".py": f"NAME = {name!r}\n"}).items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def names(members: list[Member]) -> set[str]:
    """Member names relative to site-packages (where collect puts them: the binary is the prefix), and the
    data files under the prefix as `<prefix>/...`."""
    return set(by_name(members))


def by_name(members: list[Member]) -> dict[str, bytes]:
    site = collect.site_packages_prefix(f"{sys.version_info[0]}.{sys.version_info[1]}")
    return {m.name[len(site):] if m.name.startswith(site) else "<prefix>/" + m.name: m.data for m in members}


def target_install(venv: Path, src: Path, dest: Path) -> Path:
    pip(venv, "--no-deps", "--target", str(dest), str(src))
    return dest


# ---- members from a real venv -------------------------------------------------------------------------


def test_members_of_a_project_and_its_requirement(host_venv: Path, tmp_path: Path) -> None:
    dep = make_project(tmp_path, "dep-one", [], files={"dep_one/__init__.py": "X = 1\n",
                                                      "dep_one/data/table.txt": "data\n"},
                       body="[tool.setuptools.package-data]\ndep_one = ['data/*.txt']\n")
    pip(host_venv, str(dep))
    app = make_project(tmp_path, "app-one", ["dep-one"])
    target = target_install(host_venv, app, tmp_path / "target")
    members, inventory = collect.collect(host_venv / "bin" / "python", "app-one", first=[target])
    got = names(members)
    assert {"app_one.py", f"__pycache__/app_one.{TAG}.pyc", "app_one-1.0.dist-info/METADATA",
            "app_one-1.0.dist-info/RECORD", "dep_one/__init__.py", f"dep_one/__pycache__/__init__.{TAG}.pyc",
            "dep_one/data/table.txt", "dep_one-1.0.dist-info/METADATA"} <= got
    # not pip/setuptools (installed in the venv, not required); no caches, no installer bookkeeping
    assert not any(n.startswith(("pip/", "setuptools/", "hatchling/")) for n in got)
    assert not any(n.endswith(("/INSTALLER", "/REQUESTED", "/direct_url.json")) for n in got)
    assert not any(n.endswith(".pyc") and f".{TAG}." not in n for n in got)
    # RECORD lists what the binary carries (importlib.metadata.files() works), nothing from the build machine
    record = by_name(members)["app_one-1.0.dist-info/RECORD"].decode()
    paths = [line.split(",")[0] for line in record.splitlines()]
    assert "app_one.py" in paths and "app_one-1.0.dist-info/RECORD" in paths
    assert not any(p.endswith(("INSTALLER", "direct_url.json")) or p.startswith("../") for p in paths)
    assert inventory.site == host_venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / \
        "site-packages"


def test_pycs_are_unchecked_hash_with_relative_filenames(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "pyc-app", [], files={"pyc_app/__init__.py": "def f():\n    return 42\n"})
    target = target_install(host_venv, app, tmp_path / "target")
    members = by_name(collect.collect(host_venv / "bin" / "python", "pyc-app", first=[target])[0])
    pyc = members[f"pyc_app/__pycache__/__init__.{TAG}.pyc"]
    import importlib.util

    assert pyc[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, unchecked: no mtime in the file
    code = marshal.loads(pyc[16:])
    assert code.co_filename == "pyc_app/__init__.py"  # no build-machine path; the boot points it at the binary
    namespace: dict[str, object] = {}
    exec(code, namespace)
    assert namespace["f"]() == 42  # type: ignore[operator]


def test_same_members_twice_and_from_another_location(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "repro-app", [], files={"repro_app/__init__.py": "A = 1\n"})
    python = host_venv / "bin" / "python"
    one = collect.collect(python, "repro-app", first=[target_install(host_venv, app, tmp_path / "t1")])[0]
    two = collect.collect(python, "repro-app", first=[target_install(host_venv, app, tmp_path / "elsewhere")])[0]
    assert one == two


def test_pip_comes_in_when_required(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "needs-pip", ["pip"])
    target = target_install(host_venv, app, tmp_path / "target")
    got = names(collect.collect(host_venv / "bin" / "python", "needs-pip", first=[target])[0])
    assert "pip/__init__.py" in got and not any(n.startswith("setuptools/") for n in got)


def test_namespace_packages_and_package_data(host_venv: Path, tmp_path: Path) -> None:
    src = Path(shutil.copytree(FIXTURES / "probe-app", tmp_path / "probe-app"))
    target = target_install(host_venv, src, tmp_path / "target")
    got = names(collect.collect(host_venv / "bin" / "python", "probe-app", first=[target])[0])
    assert {"nspkg/mod.py", f"nspkg/__pycache__/mod.{TAG}.pyc", "probe_app/templates/page.html",
            "probe_app/data/sub/b.txt"} <= got
    assert "nspkg/__init__.py" not in got  # a namespace package stays one


def test_missing_record_falls_back_to_top_level(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "no-record", [], files={"no_record/__init__.py": "", "no_record/x.txt": "x",
                                                          "no_record_single.py": ""},
                       body="[tool.setuptools]\npackages = ['no_record']\npy-modules = ['no_record_single']\n"
                            "[tool.setuptools.package-data]\nno_record = ['*.txt']\n")
    target = target_install(host_venv, app, tmp_path / "target")
    (target / "no_record-1.0.dist-info" / "RECORD").unlink()
    got = names(collect.collect(host_venv / "bin" / "python", "no-record", first=[target])[0])
    assert {"no_record/__init__.py", "no_record/x.txt", "no_record_single.py",
            "no_record-1.0.dist-info/METADATA"} <= got


def test_missing_record_and_top_level_is_an_error(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "bare-dist", [])
    target = target_install(host_venv, app, tmp_path / "target")
    (target / "bare_dist-1.0.dist-info" / "RECORD").unlink()
    (target / "bare_dist-1.0.dist-info" / "top_level.txt").unlink()
    with pytest.raises(InputError, match="no RECORD and no top_level.txt"):
        collect.collect(host_venv / "bin" / "python", "bare-dist", first=[target])


def test_editable_dependency_is_rejected(host_venv: Path, tmp_path: Path) -> None:
    dep = make_project(tmp_path, "edit-dep", [])
    pip(host_venv, "-e", str(dep))
    app = make_project(tmp_path, "uses-edit-dep", ["edit-dep"])
    target = target_install(host_venv, app, tmp_path / "target")
    with pytest.raises(InputError) as info:
        collect.collect(host_venv / "bin" / "python", "uses-edit-dep", first=[target])
    assert "edit-dep is installed in editable mode" in info.value.message
    assert "pip install edit-dep" in (info.value.hint or "")


def test_missing_requirement_is_an_error(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "wants-ghost", ["ghost-dist-that-is-not-installed>=1"])
    target = target_install(host_venv, app, tmp_path / "target")
    with pytest.raises(InputError, match="ghost-dist-that-is-not-installed>=1"):
        collect.collect(host_venv / "bin" / "python", "wants-ghost", first=[target])


def test_include_and_exclude(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "globs-app", [], files={"globs_app/__init__.py": "", "globs_app/tests/t.py": ""},
                       body="[tool.setuptools]\npackages = ['globs_app', 'globs_app.tests']\n")
    target = target_install(host_venv, app, tmp_path / "target")
    python = host_venv / "bin" / "python"
    got = names(collect.collect(python, "globs-app", exclude=["*/tests/*"], first=[target])[0])
    assert "globs_app/__init__.py" in got and not any("/tests/" in n for n in got)
    pip(host_venv, "six")
    got = names(collect.collect(python, "globs-app", include=["six.py"], first=[target])[0])
    assert "six.py" in got  # a file of site-packages that no collected distribution owns
    with pytest.raises(InputError, match="matches no file"):
        collect.collect(python, "globs-app", include=["nothing-here/*"], first=[target])


def test_source_that_does_not_compile_is_shipped_as_is(host_venv: Path, tmp_path: Path) -> None:
    app = make_project(tmp_path, "py2-app", [], files={"py2_app/__init__.py": "", "py2_app/old.py": "print 'x'\n"})
    target = target_install(host_venv, app, tmp_path / "target")
    got = names(collect.collect(host_venv / "bin" / "python", "py2-app", first=[target])[0])
    assert "py2_app/old.py" in got and f"py2_app/__pycache__/old.{TAG}.pyc" not in got


def test_pyc_cache_gives_the_same_bytes_and_is_used(host_venv: Path, tmp_path: Path) -> None:
    src = tmp_path / "mod.py"
    src.write_text("VALUE = 1\n")
    python = host_venv / "bin" / "python"
    fresh = collect.compile_sources(python, {"pkg/mod.py": src}, TAG)
    cache = tmp_path / "cache"
    first = collect.compile_sources(python, {"pkg/mod.py": src}, TAG, cache)
    assert first == fresh and [m.name for m in first] == [f"pkg/__pycache__/mod.{TAG}.pyc"]
    (entry,) = [p for p in cache.rglob("*.pyc")]
    assert entry.read_bytes() == first[0].data
    # a second build reads the cache (proved by planting other valid bytes under the same key)
    planted = first[0].data[:16] + marshal.dumps(compile("VALUE = 2\n", "pkg/mod.py", "exec"))
    entry.write_bytes(planted)
    assert collect.compile_sources(python, {"pkg/mod.py": src}, TAG, cache)[0].data == planted
    # another source (or another member name) is another key
    src.write_text("VALUE = 3\n")
    assert collect.compile_sources(python, {"pkg/mod.py": src}, TAG, cache)[0].data != planted
    assert len(list(cache.rglob("*.pyc"))) == 2


def test_data_outside_site_packages_goes_under_the_prefix(host_venv: Path, tmp_path: Path) -> None:
    """A wheel's <dist>.data/data files (share/, etc/) are carried at their prefix-relative paths; scripts not."""
    python = host_venv / "bin" / "python"
    pip(host_venv, "--no-deps", str(FIXTURES / "fsview-data"))
    got = by_name(collect.collect(python, "fsview-data")[0])
    assert got["<prefix>/share/fsview-data/shared.txt"] == b"shared data under the prefix\n"
    assert "<prefix>/etc/fsview-data/settings.json" in got and "fsview_data.py" in got
    assert not [n for n in got if n.startswith("<prefix>/bin/")]
