"""reach and probes/imports: which stdlib modules a binary's code can import (`stdlib = "imported"`).

The probe's reading is checked on bytecode this interpreter compiles (the probe runs in the runtime, whose
version it reads); what the kept stdlib does in a real binary: tests/integration/test_build_size.py."""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import sys

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
'''


def test_references_cover_every_import_form() -> None:
    refs = set(imports.references(marshal.loads(pyc(SOURCE)[16:]), "pkg.inner.mod", False))
    assert {"json", "os.path", "email.mime", "xml.dom.minidom", "tomllib", "csv"} <= refs
    assert {"pkg.inner", "pkg.inner.sibling", "pkg", "pkg.cousin", "pkg.inner.sub"} <= refs
    assert "logging.handlers.RotatingFileHandler" in refs  # a dotted-name string
    assert "pdb" not in refs  # a bare word counts only in code that calls an import function
    dynamic = imports.references(compile("import importlib\nm = importlib.import_module('pdb')", "y", "exec"),
                                 "y", False)
    assert "pdb" in dynamic


def test_member_names_give_module_names() -> None:
    assert imports.module_of("lib/python3.13/json/decoder.pyc") == ("json.decoder", False)
    assert imports.module_of("lib/python3.13/json/__init__.pyc") == ("json", True)
    assert imports.module_of("lib/python3.13/site-packages/app/__pycache__/cli.cpython-313.pyc") == ("app.cli", False)
    assert imports.module_of("lib/python3.13/site-packages/app/__pycache__/__init__.cpython-313.pyc") == ("app", True)


def test_the_probe_runs_as_a_program() -> None:
    members = {"lib/python3.13/site-packages/a/__pycache__/m.cpython-313.pyc": pyc("import json\n"), "junk": b"xx"}
    proc = subprocess.run(probes.command(sys.executable, "imports", flags=("-I", "-S")),
                          input=marshal.dumps(members), capture_output=True, check=True)
    assert marshal.loads(proc.stdout) == {"lib/python3.13/site-packages/a/__pycache__/m.cpython-313.pyc": ["json"]}


def test_reach_follows_references_whole_packages_and_c_modules() -> None:
    refs = {"json": {"json.decoder", "_json", "re"}, "re": {"enum", "functools"}, "enum": {"types"},
            "email": {"email.mime", "base64"}, "base64": {"struct"}, "functools": set(), "types": set(),
            "pickle": {"_pickle"}, "copyreg": set()}
    tops = set(refs) | {"tomllib", "pdb"}
    builtins = {"_json": [], "_pickle": ["copyreg"], "struct": []}
    assert reach.reachable(["json.tool"], refs, dict(builtins), tops) == {"json", "re", "enum", "functools", "types"}
    assert reach.reachable(["pickle"], refs, dict(builtins), tops) == {"pickle", "copyreg"}
    assert reach.reachable(["email.mime.text", "pdb"], refs, dict(builtins), tops) == {"email", "base64", "pdb"}
    assert reach.reachable(["numpy", "os"], refs, dict(builtins), tops) == set()  # not the stdlib's


def test_pth_import_lines() -> None:
    members = [("a.pth", b"/some/path\nimport _virtualenv\n"), ("b.pth", b"from foo.bar import x; x()\n"),
               ("c.txt", b"import nothing\n")]
    assert reach.pth_imports(members) == {"_virtualenv", "foo.bar"}


def test_stdlib_setting() -> None:
    assert packing.packing_for({}, compress=False).stdlib == "all"
    assert packing.packing_for({}, compress=True).stdlib == "imported"
    p = packing.packing_for({"stdlib": "all", "stdlib-keep": ["pdb"]}, compress=True)
    assert p.stdlib == "all" and p.keep == ("pdb",)
