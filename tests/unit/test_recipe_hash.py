"""The runtime cache key: every input that changes the runtime's bytes changes it, and nothing else does."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import exxo
from exxo.runtime import bootstrap, sources, toolchain

PY313 = sources.resolve("3.13")


@pytest.fixture(autouse=True)
def fresh_gcc_answer() -> Iterator[None]:
    bootstrap.gcc_version.cache_clear()  # a test may put another gcc on PATH
    yield
    bootstrap.gcc_version.cache_clear()


def bump(monkeypatch: pytest.MonkeyPatch, name: str, version: str, sha256: str) -> None:
    """What a pin bump in sources.py is: another version and hash of one library."""
    changed = dataclasses.replace(sources.LIBRARIES[name], version=version, sha256s=(sha256,))
    monkeypatch.setitem(sources.LIBRARIES, name, changed)


def test_unchanged_inputs_give_the_same_key() -> None:
    key = bootstrap.recipe_hash(PY313)
    assert bootstrap.recipe_hash(PY313) == key
    # ...in another process too (no set order or hash seed in the key)
    code = "from exxo.runtime import bootstrap, sources; print(bootstrap.recipe_hash(sources.resolve('3.13')))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == key
    assert len(key) == 16 and bootstrap.runtime_dir(PY313).name == f"cpython-3.13.15-{key}"


def test_a_library_pin_bump_gives_a_new_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = bootstrap.recipe_hash(PY313)
    bump(monkeypatch, "openssl", "3.5.8", "0" * 64)
    assert bootstrap.recipe_hash(PY313) != before
    monkeypatch.undo()
    assert bootstrap.recipe_hash(PY313) == before


def test_a_new_hash_of_the_same_version_gives_a_new_key(monkeypatch: pytest.MonkeyPatch) -> None:
    before = bootstrap.recipe_hash(PY313)
    sqlite = sources.LIBRARIES["sqlite"]
    bump(monkeypatch, "sqlite", sqlite.version, "1" * 64)
    assert bootstrap.recipe_hash(PY313) != before


def test_only_the_libraries_a_version_links_count(monkeypatch: pytest.MonkeyPatch) -> None:
    py314 = sources.resolve("3.14")
    # Every version links zstd (the launcher's decoder): a new zstd is a new runtime for both.
    before = (bootstrap.recipe_hash(PY313), bootstrap.recipe_hash(py314))
    bump(monkeypatch, "zstd", "1.5.8", "2" * 64)
    assert bootstrap.recipe_hash(PY313) != before[0]
    assert bootstrap.recipe_hash(py314) != before[1]
    monkeypatch.undo()
    # A library only later versions link (sources.LIBRARY_SINCE) does not count for the earlier ones.
    monkeypatch.setattr(sources, "LIBRARY_SINCE", {"zstd": (3, 14)})
    before = (bootstrap.recipe_hash(PY313), bootstrap.recipe_hash(py314))
    bump(monkeypatch, "zstd", "1.5.8", "2" * 64)
    assert bootstrap.recipe_hash(PY313) == before[0]
    assert bootstrap.recipe_hash(py314) != before[1]


def test_environment_knobs_change_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXXO_GLIBC_CAP", raising=False)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = bootstrap.recipe_hash(PY313)
    monkeypatch.setenv("EXXO_GLIBC_CAP", "2.17")  # the default spelled out: the same runtime
    assert bootstrap.recipe_hash(PY313) == before
    monkeypatch.setenv("EXXO_GLIBC_CAP", "2.28")
    capped = bootstrap.recipe_hash(PY313)
    assert capped != before
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    assert bootstrap.recipe_hash(PY313) not in (before, capped)


def test_another_gcc_gives_a_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = bootstrap.recipe_hash(PY313)
    fake = tmp_path / "gcc"
    fake.write_text("#!/bin/sh\necho 'gcc (Debian 13.1.0-1) 13.1.0'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    bootstrap.gcc_version.cache_clear()
    assert bootstrap.gcc_version() == "gcc (Debian 13.1.0-1) 13.1.0"
    assert bootstrap.recipe_hash(PY313) != before


def test_every_launcher_file_is_an_input() -> None:
    launcher = Path(exxo.__file__).parent / "launcher"
    on_disk = {f"launcher/{p.name}" for p in launcher.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert on_disk and on_disk <= set(bootstrap.recipe_files())
    lines = bootstrap.recipe_inputs(PY313)
    assert all(any(line.startswith(f"file {rel} ") for line in lines) for rel in on_disk)


def test_the_zig_pin_stands_in_for_a_missing_zig(monkeypatch: pytest.MonkeyPatch) -> None:
    # An exxo binary has no ziglang: its key must still be the one the installed exxo computes.
    # (Run inside an exxo binary, as test_suite_in_binary does, ziglang really is missing: both keys are the pin's.)
    key = bootstrap.recipe_hash(PY313)
    monkeypatch.setattr(toolchain, "zig_version", lambda: "unknown")
    pinned = bootstrap.zig_version()  # pyproject's ziglang==X, read from exxo's installed metadata
    assert pinned != "unknown" and pinned[0].isdigit()
    assert bootstrap.recipe_hash(PY313) == key
