"""The binary file itself: reproducible bytes, what `exxo inspect` says about it, and `-c` (upx)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import alone, assert_intact_zip, exxo, fixture, run_clean
from tests.integration.test_build_apps import build

pytestmark = pytest.mark.runtime


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reproducible(exxo_venv: Path, tmp_path: Path) -> None:
    # Pure Python from two copies of the project in different places: the same bytes.
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    one = build(exxo_venv, fixture("probe-app", tmp_path / "a"), out=tmp_path / "one", env=env)
    two = build(exxo_venv, fixture("probe-app", tmp_path / "b"), out=tmp_path / "two", env=env)
    assert sha256(one) == sha256(two)
    # A C extension, built twice in the same place (compilers record the source path), without SOURCE_DATE_EPOCH.
    src = fixture("cext-sdist", tmp_path / "c")
    assert sha256(build(exxo_venv, src, out=tmp_path / "three")) == sha256(build(exxo_venv, src, out=tmp_path / "4"))


def test_no_temp_file_left_and_output_replaced(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    out = tmp_path / "dist" / "app"
    out.parent.mkdir()
    out.write_text("old")
    build(exxo_venv, src, out=out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["app"]
    assert out.read_bytes()[:4] == b"\x7fELF"
    # -o DIR writes DIR/<script name>
    build(exxo_venv, src, out=out.parent)
    assert sorted(p.name for p in out.parent.iterdir()) == ["app", "cli-pure"]


def test_inspect(exxo_venv: Path, tmp_path: Path) -> None:
    binary = build(exxo_venv, fixture("cext-sdist", tmp_path))
    proc = exxo("inspect", binary)
    assert proc.returncode == 0, proc.stderr
    assert "cext_app:main" in proc.stdout and "CPython 3." in proc.stdout and "build id" in proc.stdout
    info = json.loads(exxo("inspect", binary, "--json", "--list").stdout)
    assert info["entry"] == "cext_app:main" and info["entry_name"] == "cext-app"
    assert info["python"].startswith("3.") and info["exxo_version"]
    assert len(info["build_id"]) == 32 and info["native_mode"] == "memfd"
    assert info["sizes"]["file"] == binary.stat().st_size
    assert info["sizes"]["runtime"] + info["sizes"]["zip"] == info["sizes"]["file"]
    site = f"lib/python{PYTHON_VERSION}/site-packages/"  # members sit where a venv has them
    sos = [n for n in info["native_libraries"] if n.startswith(site + "cext_app/_fast.")]
    assert len(sos) == 1 and "libc.so.6" not in info["native_libraries"]
    assert site + "cext_app/__init__.py" in info["files"] and site + "cext_app-1.0.dist-info/METADATA" in info["files"]
    assert info["file_count"] == len(info["files"])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "missing"])
def test_inspect_damaged_or_foreign_file(exxo_venv: Path, tmp_path: Path, damage: str) -> None:
    binary = build(exxo_venv, fixture("cli-pure", tmp_path))
    bad = tmp_path / "bad"
    if damage == "truncated":
        bad.write_bytes(binary.read_bytes()[:-5000])
    elif damage == "garbage":
        bad.write_bytes(b"not an exxo binary\n" * 100)
    elif damage == "empty":
        bad.write_bytes(b"")
    proc = exxo("inspect", bad)
    assert proc.returncode == 4, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_truncated_binary_says_it_is_damaged(exxo_venv: Path, tmp_path: Path) -> None:
    binary = build(exxo_venv, fixture("cli-pure", tmp_path))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(binary.read_bytes()[:-5000])
    truncated.chmod(0o755)
    ran = run_clean(truncated)
    assert ran.returncode != 0 and "Traceback" not in ran.stderr, ran.stderr
    assert "damaged" in ran.stderr


def test_compressed_binary_starts_and_loads_extensions(exxo_venv: Path, tmp_path: Path) -> None:
    if not os.environ.get("EXXO_UPX"):
        pytest.fail("EXXO_UPX is not set: `make test` builds upx with tools/build-upx.sh")
    src = fixture("cext-sdist", tmp_path)
    plain = build(exxo_venv, src)
    packed = build(exxo_venv, src, "-c", out=src.parent / "out" / "packed")
    assert packed.stat().st_size < plain.stat().st_size
    info = json.loads(exxo("inspect", packed, "--json").stdout)
    assert info["sizes"]["file"] == packed.stat().st_size
    for mode in ("memfd", "cache"):
        ran = run_clean(alone(packed, tmp_path / mode), env={"EXXO_NATIVE": mode})
        assert ran.returncode == 0 and ran.stdout.splitlines()[0] == "add 42", ran.stderr


@pytest.mark.parametrize("cut", [1, 100, 4000, 5000])
def test_a_binary_cut_short_says_it_is_damaged(exxo_venv: Path, tmp_path: Path, cut: int) -> None:
    """Whatever is cut off its end (the marker, part of the zip), the file exits 126 with one line: it never
    runs as a bare python (which would execute its first argument as a script)."""
    binary = build(exxo_venv, fixture("cli-pure", tmp_path))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(binary.read_bytes()[:-cut])
    truncated.chmod(0o755)
    script = tmp_path / "script.py"
    script.write_text("print('ran as python')\n")
    ran = run_clean(truncated, str(script))
    assert ran.returncode == 126, (ran.returncode, ran.stdout, ran.stderr)
    assert "ran as python" not in ran.stdout and "damaged" in ran.stderr and "Traceback" not in ran.stderr


def test_every_binary_is_a_valid_zip_without_duplicate_names(exxo_venv: Path, tmp_path: Path) -> None:
    binary = build(exxo_venv, fixture("probe-app", tmp_path))
    names = assert_intact_zip(binary)
    assert len(names) == len(set(names))
    assert names[-1] == "__exxo__/manifest.json" and names[-2] == "__exxo__/index"


def test_a_damaged_kind_byte_does_not_make_a_bare_python(exxo_venv: Path, tmp_path: Path) -> None:
    """The marker's kind byte turned from A (app) into R (runtime): found by `make fuzz` (it ran as a bare
    python reading stdin, rc 0). A runtime's marker has no boot code, so this is a damaged app binary."""
    binary = build(exxo_venv, fixture("cli-pure", tmp_path))
    data = bytearray(binary.read_bytes())
    kind_at = len(data) - 74 + 5
    assert data[kind_at:kind_at + 1] == b"A"
    data[kind_at:kind_at + 1] = b"R"
    damaged = tmp_path / "damaged"
    damaged.write_bytes(bytes(data))
    damaged.chmod(0o755)
    ran = run_clean(damaged)
    assert ran.returncode == 126 and "damaged" in ran.stderr and "Traceback" not in ran.stderr, ran
