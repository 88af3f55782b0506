"""The boot's importer in a built binary: packages, modules, namespace packages, bytecode without sources and
sources without bytecode, __file__/__path__, tracebacks and inspect, importlib.resources/metadata, pkgutil,
pkg_resources, entry points and exit codes. Each test builds a binary and runs it in a subprocess
(tests/boot_harness.py: the real runtime when built, else the launcher emulated on a CPython 3.13)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from exxo.archive import Member
from tests.boot_harness import Builder, members_from_dir, pip_target

PROBE = r'''
import importlib, importlib.metadata as md, importlib.resources as res, inspect, json, os, pkgutil, sys
import traceback

HERE = os.path.dirname(__file__)


def square(x):
    return x * x


def checks():
    import json as stdlib_json, nsp.portion, probe.sub.mod, srconly, pyconly
    out = {}
    out["file"] = __file__
    out["path"] = list(sys.modules["probe"].__path__)
    out["sub-file"] = probe.sub.mod.__file__
    out["stdlib-origin"] = stdlib_json.__spec__.origin
    out["nsp-path"] = list(nsp.__path__)
    out["nsp-value"] = nsp.portion.VALUE
    out["srconly"] = [srconly.VALUE, srconly.__file__, inspect.getsource(srconly.f).strip()]
    out["pyconly"] = [pyconly.VALUE, pyconly.__file__, pyconly.__spec__.loader.get_source("pyconly")]
    out["getsource"] = inspect.getsource(square).splitlines()[0]
    try:
        square(None)
    except TypeError:
        out["traceback"] = [l for l in traceback.format_exc().splitlines() if "return x * x" in l]
    out["co-filename"] = square.__code__.co_filename
    out["is-package"] = [probe.__spec__.loader.is_package("probe"), probe.sub.mod.__spec__.loader.is_package("x")]
    out["get-data"] = probe.__spec__.loader.get_data(os.path.join(HERE, "data", "a.txt")).decode()
    out["resources"] = (res.files("probe") / "data" / "a.txt").read_text()
    out["resources-iter"] = sorted(p.name for p in (res.files("probe") / "data").iterdir())
    out["resources-module"] = res.files("probe.sub").joinpath("mod.py").is_file()
    with res.as_file(res.files("probe") / "data" / "a.txt") as p:
        with open(p) as f:
            out["as-file"] = f.read()
    out["pkgutil-data"] = pkgutil.get_data("probe", "data/sub/b.txt").decode()
    out["pkgutil-root"] = sorted(m.name for m in pkgutil.iter_modules() if m.name in ("probe", "srconly", "nsp",
                                                                                      "pyconly", "json"))
    out["pkgutil-pkg"] = sorted((m.name, m.ispkg) for m in pkgutil.iter_modules(probe.__path__))
    out["md-version"] = md.version("probe")
    out["md-eps"] = sorted(e.name for e in md.entry_points(group="probe.plugins"))
    out["md-ep-load"] = md.entry_points(group="probe.plugins")["first"].load()(3)
    out["md-files"] = sorted(str(f) for f in md.files("probe"))
    out["md-requires"] = md.requires("probe")
    out["md-dists"] = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"] == "probe")
    out["md-read"] = md.distribution("probe").read_text("top_level.txt").strip()
    out["sys-path-order"] = importlib.import_module("shadowed").WHERE
    return out


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "checks"
    if what == "checks":
        extra = os.environ.get("PROBE_EXTRA")
        if extra:
            sys.path.insert(0, extra)  # a directory on disk first: it wins over the binary
        print(json.dumps(checks()))
        return 0
    if what == "return":
        return int(sys.argv[2])
    if what == "exit-message":
        raise SystemExit("goodbye from the app")
    if what == "raise":
        square(None)
    if what == "argv":
        print(json.dumps([sys.argv, sys.executable, sys.flags.isolated]))
        return 0
'''

MEMBERS = [
    Member("probe/__init__.py", PROBE.encode()),
    Member("probe/sub/__init__.py", b""),
    Member("probe/sub/mod.py", b"X = 1\n"),
    Member("probe/plugin.py", b"def first(x):\n    return x + 1\n"),
    Member("probe/data/a.txt", b"alpha\n"),
    Member("probe/data/sub/b.txt", b"beta\n"),
    Member("probe/__main__.py", b"import sys\nprint('probe as __main__', sys.argv[1:])\nsys.exit(5)\n"),
    Member("nsp/portion.py", b"VALUE = 'in the binary'\n"),
    Member("srconly/__init__.py", b"VALUE = 'compiled at import'\n\ndef f():\n    return 1\n"),
    Member("pyconly.py", b"VALUE = 'bytecode only'\n"),
    Member("shadowed.py", b"WHERE = 'binary'\n"),
    Member("probe-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: probe\nVersion: 1.0\nRequires-Dist: "
           b"attrs>=1\n"),
    Member("probe-1.0.dist-info/entry_points.txt", b"[probe.plugins]\nfirst = probe.plugin:first\n"),
    Member("probe-1.0.dist-info/top_level.txt", b"probe\n"),
    Member("probe-1.0.dist-info/RECORD", b"probe/__init__.py,,\nprobe/data/a.txt,,\nprobe-1.0.dist-info/RECORD,,\n"),
]


@pytest.fixture(scope="module")
def probe(b: Builder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("import") / "probe"
    return b.build(out, MEMBERS, "probe:main", source_only=["srconly/__init__.py"], bytecode_only=["pyconly.py"])


def run(binary: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(binary.parent)}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=base | (env or {}), timeout=120)


def test_imports_and_resources(probe: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    (extra / "nsp").mkdir(parents=True)
    (extra / "nsp" / "other.py").write_text("VALUE = 'on disk'\n")
    (extra / "shadowed.py").write_text("WHERE = 'disk'\n")
    proc = run(probe, env={"PROBE_EXTRA": str(extra)})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    exe = str(probe)
    assert got["file"] == f"{exe}/probe/__init__.py"
    assert got["path"] == [f"{exe}/probe"] and got["sub-file"] == f"{exe}/probe/sub/mod.py"
    assert got["stdlib-origin"].startswith(f"{exe}/lib/python3.")
    assert f"{exe}/nsp" in got["nsp-path"] and f"{extra}/nsp" in got["nsp-path"]  # spans disk and binary
    assert got["nsp-value"] == "in the binary"
    assert got["srconly"] == ["compiled at import", f"{exe}/srconly/__init__.py", "def f():\n    return 1"]
    assert got["pyconly"][0] == "bytecode only" and got["pyconly"][2] is None
    # shipped as bytecode only: __file__ is where CPython's sourceless layout puts the pyc, beside the sources
    # (its directory is the package's: __file__-relative data and importlib.resources find their files)
    assert got["pyconly"][1] == f"{exe}/pyconly.pyc"
    assert got["getsource"] == "def square(x):"
    assert got["traceback"] and got["co-filename"] == f"{exe}/probe/__init__.py"
    assert got["is-package"] == [True, False]
    assert got["get-data"] == "alpha\n" and got["resources"] == "alpha\n"
    assert got["resources-iter"] == ["a.txt", "sub"] and got["resources-module"] is True
    assert got["as-file"] == "alpha\n" and got["pkgutil-data"] == "beta\n"
    assert got["pkgutil-root"] == ["json", "probe", "pyconly", "srconly"]
    assert got["pkgutil-pkg"] == [["__main__", False], ["plugin", False], ["sub", True]]
    assert got["md-version"] == "1.0" and got["md-eps"] == ["first"] and got["md-ep-load"] == 4
    assert "probe/data/a.txt" in got["md-files"] and got["md-requires"] == ["attrs>=1"]
    assert got["md-dists"] == ["probe"]  # found once, not once per finder
    assert got["md-read"] == "probe"
    assert got["sys-path-order"] == "disk"


def test_exit_codes_and_tracebacks(probe: Path, b: Builder) -> None:
    assert run(probe, "return", "7").returncode == 7
    proc = run(probe, "exit-message")
    assert proc.returncode == 1 and proc.stderr.strip().endswith("goodbye from the app")
    proc = run(probe, "raise")
    assert proc.returncode == 1
    assert "TypeError" in proc.stderr and f'File "{probe}/probe/__init__.py"' in proc.stderr
    if tuple(map(int, b.minor.split("."))) < (3, 13):
        # 3.11/3.12 print an uncaught exception in C, which reads source lines only from a real file
        # descriptor (PyObject_AsFileDescriptor on what io.open returns): not from a member of the binary.
        pytest.xfail(f"CPython {b.minor} prints no source lines of files inside the binary")
    assert "return x * x" in proc.stderr  # the source line, from the binary


def test_argv_and_executable(probe: Path) -> None:
    proc = run(probe, "argv", "--flag", "x y")
    assert proc.returncode == 0, proc.stderr
    argv, executable, _isolated = json.loads(proc.stdout)
    assert argv == [str(probe), "argv", "--flag", "x y"] and executable == str(probe)


def test_module_entry_runs_as_main(b: Builder, tmp_path: Path) -> None:
    binary = b.build(tmp_path / "mainmod", MEMBERS, "probe")
    proc = run(binary, "a", "b")
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout.strip() == "probe as __main__ ['a', 'b']"


def test_stale_bytecode_without_source_is_a_clear_import_error(b: Builder, tmp_path: Path) -> None:
    # Bytecode of another Python version (wrong magic number) and no source to fall back to.
    stale = b"\x00\x00\r\n" + b"\0" * 12 + b"not marshal data"
    members = [Member("app.py", b"def main():\n    import broken\n"), Member(f"__pycache__/broken.{b.tag}.pyc", stale)]
    binary = b.build(tmp_path / "broken", members, "app:main")
    proc = run(binary)
    assert proc.returncode == 1
    assert "ImportError: exxo: broken has neither usable bytecode" in proc.stderr


SETUPTOOLS_SMOKE = b'''
import warnings
def main():
    warnings.simplefilter("ignore")
    import pkg_resources
    d = pkg_resources.get_distribution("setuptools")
    assert d.version, d
    assert pkg_resources.resource_exists("setuptools", "script.tmpl")
    assert pkg_resources.resource_string("setuptools", "script.tmpl")
    assert "setuptools" in {x.project_name for x in pkg_resources.working_set}
    print("pkg_resources", d.version, d.location)
'''


@pytest.mark.slow
@pytest.mark.network
def test_pkg_resources_with_setuptools_below_81(b: Builder, tmp_path: Path) -> None:
    site = pip_target(b.python, ["setuptools<81"])
    members = members_from_dir(site) + [Member("app.py", SETUPTOOLS_SMOKE)]
    binary = b.build(tmp_path / "pkgres", members, "app:main")
    proc = run(binary)
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    assert words[0] == "pkg_resources" and words[2] == str(binary)
