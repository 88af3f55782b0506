"""sources: pinned table look-ups and hash verification of real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from exxo.errors import SourceError
from exxo.runtime import sources


def test_resolve_default_and_full() -> None:
    assert sources.resolve("3.13").version == sources.resolve("3.13.15").version == "3.13.15"
    with pytest.raises(SourceError, match="not in exxo's pinned table"):
        sources.resolve("3.9")
    with pytest.raises(SourceError, match="not a Python version"):
        sources.resolve("latest")


def test_wrong_hash_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "Python-3.13.15.tar.xz"
    fake.write_bytes(b"not the real tarball")
    with pytest.raises(SourceError) as err:
        sources.fetch(sources.resolve("3.13"), str(fake))
    assert "does not match the pinned sha256" in err.value.message
    assert sources.resolve("3.13").sha256s[0] in err.value.message


def test_unknown_release_is_accepted_with_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tarball = tmp_path / "Python-3.13.99.tar.xz"
    tarball.write_bytes(b"x")
    assert sources.fetch(sources.unknown_release("3.13.99"), str(tarball)) == tarball
    assert "WITHOUT hash verification" in capsys.readouterr().err


def test_every_pinned_hash_is_a_sha256() -> None:
    for s in [*sources.CPYTHON.values(), *sources.LIBRARIES.values()]:
        assert s.sha256s and all(len(h) == 64 and int(h, 16) >= 0 for h in s.sha256s), s.name
