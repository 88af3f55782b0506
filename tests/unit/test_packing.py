"""packing: the size levers decided at build time (the binaries themselves: tests/integration/test_build_size.py)."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from exxo import archive, packing
from tests.unit.test_archive import ENTRY, PY, fake_runtime_with_stdlib

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own build cache (packing.cached)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_config_extends_and_keeps_the_default_exclusions() -> None:
    p = packing.packing_for({}, compress=False)
    assert p.stdlib_exclude == packing.DEFAULT_STDLIB_EXCLUDE and p.strip and p.bytecode == "auto"
    assert not p.compress_native and p.user_excluded == ()
    p = packing.packing_for({"stdlib-exclude": ["xmlrpc", "pydoc_data"], "stdlib-keep": ["ensurepip"],
                             "strip": False, "compress-bytecode": False}, compress=False)
    assert p.stdlib_exclude == ("pydoc_data", "xmlrpc") and p.user_excluded == ("xmlrpc",)
    assert not p.strip and p.bytecode == "stored"
    p = packing.packing_for({"compress-bytecode": False}, compress=True, strip=False)
    assert p.compress_native and p.bytecode == "compressed" and not p.strip  # -c is the smallest; --no-strip wins
    assert packing.packing_for({"compress-bytecode": True}, compress=False).bytecode == "compressed"


@pytest.mark.parametrize(("name", "policy", "stdlib", "packed"), [
    ("lib/python3.13/json/__init__.pyc", "auto", True, True),
    ("lib/python3.13/site-packages/flask/__pycache__/app.cpython-313.pyc", "auto", False, False),
    ("lib/python3.13/site-packages/numpy/_core/tests/__pycache__/t.cpython-313.pyc", "auto", False, True),
    ("lib/python3.13/site-packages/__pycache__/test_x.cpython-313.pyc", "auto", False, True),
    ("lib/python3.13/json/__init__.pyc", "stored", True, False),
    ("lib/python3.13/site-packages/flask/__pycache__/app.cpython-313.pyc", "compressed", False, True),
])
def test_which_bytecode_is_packed(name: str, policy: str, stdlib: bool, packed: bool) -> None:
    assert packing.compress_bytecode(name, policy, stdlib) is packed


@pytest.mark.parametrize(("name", "dropped"), [
    ("lib/python3.13/pydoc_data/topics.pyc", True), ("lib/python3.13/pydoc_data/__init__.pyc", True),
    ("lib/python3.13/pydoc.pyc", False), ("lib/python3.13/xml/dom/minidom.pyc", True),
    ("lib/python3.13/xml/dom.pyc", True), ("lib/python3.13/xml/sax/__init__.pyc", False),
    ("lib/python3.13/site-packages/pydoc_data/x.pyc", False), ("lib/python3.13/ensurepip/_bundled/pip.whl", True),
])
def test_stdlib_members_of_excluded_modules(name: str, dropped: bool) -> None:
    assert packing.stdlib_member_dropped(name, "lib/python3.13", ("pydoc_data", "xml.dom", "ensurepip")) is dropped


def test_the_dropped_listing_names_the_setting() -> None:
    p = packing.packing_for({"stdlib-exclude": ["xmlrpc", "not_in_runtime"]}, compress=False)
    text = packing.dropped_listing(p, {"ensurepip", "pydoc_data", "xmlrpc", "json"}).decode()
    assert text == "ensurepip stdlib-keep\npydoc_data stdlib-keep\nxmlrpc stdlib-exclude\n"
    p = replace(p, stdlib_exclude=(*p.stdlib_exclude, "json"), unimported=("json",))
    text = packing.dropped_listing(p, {"ensurepip", "pydoc_data", "xmlrpc", "json"}).decode()
    assert text == "ensurepip stdlib-keep\njson stdlib-keep unimported\npydoc_data stdlib-keep\nxmlrpc stdlib-exclude\n"


def test_the_boot_reads_the_listing_under_the_same_name() -> None:
    assert f'_DROPPED = "{packing.DROPPED_NAME}"' in (ROOT / "src/exxo/_boot/importer.py").read_text()


def _lib_with_debug(tmp: Path) -> bytes:
    if shutil.which("cc") is None:
        pytest.fail("a C compiler is needed (make prereqs installs build-essential)")
    src = tmp / "f.c"
    src.write_text("static int helper(int x) { return x * 2; }\nint exported(int x) { return helper(x) + 1; }\n")
    subprocess.run(["cc", "-g", "-O0", "-shared", "-fPIC", "-o", str(tmp / "libf.so"), str(src)], check=True)
    return (tmp / "libf.so").read_bytes()


def test_strip_drops_debug_and_static_symbols_keeps_the_loaded_image(tmp_path: Path) -> None:
    data = _lib_with_debug(tmp_path)
    strip = packing.find_strip()
    assert strip is not None
    out = packing.strip_elf(data, strip)
    assert len(out) < len(data) and packing._image(out) == packing._image(data)
    assert not packing._strippable(out)
    assert packing.strip_elf(out, strip) is out  # nothing left to strip: the bytes as they were
    not_elf = b"\x7fELF but not really"
    assert packing.strip_elf(not_elf, strip) is not_elf
    assert packing.strip_elf(data, "/bin/false") is data  # strip failing: kept whole


def test_a_stripped_file_that_maps_differently_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _lib_with_debug(tmp_path)
    calls = iter([["a"], ["b"]])
    monkeypatch.setattr(packing, "_image", lambda d: next(calls))
    assert packing.strip_elf(data, packing.find_strip() or "strip") is data


def test_the_build_cache_returns_what_was_made_and_remakes_a_damaged_entry(own_cache: Path) -> None:
    made = []

    def make() -> bytes:
        made.append(1)
        return b"packed bytes"

    assert packing.cached("k", b"key", make) == b"packed bytes" and packing.cached("k", b"key", make) == b"packed bytes"
    assert len(made) == 1
    (entry,) = [p for p in own_cache.rglob("*") if p.is_file()]
    entry.write_bytes(b"damaged" + entry.read_bytes()[7:])
    assert packing.cached("k", b"key", make) == b"packed bytes" and len(made) == 2
    big = bytes(range(256)) * 100
    import zlib

    assert zlib.decompress(packing.deflate(big, 6), -15) == big == zlib.decompress(packing.deflate(big, 6), -15)


def test_identical_members_are_written_once(tmp_path: Path) -> None:
    runtime = fake_runtime_with_stdlib(tmp_path)
    blob = bytes(range(256)) * 40
    members = [archive.Member("app/__init__.py", b"x = 1\n"), archive.Member("app/a.bin", blob),
               archive.Member("app/b.bin", blob), archive.Member("app/c.bin", blob[::-1])]
    out = archive.write_binary(tmp_path / "app", runtime, members, ENTRY, "memfd", PY, b"boot", {}).path
    files = archive.read_info(out)["files"]
    assert files["app/a.bin"] == files["app/b.bin"] and files["app/c.bin"][0] != files["app/a.bin"][0]
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None and zf.read("app/a.bin") == blob
        assert "app/b.bin" not in zf.namelist()  # one central-directory entry per stored copy
    with archive.Members(out, archive.read_info(out)) as by_name:  # what exxo's own readers use (the SBOM)
        assert by_name.read("app/b.bin") == blob and by_name.read("app/c.bin") == blob[::-1]
    renamed = [archive.Member("app/__init__.py", b"x = 1\n"), archive.Member("app/a.bin", blob),
               archive.Member("app/z.bin", blob), archive.Member("app/c.bin", blob[::-1])]
    other = archive.write_binary(tmp_path / "other", runtime, renamed, ENTRY, "memfd", PY, b"boot", {}).path
    assert archive.read_info(other)["build_id"] != archive.read_info(out)["build_id"]  # names are hashed


def test_bytecode_policies(tmp_path: Path) -> None:
    runtime = fake_runtime_with_stdlib(tmp_path)
    pyc = b"\x00" * 16 + bytes(range(100)) * 50
    app, test = "app/__pycache__/m.cpython-313.pyc", "app/tests/__pycache__/test_m.cpython-313.pyc"
    members = [archive.Member(app, pyc), archive.Member(test, pyc + b"x")]
    methods = {}
    for policy in packing.BYTECODE:
        out = archive.write_binary(tmp_path / policy, runtime, members, ENTRY, "memfd", PY, b"boot", {},
                                   packing.Packing(bytecode=policy)).path
        files = archive.read_info(out)["files"]
        methods[policy] = (files[app][3], files[test][3])
    assert methods == {"stored": (0, 0), "auto": (0, 93), "compressed": (93, 93)}  # 93: zstd


def test_a_launcher_without_zstd_gets_deflate(tmp_path: Path) -> None:
    """An exxo venv made by an older exxo has a runtime whose launcher reads no zstd: its binaries must still
    run, so what would be zstd is deflated."""
    runtime = fake_runtime_with_stdlib(tmp_path, zstd=False)
    elf = b"\x7fELF" + bytes(range(256)) * 40
    members = [archive.Member("app/__pycache__/m.cpython-313.pyc", b"\x00" * 16 + bytes(range(100)) * 50),
               archive.Member("app/lib.so", elf)]
    out = archive.write_binary(tmp_path / "old", runtime, members, ENTRY, "memfd", PY, b"boot", {},
                               packing.Packing(bytecode="compressed", compress_native=True)).path
    files = archive.read_info(out)["files"]
    assert files["app/__pycache__/m.cpython-313.pyc"][3] == 8 and files["app/lib.so"][3] == 8
    assert files["lib/python3.13/os.pyc"][3] == 8  # the stdlib's too
    assert not archive.launcher_reads_zstd(runtime.read_bytes())
    assert archive.launcher_reads_zstd(fake_runtime_with_stdlib(tmp_path).read_bytes())
