"""archive: the binary format written and read back (a real ELF + zip; the boot itself is tested in
integration tests with the real runtime)."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from exxo import archive
from exxo.errors import InputError

ENTRY = {"module": "app", "attr": "main", "name": "app"}
PY = {"version": "3.13.15", "minor": "3.13", "tag": "cpython-313"}


def make(tmp: Path, name: str = "app", members: list[archive.Member] | None = None) -> Path:
    runtime = tmp / "runtime"
    shutil.copy2("/bin/true", runtime)
    so = Path("/lib/x86_64-linux-gnu/libz.so.1").read_bytes() if Path("/lib/x86_64-linux-gnu/libz.so.1").exists() \
        else Path("/bin/true").read_bytes()
    members = members or [
        archive.Member("app/__init__.py", b"def main():\n    return 0\n"),
        archive.Member("app/data/hello.txt", b"hello\n"),
        archive.Member("app.libs/libz-1234abcd.so.1", so),
    ]
    return archive.write_binary(tmp / name, runtime, members, ENTRY, "memfd", PY, b"bootcode", {}).path


def test_round_trip(tmp_path: Path) -> None:
    out = make(tmp_path)
    info = archive.read_info(out)
    assert info["entry"] == ENTRY and info["python"] == PY and info["native"] == "memfd"
    assert out.stat().st_mode & 0o777 == 0o755
    data = out.read_bytes()
    base = archive.zip_start(data)
    assert base == Path("/bin/true").stat().st_size
    entry = info["files"]["app/data/hello.txt"]
    assert entry[4] == 0 and entry[2] == 6
    so = info["files"]["app.libs/libz-1234abcd.so.1"]
    assert so[3] == 0  # ELF stored, so it can be copied to a memfd without inflating
    assert data[base + so[0]:base + so[0] + 4] == b"\x7fELF"
    facts = info["elf"]["app.libs/libz-1234abcd.so.1"]
    assert len(facts["sha256"]) == 64
    assert "app/" in info["files"] and info["files"]["app/"][4] == 1  # directory entries exist
    with zipfile.ZipFile(out) as zf:  # a standard zip for standard tools
        assert zf.read("app/data/hello.txt") == b"hello\n"
        assert zf.testzip() is None
        assert zf.read(archive.BOOT) == b"bootcode"


def test_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = make(tmp_path, "a")
    b = make(tmp_path, "b")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_relocate_keeps_members_readable(tmp_path: Path) -> None:
    out = make(tmp_path)
    data = out.read_bytes()
    start = archive.zip_start(data)
    assert start is not None
    bigger = data[:start] + b"\0" * 4096  # as if upx had changed the ELF's size
    moved = tmp_path / "moved"
    moved.write_bytes(archive.relocate(data[start:], bigger))
    info = archive.read_info(moved)
    with zipfile.ZipFile(moved) as zf:
        assert zf.read("app/__init__.py").startswith(b"def main")
    comment = moved.read_bytes()[-archive.COMMENT_SIZE:]
    moff = int(comment[41:57], 16)
    assert json.loads(moved.read_bytes()[moff:moff + int(comment[58:74], 16)])["build_id"] == info["build_id"]


@pytest.mark.parametrize("damage", ["truncate", "not-exxo", "garbage-manifest", "empty"])
def test_read_info_errors(tmp_path: Path, damage: str) -> None:
    out = make(tmp_path)
    data = out.read_bytes()
    if damage == "truncate":
        out.write_bytes(data[: len(data) // 2])
    elif damage == "not-exxo":
        shutil.copy2("/bin/true", out)
    elif damage == "empty":
        out.write_bytes(b"")
    else:
        comment = data[-archive.COMMENT_SIZE:]
        moff = int(comment[41:57], 16)
        out.write_bytes(data[:moff] + b"\xff" * 8 + data[moff + 8:])
    with pytest.raises(InputError) as err:
        archive.read_info(out)
    assert str(out) in err.value.message and "\n" not in err.value.message


def test_inspect_cli_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"hello")
    proc = subprocess.run([sys.executable, "-m", "exxo", "inspect", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 4
    assert proc.stderr.startswith("exxo: error: ") and "Traceback" not in proc.stderr
    good = make(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "exxo", "inspect", "--json", "--list", str(good)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["entry"] == "app:main" and "app/data/hello.txt" in shown["files"]


def fake_runtime_with_stdlib(tmp: Path, zstd: bool = True) -> Path:
    """/bin/true + a kind-R zip holding a deflated stdlib member and an excluded one; `zstd`: the ELF part
    carries what a zstd-reading launcher's does (archive.launcher_reads_zstd)."""
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("lib/python3.13/os.pyc", b"stdlib bytes " * 1000)
        zf.writestr("lib/python3.13/ensurepip/_bundled/pip.whl", b"wheel")
        zf.comment = archive.marker(b"R", (0, 0), (0, 0))
    runtime = tmp / ("runtime-with-stdlib" if zstd else "runtime-without-zstd")
    launcher = b"\0zstd_decompress(data, size) -> bytes: ...\0" if zstd else b""
    runtime.write_bytes(Path("/bin/true").read_bytes() + launcher + buf.getvalue())
    return runtime


