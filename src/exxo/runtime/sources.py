"""The pinned sources: CPython releases and the third-party libraries, with their sha256.

A tarball is looked up in the per-user source cache ($XDG_CACHE_HOME/exxo/sources/<filename>), else taken
from `--source` (a path or URL), else downloaded from its upstream URL; whatever its origin it must match the
table's sha256 before it is used. Debian's source packages carry the upstream tarballs as their
`.orig.tar.*` (same bytes, so the same hash; the exceptions are marked): `tools/fetch-sources.sh` fills the
cache from them (`python -m exxo.runtime.sources --install-orig DIR`, `--verify-cache`).

Every hash below was checked against the bytes of the tarball on the machine that wrote this table, and
against the Checksums-Sha256 of Debian's signed Sources index, except where a comment says otherwise.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from exxo.common import atomic_output, cache_root
from exxo.errors import SourceError
from exxo.progress import Reporter


@dataclass(frozen=True)
class Source:
    name: str
    version: str
    filename: str  # its name in the source cache
    url: str  # "" when no upstream file has these bytes (filled from Debian's .orig only)
    sha256s: tuple[str, ...]  # accepted hashes; empty = an unknown release given with --source (unverified)
    license: str  # SPDX
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
        # Debian's index lists only 3.14.9/3.14.10, whose files are not in the pool (404); 3.14.7's .orig is
        # (tools/fetch-sources.sh takes it from the pool directly). Hashed here, equal to the .dsc's checksum.
        _py("3.14.7", "3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81",
            ("python3.14", "3.14.7-1", "python3.14_3.14.7.orig.tar.xz")),
    ]
}
# The release each minor version means by default.
DEFAULT_RELEASES = {"3.13": "3.13.15", "3.11": "3.11.2", "3.14": "3.14.7"}

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
        # SQLite publishes it only as a zip, so no upstream file has these bytes: no download URL, the cache
        # is filled by tools/fetch-sources.sh (or by hand).
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
        # Debian's zlib tarball is a DFSG repack of 1.3.1 (contrib/ removed): its hash differs from upstream's.
        # Both are accepted: the first is upstream's zlib-1.3.1.tar.gz, the second Debian's
        # zlib_1.3.dfsg+really1.3.1.orig.tar.gz (the library sources built here are the same files).
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
        # Only libuuid is built from it (BSD-3-Clause); the rest of util-linux is GPL and never compiled.
        Source("util-linux", "2.41.5", "util-linux-2.41.5.tar.xz",
               "https://www.kernel.org/pub/linux/utils/util-linux/v2.41/util-linux-2.41.5.tar.xz",
               ("f586e35d320ff537aab3ffeca37e9ecd482ccbe013590db4429a414d8aa6a728",), "BSD-3-Clause",
               ("util-linux", "2.41.5-0+deb13u1", "util-linux_2.41.5.orig.tar.xz")),
        # The launcher's decoder for members packed with zstd (every version), and CPython >= 3.14's
        # compression.zstd. Debian's DFSG repack (Visual Studio files removed): it is
        # the only tarball hashed here, so there is no upstream URL (upstream's .tar.gz has other bytes).
        Source("zstd", "1.5.7", "zstd-1.5.7+dfsg.tar.xz", "",
               ("0c092ef267edce57ba7f3f2645c861f72eaf5e76273c6c3632869423464b90a5",), "BSD-3-Clause",
               ("libzstd", "1.5.7+dfsg-1", "libzstd_1.5.7+dfsg.orig.tar.xz")),
    ]
}
# Libraries only some CPython versions use: name -> first (major, minor) that needs it.
LIBRARY_SINCE: dict[str, tuple[int, int]] = {}


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def libraries_for(python_version: str | None) -> list[Source]:
    """The libraries a CPython version links (all of them when `python_version` is None)."""
    return [s for s in LIBRARIES.values()
            if python_version is None or _minor(python_version) >= LIBRARY_SINCE.get(s.name, (0, 0))]


def cache_dir() -> Path:
    return cache_root() / "sources"


def resolve(spec: str, explicit: str | None = None) -> Source:
    """'3.13' or '3.13.15' -> the pinned CPython source.

    A release not in the table is accepted only with an explicit tarball (`explicit`, from `--source`): it then
    gets a Source without hashes, which fetch() uses with a loud warning.
    """
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", spec):
        raise SourceError(f"{spec!r} is not a Python version", hint="use e.g. -p 3.13 or -p 3.13.15")
    version = DEFAULT_RELEASES.get(spec, spec)
    if version in CPYTHON:
        return CPYTHON[version]
    if explicit:
        named = re.search(r"Python-(\d+\.\d+\.\d+)\.t", explicit.rsplit("/", 1)[-1])
        if named and (named.group(1) == spec or named.group(1).startswith(spec + ".")):
            version = named.group(1)
        if version.count(".") == 2:
            return unknown_release(version)
        raise SourceError(f"CPython {spec} is not in exxo's pinned table and the name of {explicit} does not say "
                          f"which {spec}.x release it is", hint=f"give the full version, e.g. -p {spec}.0")
    known = ", ".join(sorted(DEFAULT_RELEASES) + sorted(CPYTHON))
    raise SourceError(f"CPython {spec} is not in exxo's pinned table",
                      hint=f"supported: {known}; for another release pass its Python-X.Y.Z tarball with "
                           "--source PATH (accepted with a warning, without hash verification)")


def unknown_release(version: str) -> Source:
    """A CPython release exxo does not pin (only usable with --source: nothing to verify against)."""
    return Source("cpython", version, f"Python-{version}.tar.xz", "", (), "PSF-2.0")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(source: Source, path: Path, origin: str, reporter: Reporter | None = None) -> None:
    actual = sha256_of(path)
    if not source.sha256s:
        warning = (f"WARNING: {source.name} {source.version} is not in exxo's pinned table: {path} is used "
                   f"WITHOUT hash verification (sha256 {actual})")
        if reporter is not None:
            reporter.log(warning)
        print(f"exxo: {warning}", file=sys.stderr)
        return
    if actual not in source.sha256s:
        expected = " or ".join(source.sha256s)
        raise SourceError(
            f"{path} ({origin}) does not match the pinned sha256 of {source.name} {source.version}: "
            f"expected {expected}, got {actual}",
            hint=f"the file is corrupt, truncated or a different release: delete {path} and run again to "
                 f"fetch the official {source.filename}"
                 + (f" ({source.url})" if source.url else " (tools/fetch-sources.sh)"),
        )


def _download(url: str, dest: Path, source: Source, reporter: Reporter | None) -> None:
    """Download to a temp file beside `dest`, verify it, then rename: the cache never holds a bad file."""
    if reporter is not None:
        reporter.info(f"downloading {url}")
    with atomic_output(dest) as tmp:
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
                shutil.copyfileobj(resp, out)
        except (OSError, ValueError) as exc:  # URLError is an OSError; ValueError: a malformed URL
            raise SourceError(
                f"cannot download {url}: {exc}",
                hint="check the network, or pass a local tarball with --source PATH "
                     "(offline: tools/fetch-sources.sh fills the cache from Debian's source packages)",
            ) from exc
        _verify(source, tmp, url, reporter)


def fetch(source: Source, explicit: str | None = None, reporter: Reporter | None = None) -> Path:
    """A verified local tarball for `source`: `explicit` (a path or URL), else the cache, else its URL."""
    if explicit:
        if re.match(r"^(https?|file)://", explicit):
            dest = cache_dir() / (explicit.rsplit("/", 1)[-1] or source.filename)
            _download(explicit, dest, source, reporter)
            return dest
        path = Path(explicit).expanduser().resolve()
        if not path.is_file():
            raise SourceError(f"--source {explicit}: no such file",
                              hint=f"give the path (or URL) of {source.filename}")
        _verify(source, path, "--source", reporter)
        return path
    cached = cache_dir() / source.filename
    if cached.is_file():
        _verify(source, cached, "source cache", reporter)
        return cached
    if not source.url:
        raise SourceError(
            f"{source.filename} ({source.name} {source.version}) is not in the source cache {cache_dir()} and "
            "has no download URL",
            hint="fill the cache from Debian's source packages with tools/fetch-sources.sh (as root), or put "
                 f"the file there by hand (its sha256 must be {source.sha256s[0] if source.sha256s else '-'})",
        )
    _download(source.url, cached, source, reporter)
    return cached


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
        else:  # 3.11.2 (Debian 12's python3) has no filters; the member check above stands in for it
            tf.extractall(dest, members=members)


# -- `python -m exxo.runtime.sources`: the offline cache filler's helper (tools/fetch-sources.sh) -------------

def _wanted(python: str) -> list[Source]:
    return [resolve(python), *libraries_for(resolve(python).version)]


def verify_cache(wanted: list[Source], quiet: bool = False) -> list[str]:
    """Problems of the source cache for `wanted` (missing or bad files); [] when all verify."""
    problems = []
    for s in wanted:
        path = cache_dir() / s.filename
        if not path.is_file():
            problems.append(f"missing: {path} ({s.name} {s.version})")
        elif sha256_of(path) not in s.sha256s:
            problems.append(f"bad sha256: {path} ({s.name} {s.version}; delete it and run again)")
        elif not quiet:
            print(f"ok: {path}")
    return problems


def install_orig(wanted: list[Source], orig_dir: Path) -> list[str]:
    """Copy verified Debian .orig tarballs from orig_dir into the cache under the table's names."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    problems = []
    for s in wanted:
        dest = cache_dir() / s.filename
        if dest.is_file() and sha256_of(dest) in s.sha256s:
            continue
        orig = orig_dir / s.debian[2] if s.debian else None
        if orig is None or not orig.is_file():
            problems.append(f"missing: {s.debian[2] if s.debian else s.filename} ({s.name} {s.version})")
            continue
        try:
            _verify(s, orig, "Debian .orig")
        except SourceError as exc:
            problems.append(exc.message)
            continue
        with atomic_output(dest) as tmp:
            shutil.copyfile(orig, tmp)
        print(f"cached {dest}")
    return problems


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m exxo.runtime.sources",
                                     description="exxo's pinned sources and the source cache")
    parser.add_argument("--python", default="3.13", help="CPython version whose sources are meant (default 3.13)")
    parser.add_argument("--debian-specs", action="store_true",
                        help="print `srcpkg=version orig-file` lines for apt-get source")
    parser.add_argument("--missing", action="store_true",
                        help="with --debian-specs: only the sources not yet cached (or not verifying)")
    parser.add_argument("--install-orig", metavar="DIR", help="copy Debian .orig tarballs from DIR into the cache")
    parser.add_argument("--verify-cache", action="store_true",
                        help="exit non-zero unless every source is cached and verifies")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        wanted = _wanted(args.python)
    except SourceError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code  # what `exxo bootstrap` exits with for the same error
    if args.debian_specs:
        for s in wanted:
            if s.debian and not (args.missing and not verify_cache([s], quiet=True)):
                print(f"{s.debian[0]}={s.debian[1]} {s.debian[2]}")
        return 0
    problems: list[str] = []
    if args.install_orig:
        problems += install_orig(wanted, Path(args.install_orig))
    if args.verify_cache or args.install_orig:
        problems = problems or verify_cache(wanted, quiet=args.quiet)
    for p in problems:
        print(f"exxo-sources: {p}", file=sys.stderr)
    return SourceError.exit_code if problems else 0  # a missing or bad source: SourceError's condition


if __name__ == "__main__":
    sys.exit(main())
