"""reach and probes/imports: which stdlib modules a binary's code can import (`stdlib = "imported"`).

The probe's reading is checked on bytecode this interpreter compiles (the probe runs in the runtime, whose
version it reads); what the kept stdlib does in a real binary: tests/integration/test_build_size.py."""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import sys
from pathlib import Path

import pytest

from exxo import packing, probes, reach
from exxo.probes import imports


def pyc(source: str, name: str = "x.py") -> bytes:
    return importlib.util.MAGIC_NUMBER + b"\0" * 12 + marshal.dumps(compile(source, name, "exec"))


SOURCE = '''
import json, os.path
from email.mime import text
from . import sibling
from .. import cousin
from .sub import thing
def later():
    import xml.dom.minidom
    try:
        import tomllib
    except ImportError:
        pass
class C:
    from csv import reader
HANDLER = "logging.handlers.RotatingFileHandler"
WORD = "pdb"
def _test():
    import doctest
if __name__ == "__main__":
    import argparse
    _test()
'''


def test_references_cover_every_import_form() -> None:
    eager, lazy, dynamic, names, script = imports.references(marshal.loads(pyc(SOURCE)[16:]), "pkg.inner.mod", False)
    assert {"json", "os.path", "email.mime", "email.mime.text", "csv", "csv.reader"} <= set(eager)
    assert {"pkg.inner", "pkg.inner.sibling", "pkg", "pkg.cousin", "pkg.inner.sub", "pkg.inner.sub.thing"} <= set(eager)
    assert {"xml.dom.minidom", "tomllib"} <= set(lazy) and "tomllib" not in eager  # inside a function
    assert not dynamic and names == []  # strings are data here
    assert script == ["argparse", "doctest"]  # what running it as a script imports
    eager, lazy, dynamic, names, script = imports.references(
        compile("import importlib\nNAME = 'email.mime'\ndef f():\n    return importlib.import_module('pdb')\n",
                "y", "exec"), "y", False)
    assert dynamic and {"pdb", "email.mime"} <= set(names) and eager == ["importlib"]


def test_member_names_give_module_names() -> None:
    assert imports.module_of("lib/python3.13/json/decoder.pyc") == ("json.decoder", False)
    assert imports.module_of("lib/python3.13/json/__init__.pyc") == ("json", True)
    assert imports.module_of("lib/python3.13/site-packages/app/__pycache__/cli.cpython-313.pyc") == ("app.cli", False)
    assert imports.module_of("lib/python3.13/site-packages/app/__pycache__/__init__.cpython-313.pyc") == ("app", True)


def test_the_probe_runs_as_a_program() -> None:
    name = "lib/python3.13/site-packages/a/__pycache__/m.cpython-313.pyc"
    members = {name: pyc("import json\n"), "junk": b"xx"}
    proc = subprocess.run(probes.command(sys.executable, "imports", flags=("-I", "-S")),
                          input=marshal.dumps(members), capture_output=True, check=True)
    assert marshal.loads(proc.stdout) == {name: (["json"], [], False, [], [])}


def r(eager: list[str] | None = None, lazy: list[str] | None = None, dynamic: bool = False) -> reach.Refs:
    return eager or [], lazy or [], dynamic, [], []


def test_reach_follows_references_packages_and_c_modules() -> None:
    graph = {
        "json": r(["json.decoder"]), "json.decoder": r(["re", "_json"]),
        "json.tool": r(["argparse"]), "argparse": r(),
        "re": r(["enum"], ["copyreg"]), "enum": r(["types"]), "types": r(),
        "copyreg": r(), "pydoc": r(["email.message"]), "email": r(),
        "email.message": r(), "site": r(["os"], ["pydoc"]),
        "os": r(["stat"], ["subprocess"]),
        "stat": r(), "subprocess": r(), "pickle": r(["_pickle"]),
        "encodings": r(["codecs"], dynamic=True), "codecs": r(),
        "encodings.idna": r(["stringprep"]),
        "stringprep": r(), "pydoc_data": r(),
    }
    packages = {"json", "email", "encodings"}
    builtins = {"_json": [], "_pickle": ["copyreg"]}

    def reach_(full: list[str], eager: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> set[str]:
        return reach.reachable(full, eager, graph, packages, builtins, exclude)

    assert reach_(["json.decoder.JSONDecoder"]) == {"json", "json.decoder", "re", "enum", "types", "copyreg"}
    assert reach_(["pickle"]) == {"pickle", "copyreg"}  # what the C module _pickle imports
    # start-up modules: only what runs at import; an app importing them gets the rest
    assert reach_([], ("site",)) == {"site", "os", "stat"}
    assert reach_(["os"], ("site",)) == {"site", "os", "stat", "subprocess"}
    # computed names: the whole package
    assert reach_(["encodings"]) == {"encodings", "codecs", "encodings.idna", "stringprep"}
    assert reach_(["numpy", "email.mime.text"]) == {"email"}  # not the stdlib's; the nearest module
    assert reach_(["pydoc_data.topics", "pydoc"], exclude=("pydoc_data", "email.message")) == {"pydoc"}


def test_pth_import_lines() -> None:
    members = [("a.pth", b"/some/path\nimport _virtualenv\n"), ("b.pth", b"from foo.bar import x; x()\n"),
               ("c.txt", b"import nothing\n")]
    assert reach.pth_imports(members) == {"_virtualenv", "foo.bar"}


def test_stdlib_setting() -> None:
    assert packing.packing_for({}, compress=False).stdlib == "all"
    assert packing.packing_for({}, compress=True).stdlib == "imported"
    p = packing.packing_for({"stdlib": "all", "stdlib-keep": ["pdb"]}, compress=True)
    assert p.stdlib == "all" and p.keep == ("pdb",)


def test_native_members_name_what_their_c_code_imports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    blob = (b"\x7fELF\x00\x02uuid\x00PyInit_orjson\x00datetime.datetime_CAPI\x00not a name\x00_x9\x00"
            b"\x00.hidden\x00tail")
    found = reach.native_imports(blob)
    assert {"uuid", "PyInit_orjson", "datetime.datetime_CAPI", "_x9"} <= set(found)
    assert "hidden" not in found and ".hidden" not in found and "tail" not in found
    graph = {"uuid": r(), "datetime": r(), "tomllib": r(), "sysconfig": r(), "_sysconfigdata__linux_x": r()}
    assert reach.reachable(["sysconfig"], (), graph, set(), {}) == {"sysconfig", "_sysconfigdata__linux_x"}
    assert reach.reachable(found, (), graph, set(), {}) == {"uuid", "datetime"}


def test_app_members_name_their_modules() -> None:
    site = "lib/python3.13/site-packages/"
    ext = "cpython-313-x86_64-linux-gnu.so"
    assert reach.app_module_of(site + "gevent/__pycache__/hub.cpython-313.pyc") == "gevent.hub"
    assert reach.app_module_of(site + f"gevent/libev/corecext.{ext}") == "gevent.libev.corecext"
    assert reach.app_module_of(site + f"_cffi_backend.{ext}") == "_cffi_backend"
    # a library, not an extension module: hot only when a hot extension module needs it (archive._cold_natives)
    assert reach.app_module_of(site + "numpy.libs/libscipy_openblas64_-ff651d7f.so") is None
    assert reach.app_module_of("lib/python3.13/json/decoder.pyc") is None  # the stdlib's: not an app member
    assert reach.app_module_of(site + "pkg/data.txt") is None