def test_stdlib_members_are_copied_raw(tmp_path: Path) -> None:
    runtime = fake_runtime_with_stdlib(tmp_path)
    src = zipfile.ZipFile(runtime)
    info = src.getinfo("lib/python3.13/os.pyc")
    rt = runtime.read_bytes()
    name_len, extra_len = struct.unpack("<HH", rt[info.header_offset + 26:info.header_offset + 30])
    at = info.header_offset + 30 + name_len + extra_len
    raw_before = rt[at:at + info.compress_size]
    out = archive.write_binary(tmp_path / "app", runtime, [archive.Member("app/__init__.py", b"x = 1\n")], ENTRY,
                               "cache", PY, b"boot", {}).path
    manifest = archive.read_info(out)
    off, csize, size, method, is_dir, _crc = manifest["files"]["lib/python3.13/os.pyc"]
    base = manifest["_sizes"]["runtime"]
    assert out.read_bytes()[base + off:base + off + csize] == raw_before  # not recompressed
    assert (method, size, is_dir) == (8, 13000, 0) and manifest["stdlib_prefix"] == "lib/python3.13"
    assert "lib/python3.13/ensurepip/_bundled/pip.whl" not in manifest["files"]
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None and zf.read("lib/python3.13/os.pyc") == b"stdlib bytes " * 1000
        assert zf.read(archive.MAIN).startswith(b"try:\n    import _exxo_boot")
        assert zf.infolist()[-1].filename == archive.MANIFEST  # the manifest is the last member
    assert out.read_bytes()[:base] == runtime.read_bytes()[:archive.zip_start(runtime.read_bytes())]  # the ELF part


@pytest.mark.parametrize("names", [["a.py", "a.py"], ["__exxo__/x"], ["__main__.py"], ["../evil"], ["/abs"],
                                   ["dir/"]])
def test_bad_member_names_are_refused(tmp_path: Path, names: list[str]) -> None:
    members = [archive.Member(n, b"") for n in names]
    with pytest.raises(InputError):
        archive.write_binary(tmp_path / "app", Path("/bin/true"), members, ENTRY, "memfd", PY, b"b", {})
    assert not list(tmp_path.iterdir())  # nothing left behind


def test_read_info_refuses_a_garbled_marker(tmp_path: Path) -> None:
    out = make(tmp_path)
    data = bytearray(out.read_bytes())
    data[-10:] = b"zzzzzzzzzz"  # not hex
    out.write_bytes(bytes(data))
    with pytest.raises(InputError) as err:
        archive.read_info(out)
    assert "not an exxo binary" in err.value.message
