"""The pinned sources: CPython releases and the third-party libraries, with their sha256.

A tarball is looked up in the per-user source cache ($XDG_CACHE_HOME/exxo/sources/<filename>), else taken
from `--source` (a path or URL), else downloaded from its upstream URL; whatever its origin it must match the
table's sha256 before it is used. Debian's source packages carry the same upstream tarballs as their
`.orig.tar.*` (same bytes, so the same hash): `tools/fetch-sources.sh` fills the cache from them offline.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from exxo.errors import SourceError
from exxo.progress import Reporter


@dataclass(frozen=True)
class Source:
    name: str
    version: str
    filename: str
    url: str
    sha256s: tuple[str, ...]  # accepted hashes (upstream; a Debian repack when it differs)
    license: str
    debian: tuple[str, str, str] | None = None  # (source package, Debian version, .orig file name)


def _py(version: str, sha256: str, debian: tuple[str, str, str] | None, ext: str = "tar.xz") -> Source:
    return Source("cpython", version, f"Python-{version}.{ext}",
                  f"https://www.python.org/ftp/python/{version}/Python-{version}.{ext}", (sha256,), "PSF-2.0", debian)


CPYTHON: dict[str, Source] = {
    s.version: s
    for s in [
        _py("3.13.15", "1e66a7945a48390ee4c2a4268a0e4185884059a13c4aab6d148aa208deea4a76",
            ("python3.13", "3.13.15-1", "python3.13_3.13.15.orig.tar.xz")),
        _py("3.11.2", "2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849",
            ("python3.11", "3.11.2-6+deb12u8", "python3.11_3.11.2.orig.tar.gz"), ext="tgz"),
    ]
}
# The release each minor version means by default.
DEFAULT_RELEASES = {"3.13": "3.13.15", "3.11": "3.11.2"}

LIBRARIES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("openssl", "3.5.7", "openssl-3.5.7.tar.gz",
               "https://github.com/openssl/openssl/releases/download/openssl-3.5.7/openssl-3.5.7.tar.gz",
               ("a8c0d28a529ca480f9f36cf5792e2cd21984552a3c8e4aa11a24aa31aeac98e8",), "Apache-2.0",
               ("openssl", "3.5.7-1~deb13u2", "openssl_3.5.7.orig.tar.gz")),
        Source("libffi", "3.4.4", "libffi-3.4.4.tar.gz",
               "https://github.com/libffi/libffi/releases/download/v3.4.4/libffi-3.4.4.tar.gz",
               ("d66c56ad259a82cf2a9dfc408b32bf5da52371500b84745f7fb8b645712df676",), "MIT",
               ("libffi", "3.4.4-1", "libffi_3.4.4.orig.tar.gz")),
        # The full source tree as Debian packs it (the amalgamation is generated with tclsh at build time).
        # SQLite publishes no tarball with these bytes, so there is no download URL: the cache is filled by
        # tools/fetch-sources.sh (or by hand).
        Source("sqlite", "3.46.1", "sqlite3-3.46.1.tar.xz", "",
               ("d0cdd2ece271b29e7ce18095745d892517ee26d0f270065b3a25c2e9eb11639c",), "blessing",
               ("sqlite3", "3.46.1-7+deb13u2", "sqlite3_3.46.1.orig.tar.xz")),
        Source("xz", "5.8.1", "xz-5.8.1.tar.xz",
               "https://github.com/tukaani-project/xz/releases/download/v5.8.1/xz-5.8.1.tar.xz",
               ("0b54f79df85912504de0b14aec7971e3f964491af1812d83447005807513cd9e",), "0BSD",
               ("xz-utils", "5.8.1-1+deb13u2", "xz-utils_5.8.1.orig.tar.xz")),
        Source("bzip2", "1.0.8", "bzip2-1.0.8.tar.gz", "https://sourceware.org/pub/bzip2/bzip2-1.0.8.tar.gz",
               ("ab5a03176ee106d3f0fa90e381da478ddae405918153cca248e682cd0c4a2269",), "bzip2-1.0.6",
               ("bzip2", "1.0.8-6", "bzip2_1.0.8.orig.tar.gz")),
        # Debian's zlib tarball is a DFSG repack of 1.3.1 (contrib/ removed): its hash differs from
        # upstream's, both are accepted; the library sources built here are the same.
        Source("zlib", "1.3.1", "zlib-1.3.1.tar.gz", "https://zlib.net/fossils/zlib-1.3.1.tar.gz",
               ("9a93b2b7dfdac77ceba5a558a580e74667dd6fede4585b91eefb60f03b72df23",
                "60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb"), "Zlib",
               ("zlib", "1:1.3.dfsg+really1.3.1-1+deb13u1", "zlib_1.3.dfsg+really1.3.1.orig.tar.gz")),
        Source("ncurses", "6.5-20250216", "ncurses-6.5-20250216.tgz",
               "https://invisible-island.net/archives/ncurses/current/ncurses-6.5-20250216.tgz",
               ("b37baafa436e7133bb12a185cb8f60e1599b1947e9f0181c76f3190acf28b6eb",), "X11",
               ("ncurses", "6.5+20250216-2", "ncurses_6.5+20250216.orig.tar.gz")),
        Source("libedit", "20250104-3.1", "libedit-20250104-3.1.tar.gz",
               "https://thrysoee.dk/editline/libedit-20250104-3.1.tar.gz",
               ("23792701694550a53720630cd1cd6167101b5773adddcb4104f7345b73a568ac",), "BSD-3-Clause",
               ("libedit", "3.1-20250104-1", "libedit_3.1-20250104.orig.tar.gz")),
        Source("util-linux", "2.41.5", "util-linux-2.41.5.tar.xz",
               "https://www.kernel.org/pub/linux/utils/util-linux/v2.41/util-linux-2.41.5.tar.xz",
               ("f586e35d320ff537aab3ffeca37e9ecd482ccbe013590db4429a414d8aa6a728",), "BSD-3-Clause (libuuid)",
               ("util-linux", "2.41.5-0+deb13u1", "util-linux_2.41.5.orig.tar.xz")),
    ]
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "exxo" / "sources"


def resolve(spec: str) -> Source:
    """'3.13' or '3.13.15' -> the pinned CPython source."""
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", spec):
        raise SourceError(f"{spec!r} is not a Python version", hint="use e.g. -p 3.13 or -p 3.13.15")
    version = DEFAULT_RELEASES.get(spec, spec)
    if version in CPYTHON:
        return CPYTHON[version]
    known = ", ".join(sorted(DEFAULT_RELEASES) + sorted(CPYTHON))
    raise SourceError(f"CPython {spec} is not in exxo's pinned table",
                      hint=f"supported: {known}; for another release pass its tarball with --source PATH "
                           "(accepted with a warning)")


def unknown_release(spec: str) -> Source:
    return Source("cpython", spec, f"Python-{spec}.tar.xz", "", (), "PSF-2.0")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(source: Source, path: Path, origin: str) -> None:
    if not source.sha256s:
        print(f"exxo: WARNING: {source.name} {source.version} is not in exxo's pinned table: {path} is used "
              f"WITHOUT hash verification (sha256 {sha256_of(path)})", file=sys.stderr)
        return
    actual = sha256_of(path)
    if actual not in source.sha256s:
        raise SourceError(
            f"{path} ({origin}) does not match the pinned sha256 of {source.name} {source.version}: "
            f"expected {source.sha256s[0]}, got {actual}",
            hint="the file is corrupt, truncated or a different release; delete it and fetch the official "
                 f"{source.filename} again",
        )


def _download(url: str, dest: Path, reporter: Reporter | None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if reporter:
        reporter.info(f"downloading {url}")
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except OSError as exc:
        os.unlink(tmp)
        raise SourceError(f"cannot download {url}: {exc}",
                          hint="check the network, or pass a local tarball with --source PATH "
                               "(offline: tools/fetch-sources.sh fills the cache from Debian's source packages)"
                          ) from exc


def fetch(source: Source, explicit: str | None = None, reporter: Reporter | None = None) -> Path:
    """A verified local tarball for `source`."""
    if explicit:
        if re.match(r"^(https?|file)://", explicit):
            dest = cache_dir() / (explicit.rsplit("/", 1)[-1] or source.filename)
            _download(explicit, dest, reporter)
            _verify(source, dest, explicit)
            return dest
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            raise SourceError(f"--source {explicit}: no such file", hint="give the path of a Python-X.Y.Z.tar.xz")
        _verify(source, path, "--source")
        return path
    cached = cache_dir() / source.filename
    if cached.is_file():
        _verify(source, cached, "source cache")
        return cached
    if not source.url:
        raise SourceError(f"no download URL for {source.name} {source.version}", hint="pass --source PATH")
    _download(source.url, cached, reporter)
    try:
        _verify(source, cached, source.url)
    except SourceError:
        cached.unlink()
        raise
    return cached


def main(argv: list[str] | None = None) -> int:
    """`python -m exxo.runtime.sources --install-orig DIR`: copy Debian .orig tarballs into the cache."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--install-orig", metavar="DIR", help="directory with Debian .orig tarballs")
    parser.add_argument("--debian-specs", action="store_true", help="print `pkg=version` for apt-get source")
    parser.add_argument("--python", default="3.13")
    args = parser.parse_args(argv)
    wanted = [resolve(args.python), *LIBRARIES.values()]
    if args.debian_specs:
        for s in wanted:
            if s.debian:
                print(f"{s.debian[0]}={s.debian[1]} {s.debian[2]}")
        return 0
    if args.install_orig:
        cache_dir().mkdir(parents=True, exist_ok=True)
        for s in wanted:
            dest = cache_dir() / s.filename
            if dest.is_file() and sha256_of(dest) in s.sha256s:
                continue
            if not s.debian or not (Path(args.install_orig) / s.debian[2]).is_file():
                print(f"missing: {s.name} {s.version}", file=sys.stderr)
                continue
            src = Path(args.install_orig) / s.debian[2]
            _verify(s, src, "Debian .orig")
            shutil.copyfile(src, dest.with_suffix(".tmp"))
            dest.with_suffix(".tmp").replace(dest)
            print(f"cached {dest.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def extract(tarball: Path, dest: Path, prefix: str = "") -> None:
    """Extract `tarball` (only members under `prefix`, if given) into dest, refusing unsafe members."""
    import tarfile

    with tarfile.open(tarball) as tf:
        members = [m for m in tf.getmembers() if m.name.startswith(prefix)]
        for m in members:
            if m.name.startswith("/") or ".." in Path(m.name).parts:
                raise SourceError(f"{tarball} has an unsafe member {m.name!r}", hint="use the official tarball")
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12
            tf.extractall(dest, members=members, filter="data")
        else:
            tf.extractall(dest, members=members)
