"""sources: pinned table look-ups, verified fetching (cache, --source path/URL, download), the cache filler."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from pathlib import Path

import pytest

from exxo.errors import SourceError
from exxo.runtime import sources


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "exxo" / "sources"


def fake_source(tmp_path: Path, data: bytes = b"tarball bytes", url: str = "") -> sources.Source:
    return sources.Source("demo", "1.0", "demo-1.0.tar.gz", url, (hashlib.sha256(data).hexdigest(),), "MIT",
                          ("demo", "1.0-1", "demo_1.0.orig.tar.gz"))


def test_resolve_default_and_full() -> None:
    assert sources.resolve("3.13").version == sources.resolve("3.13.15").version == "3.13.15"
    assert sources.resolve("3.11").filename == "Python-3.11.2.tgz"
    assert sources.resolve("3.14").version.startswith("3.14.")
    with pytest.raises(SourceError, match="not in exxo's pinned table"):
        sources.resolve("3.9")
    with pytest.raises(SourceError, match="not a Python version"):
        sources.resolve("latest")


def test_unknown_release_needs_an_explicit_tarball() -> None:
    s = sources.resolve("3.12", "/somewhere/Python-3.12.4.tgz")
    assert (s.version, s.sha256s) == ("3.12.4", ())
    assert sources.resolve("3.13.99", "/x/my.tar.xz").version == "3.13.99"
    with pytest.raises(SourceError, match="does not say which 3.12.x"):
        sources.resolve("3.12", "/x/my.tar.xz")  # which 3.12? the file name does not say
    with pytest.raises(SourceError):
        sources.resolve("3.12")


def test_wrong_hash_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "Python-3.13.15.tar.xz"
    fake.write_bytes(b"not the real tarball")
    with pytest.raises(SourceError) as err:
        sources.fetch(sources.resolve("3.13"), str(fake))
    msg = err.value.message
    assert "does not match the pinned sha256" in msg and str(fake) in msg
    assert sources.resolve("3.13").sha256s[0] in msg and hashlib.sha256(b"not the real tarball").hexdigest() in msg
    assert err.value.hint and "delete" in err.value.hint


def test_unknown_release_is_accepted_with_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tarball = tmp_path / "Python-3.13.99.tar.xz"
    tarball.write_bytes(b"x")
    assert sources.fetch(sources.unknown_release("3.13.99"), str(tarball)) == tarball
    assert "WITHOUT hash verification" in capsys.readouterr().err


def test_cache_hit_and_corrupt_cache(tmp_path: Path, cache: Path) -> None:
    src = fake_source(tmp_path)
    cache.mkdir(parents=True)
    (cache / src.filename).write_bytes(b"tarball bytes")
    assert sources.fetch(src) == cache / src.filename
    (cache / src.filename).write_bytes(b"truncated")
    with pytest.raises(SourceError, match="source cache"):
        sources.fetch(src)


def test_download_verifies_before_caching(tmp_path: Path, cache: Path) -> None:
    upstream = tmp_path / "upstream.tar.gz"
    upstream.write_bytes(b"tarball bytes")
    good = fake_source(tmp_path, url=upstream.as_uri())
    assert sources.fetch(good).read_bytes() == b"tarball bytes"

    upstream.write_bytes(b"tampered")
    bad = sources.Source("demo", "2.0", "demo-2.0.tar.gz", upstream.as_uri(), good.sha256s, "MIT")
    with pytest.raises(SourceError, match="does not match"):
        sources.fetch(bad)
    assert sorted(p.name for p in cache.iterdir()) == ["demo-1.0.tar.gz"]  # no bad or partial file left

    gone = sources.Source("demo", "3.0", "demo-3.0.tar.gz", (tmp_path / "nope").as_uri(), good.sha256s, "MIT")
    with pytest.raises(SourceError, match="cannot download"):
        sources.fetch(gone)


def test_no_url_points_at_the_cache_filler(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(SourceError) as err:
        sources.fetch(sources.LIBRARIES["sqlite"])
    assert err.value.hint and "fetch-sources.sh" in err.value.hint


def test_libraries_for(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {s.name for s in sources.libraries_for("3.13.15")}
    assert {"openssl", "sqlite", "zlib", "util-linux", "zstd"} <= names  # zstd: the launcher's decoder
    assert len(sources.libraries_for(None)) == len(sources.LIBRARIES)
    monkeypatch.setattr(sources, "LIBRARY_SINCE", {"zstd": (3, 14)})  # a library only later versions link
    assert "zstd" not in {s.name for s in sources.libraries_for("3.13.15")}
    assert "zstd" in {s.name for s in sources.libraries_for("3.14")}


def test_table_is_complete() -> None:
    table = [*sources.CPYTHON.values(), *sources.LIBRARIES.values()]
    for s in table:
        # the form hashlib's hexdigest() has, so a pinned hash can compare equal to a computed one
        assert s.sha256s and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in s.sha256s), s.name
        assert s.license and s.debian and s.debian[2].startswith(s.debian[0] + "_"), s.name
        assert s.url.startswith("https://") or s.url == "", s.name
    # A hash or a file name twice is a copy-paste slip: one of the two sources would never verify.
    hashes = [h for s in table for h in s.sha256s]
    assert len(hashes) == len(set(hashes))
    assert len({s.filename for s in table}) == len(table)


def test_sources_main_exits_with_source_errors_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert sources.main(["--python", "3.9", "--verify-cache"]) == SourceError.exit_code
    assert "not in exxo's pinned table" in capsys.readouterr().err


def test_cache_filler(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    src = fake_source(tmp_path)
    monkeypatch.setattr(sources, "_wanted", lambda python: [src])
    assert sources.main(["--debian-specs"]) == 0
    assert capsys.readouterr().out == "demo=1.0-1 demo_1.0.orig.tar.gz\n"
    assert sources.main(["--verify-cache"]) == SourceError.exit_code
    orig = tmp_path / "orig"
    orig.mkdir()
    (orig / "demo_1.0.orig.tar.gz").write_bytes(b"tarball bytes")
    assert sources.main(["--install-orig", str(orig)]) == 0
    assert (cache / "demo-1.0.tar.gz").read_bytes() == b"tarball bytes"
    assert sources.main(["--verify-cache", "-q"]) == 0
    capsys.readouterr()
    assert sources.main(["--debian-specs", "--missing"]) == 0
    assert capsys.readouterr().out == ""


def test_extract_refuses_unsafe_members(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tf:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(SourceError, match="unsafe"):
        sources.extract(bad, tmp_path / "out")
    assert not (tmp_path / "escape").exists()


def test_real_cached_tarballs_verify() -> None:
    """Whatever the user's source cache holds verifies against the table (the hashes are real)."""
    checked = 0
    for s in [*sources.CPYTHON.values(), *sources.LIBRARIES.values()]:
        path = sources.cache_dir() / s.filename
        if path.is_file():
            assert sources.sha256_of(path) in s.sha256s, path
            checked += 1
    if not checked:
        pytest.skip("the source cache is empty (tools/fetch-sources.sh fills it)")
