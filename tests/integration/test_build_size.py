"""What makes binaries smaller (issue 13), on real binaries: identical members stored once, wheels' native code
stripped, bytecode packed with zstd, stdlib modules left out (with an ImportError naming the setting), dependencies
without their sources, and `exxo inspect --sizes`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import alone, assert_intact_zip, exxo, fixture, run_clean
from tests.integration.test_build_apps import build
from tests.projects import write_project

pytestmark = pytest.mark.runtime
SITE = f"lib/python{PYTHON_VERSION}/site-packages/"
BLOB = bytes(range(256)) * 80  # 20 kB


def manifest(binary: Path) -> dict:  # type: ignore[type-arg]
    info = json.loads(exxo("inspect", binary, "--json", "--list", "--sizes").stdout)
    from exxo.archive import read_info

    return read_info(binary) | {"_inspect": info}


def with_config(src: Path, lines: str) -> Path:
    (src / "pyproject.toml").write_text((src / "pyproject.toml").read_text() + "\n[tool.exxo]\n" + lines + "\n")
    return src


def test_identical_members_are_stored_once(exxo_venv: Path, tmp_path: Path) -> None:
    main = ("import hashlib, os\n"
            "def main():\n"
            "    here = os.path.dirname(__file__)\n"
            "    for n in ('a.bin', 'b.bin', 'c.bin'):\n"
            "        with open(os.path.join(here, 'data', n), 'rb') as f:\n"
            "            print(n, hashlib.sha256(f.read()).hexdigest())\n")
    src = write_project(tmp_path / "dupes", "dupes", "dupes", [], {"dupes": "dupes:main"},
                        {"__init__.py": main}, package_data=["data/*"])
    (src / "dupes" / "data").mkdir()
    for name, data in (("a.bin", BLOB), ("b.bin", BLOB), ("c.bin", BLOB[::-1])):
        (src / "dupes" / "data" / name).write_bytes(data)
    binary = build(exxo_venv, src)
    info = manifest(binary)
    a, b, c = (info["files"][SITE + f"dupes/data/{n}"] for n in ("a.bin", "b.bin", "c.bin"))
    assert a == b and a[0] != c[0]  # one copy, two names: same offset, size, CRC
    assert info["_inspect"]["size_report"]["identical_copies"]["names"] >= 1
    names = assert_intact_zip(binary)  # still a valid zip, each name once
    assert len(names) == len(set(names)) and SITE + "dupes/data/a.bin" in names
    import hashlib

    proc = run_clean(alone(binary, tmp_path / "e"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["a.bin", hashlib.sha256(BLOB).hexdigest(), "b.bin",
                                   hashlib.sha256(BLOB).hexdigest(), "c.bin", hashlib.sha256(BLOB[::-1]).hexdigest()]


def _sections(data: bytes) -> set[str]:
    from elftools.elf.elffile import ELFFile

    return {s.name for s in ELFFile(io.BytesIO(data)).iter_sections()}


def _dynsyms(data: bytes) -> list[str]:
    from elftools.elf.elffile import ELFFile

    return sorted(s.name for s in ELFFile(io.BytesIO(data)).get_section_by_name(".dynsym").iter_symbols())


def _member(binary: Path, name: str) -> bytes:
    from exxo.archive import read_info

    e = read_info(binary)["files"][name]
    data = binary.read_bytes()
    start = read_info(binary)["_sizes"]["runtime"]
    from exxo.archive import unpack

    return unpack(data[start + e[0]:start + e[0] + e[1]], e[3], e[2])


def test_native_members_lose_debug_sections_keep_dynamic_symbols(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cext-sdist", tmp_path)
    env = {"CFLAGS": "-g -O1"}  # an extension with debug sections, as some wheels ship them
    stripped = build(exxo_venv, src, out=tmp_path / "stripped", env=env)
    kept = build(exxo_venv, src, "--no-strip", out=tmp_path / "kept", env=env)
    name = next(n for n in manifest(kept)["elf"] if "/_fast." in n)
    full, small = _member(kept, name), _member(stripped, name)
    assert ".debug_info" in _sections(full) and ".symtab" in _sections(full)
    assert not any(s.startswith(".debug") for s in _sections(small)) and ".symtab" not in _sections(small)
    assert _dynsyms(small) == _dynsyms(full) and len(small) < len(full)
    for mode in ("memfd", "cache"):
        proc = run_clean(alone(stripped, tmp_path / mode), env={"EXXO_NATIVE": mode, "HOME": str(tmp_path)})
        assert proc.returncode == 0 and proc.stdout.splitlines()[0] == "add 42", proc.stderr


def test_a_left_out_stdlib_module_names_the_setting(exxo_venv: Path, tmp_path: Path) -> None:
    src = with_config(fixture("cli-pure", tmp_path), 'stdlib-exclude = ["xmlrpc"]')
    binary = alone(build(exxo_venv, src), tmp_path / "e")
    names = manifest(binary)["files"]
    assert not any(n.startswith(f"lib/python{PYTHON_VERSION}/{m}/") for n in names for m in ("xmlrpc", "pydoc_data"))
    assert f"lib/python{PYTHON_VERSION}/json/__init__.pyc" in names
    code = ("import sys\ntry:\n    import %s\nexcept ImportError as e:\n    print(type(e).__name__, e)\n"
            "else:\n    print('imported')\n")
    py = {"EXXO_PYTHON": "1"}
    out = run_clean(binary, "-c", code % "xmlrpc.client", env=py).stdout.strip()
    assert out.startswith("ModuleNotFoundError No module named 'xmlrpc'") and "[tool.exxo] stdlib-exclude" in out
    out = run_clean(binary, "-c", code % "pydoc_data.topics", env=py).stdout.strip()
    assert 'stdlib-keep = ["pydoc_data"]' in out, out
    assert run_clean(binary, "-c", code % "json", env=py).stdout.strip() == "imported"
    plain = run_clean(binary, "-c", code % "no_such_module_here", env=py).stdout.strip()
    assert plain == "ModuleNotFoundError No module named 'no_such_module_here'"
    # stdlib-keep brings a default-excluded module back
    back = with_config(fixture("cli-pure", tmp_path / "k"), 'stdlib-keep = ["pydoc_data"]')
    again = alone(build(exxo_venv, back), tmp_path / "k2")
    assert run_clean(again, "-c", code % "pydoc_data.topics", env=py).stdout.strip() == "imported"


IMPORTING = """import importlib, json, sys
def main():
    print(json.dumps({"a": 1}), importlib.import_module("csv").__name__)
    name = "".join(("toml", "lib"))  # a name computed at run time: no build can see it
    try:
        __import__(name)
    except ImportError as e:
        print(type(e).__name__, e)
    else:
        print("imported", name)
