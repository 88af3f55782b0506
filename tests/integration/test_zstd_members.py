"""Members packed with zstd (zip method 93): bytecode by default (the stdlib's, tests'), all bytecode and native
code with -c. Each reader of the binary decompresses them: the boot's importer (`read_member`), the launcher's
file-system view (open() from Python or C), native-code loading in both modes; damage stops the binary with
exit 126. The zip stays a zip: every name is listed, deflated and stored members read with any tool."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import alone, fixture, run_clean
from tests.integration.test_build_apps import build

pytestmark = pytest.mark.runtime
STDLIB = f"lib/python{PYTHON_VERSION}/"
ZSTD = 93


def _files(binary: Path) -> dict:  # type: ignore[type-arg]
    from exxo.archive import read_info

    return read_info(binary)["files"]  # type: ignore[no-any-return]


def _members(binary: Path, names: list[str]) -> dict[str, bytes]:
    from exxo.archive import Members, read_info

    with Members(binary, read_info(binary)) as m:
        return {n: m.read(n) for n in names}


def test_default_build_packs_stdlib_bytecode_with_zstd(exxo_venv: Path, tmp_path: Path) -> None:
    binary = alone(build(exxo_venv, fixture("cext-sdist", tmp_path)), tmp_path / "e")
    files = _files(binary)
    big = [n for n, e in files.items() if n.startswith(STDLIB + "json/") and e[2] > 4096]
    assert big and all(files[n][3] == ZSTD for n in big)
    ext = next(n for n in files if "/_fast." in n)
    assert files[ext][3] == 0  # native code stays stored by default: loading it costs no decompression
    # The view serves a zstd member to open(): the bytes are the runtime's own (checked by hash).
    name = STDLIB + "json/decoder.pyc"
    code = ("import hashlib, sys\n"
            f"with open(sys.executable + '/{name}', 'rb') as f: print(hashlib.sha256(f.read()).hexdigest())\n"
            "import json.decoder; print(json.decoder.__name__)\n")
    proc = run_clean(binary, "-c", code, env={"EXXO_PYTHON": "1"})
    assert proc.returncode == 0, proc.stderr
    want = hashlib.sha256(_members(binary, [name])[name]).hexdigest()
    assert proc.stdout.split() == [want, "json.decoder"]
    with zipfile.ZipFile(binary) as zf:  # a zip to any tool: every name listed, the deflated ones readable
        infos = zf.infolist()
        assert {i.compress_type for i in infos} >= {0, 8, ZSTD}
        for info in infos:
            if info.compress_type in (0, 8) and not info.is_dir():
                zf.read(info)  # checks the CRC


def test_compressed_build_packs_native_code_and_it_loads(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cext-sdist", tmp_path)
    stored = build(exxo_venv, src, out=tmp_path / "stored" / "app")
    small = build(exxo_venv, src, "-c", out=tmp_path / "small" / "app")
    files = _files(small)
    ext = next(n for n in files if "/_fast." in n)
    site_pyc = [n for n in files if n.endswith(".pyc") and "/site-packages/cext_app/" in n]
    assert files[ext][3] == ZSTD and site_pyc and all(files[n][3] == ZSTD for n in site_pyc)
    assert _members(small, [ext]) == _members(stored, [ext])  # the same bytes come out
    for mode in ("memfd", "cache"):
        proc = run_clean(alone(small, tmp_path / mode), env={"EXXO_NATIVE": mode, "HOME": str(tmp_path / mode)})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[0] == "add 42" and proc.stdout.splitlines()[2] == "ctypes 42"


def _damage(binary: Path, name: str, out: Path) -> Path:
    """A copy of `binary` with one byte in the middle of member `name`'s packed bytes flipped."""
    from exxo.archive import read_info

    info = read_info(binary)
    offset, csize = info["files"][name][:2]
    data = bytearray(binary.read_bytes())
    data[info["_sizes"]["runtime"] + offset + csize // 2] ^= 0x55
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    out.chmod(0o755)
    return out


def test_a_damaged_zstd_member_stops_the_binary(exxo_venv: Path, tmp_path: Path) -> None:
    binary = build(exxo_venv, fixture("cext-sdist", tmp_path), "-c")
    name = STDLIB + "json/decoder.pyc"
    assert _files(binary)[name][3] == ZSTD
    bad = _damage(binary, name, tmp_path / "bad" / "app")
    py = {"EXXO_PYTHON": "1"}
    imported = run_clean(bad, "-c", "import json.decoder; print('ran')", env=py)
    assert imported.returncode == 126 and "ran" not in imported.stdout, imported.stderr
    assert "damaged" in imported.stderr and "Traceback" not in imported.stderr
    opened = run_clean(bad, "-c", f"import sys; open(sys.executable + '/{name}', 'rb').read(); print('ran')", env=py)
    assert opened.returncode == 126 and "ran" not in opened.stdout and "damaged" in opened.stderr
    ext = next(n for n in _files(binary) if "/_fast." in n)
    for mode in ("memfd", "cache"):
        bad_ext = _damage(binary, ext, tmp_path / f"bad-{mode}" / "app")
        proc = run_clean(bad_ext, env={"EXXO_NATIVE": mode, "HOME": str(tmp_path / f"bad-{mode}")})
        assert proc.returncode == 126 and "add 42" not in proc.stdout, (mode, proc.stderr)
        assert "damaged" in proc.stderr and "Traceback" not in proc.stderr