"""


def test_stdlib_imported_keeps_what_the_code_imports(exxo_venv: Path, tmp_path: Path) -> None:
    full = build(exxo_venv, write_project(tmp_path / "full", "reach", "reach", [], {"reach": "reach:main"},
                                          {"__init__.py": IMPORTING}))
    proc = run_clean(alone(full, tmp_path / "f"))
    assert proc.returncode == 0 and proc.stdout.splitlines() == ['{"a": 1} csv', "imported tomllib"], proc.stderr
    src = with_config(write_project(tmp_path / "imp", "reach", "reach", [], {"reach": "reach:main"},
                                    {"__init__.py": IMPORTING}), 'stdlib = "imported"')
    small = build(exxo_venv, src)
    names = manifest(small)["files"]
    std = f"lib/python{PYTHON_VERSION}/"
    for kept in ("json/__init__.pyc", "json/decoder.pyc", "csv.pyc", "encodings/utf_8.pyc", "importlib/__init__.pyc",
                 "re/__init__.pyc"):
        assert std + kept in names, kept
    for left in ("tomllib/__init__.pyc", "xmlrpc/client.pyc", "asyncio/__init__.pyc", "sqlite3/__init__.pyc"):
        assert std + left not in names, left
    assert small.stat().st_size < full.stat().st_size - 1_000_000
    proc = run_clean(alone(small, tmp_path / "s"))
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[0] == '{"a": 1} csv', proc.stderr
    assert lines[1].startswith("ModuleNotFoundError No module named 'tomllib'") and \
        'stdlib-keep = ["tomllib"]' in lines[1] and 'no code in the binary imports it' in lines[1], lines
    # the interpreter inside (re-entry) has the kept stdlib
    py = run_clean(small, "-c", "import json, csv, encodings.idna; print('ok')", env={"EXXO_PYTHON": "1"})
    assert py.returncode == 0 and py.stdout.strip() == "ok", py.stderr
    back = with_config(write_project(tmp_path / "keep", "reach", "reach", [], {"reach": "reach:main"},
                                     {"__init__.py": IMPORTING}), 'stdlib = "imported"\nstdlib-keep = ["tomllib"]')
    proc = run_clean(alone(build(exxo_venv, back), tmp_path / "k"))
    assert proc.returncode == 0 and proc.stdout.splitlines()[1] == "imported tomllib", proc.stdout + proc.stderr


def test_stdlib_bytecode_packed_and_dependency_sources_optional(exxo_venv: Path, tmp_path: Path) -> None:
    main = ("def main():\n    import importlib.resources, os, pip, pip._internal.utils.misc as m\n"
            "    print('pip', pip.__version__, m.__name__)\n"
            "    # sourceless: __file__ lies in the package's directory, as CPython's sourceless layout has it\n"
            "    print(os.path.basename(pip.__file__), os.path.basename(os.path.dirname(m.__file__)),\n"
            "          importlib.resources.files('pip').joinpath('py.typed').is_file())\n"
            "    raise SystemExit(0)\n")
    src = with_config(write_project(tmp_path / "srcless", "srcless", "srcless", ["pip"], {"srcless": "srcless:main"},
                                    {"__init__.py": main}), "dependency-sources = false")
    binary = build(exxo_venv, src)
    files = manifest(binary)["files"]
    assert SITE + "srcless/__init__.py" in files  # the project's own sources stay
    assert SITE + "pip/__init__.py" not in files and SITE + "pip/__pycache__/__init__.cpython-3" + \
        PYTHON_VERSION.split(".")[1] + ".pyc" in files
    tag = "cpython-3" + PYTHON_VERSION.split(".")[1]
    # what the entry imports (and what that imports at module level) stays stored; the rest is packed
    hot = [SITE + f"pip/__pycache__/__init__.{tag}.pyc", SITE + f"pip/_internal/utils/__pycache__/misc.{tag}.pyc"]
    assert all(files[n][3] == 0 for n in hot), [files[n] for n in hot]
    cold = SITE + f"pip/_internal/commands/__pycache__/install.{tag}.pyc"
    assert files[cold][3] == 93, files[cold]
    stdlib_json = [e for n, e in files.items() if n.startswith(f"lib/python{PYTHON_VERSION}/json/") and e[2] > 4096]
    assert stdlib_json and all(e[3] == 93 for e in stdlib_json)  # the stdlib's is packed (zstd)
    proc = run_clean(alone(binary, tmp_path / "e"))
    assert proc.returncode == 0 and proc.stdout.startswith("pip "), proc.stderr
    assert proc.stdout.splitlines()[1] == "__init__.pyc utils True", proc.stdout


def test_inspect_sizes(exxo_venv: Path, tmp_path: Path) -> None:
    binary = build(exxo_venv, fixture("cext-sdist", tmp_path))
    proc = exxo("inspect", binary, "--sizes", "--top", "5")
    assert proc.returncode == 0, proc.stderr
    for text in ("biggest packages", "biggest members", "stdlib", "cext_app", "in file", "unpacked", "native"):
        assert text in proc.stdout
    report = json.loads(exxo("inspect", binary, "--json", "--sizes").stdout)["size_report"]
    assert report["file"] == binary.stat().st_size and report["runtime"] + report["zip"] == report["file"]
    assert sum(k["in_file"] for k in report["kinds"].values()) < report["zip"]
    assert report["packages"]["stdlib"]["unpacked"] > report["packages"]["stdlib"]["in_file"] > 0
    assert len(report["members"]) == 15 and report["members"][0]["in_file"] >= report["members"][-1]["in_file"]
