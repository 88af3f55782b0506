"""How small a binary is packed (issue 13): the build-time size levers, decided here, applied by exxo.archive.

- Identical members are stored once (archive: every name of one content gets the first copy's offset).
- Native members lose their debug sections and static symbol table (`strip --strip-unneeded`): the dynamic
  symbols, which the loader and dlsym use, stay. A stripped file is kept only when every loaded segment is
  byte-for-byte the original's (patchelf'd manylinux libraries have odd layouts strip could disturb).
- Stdlib modules named in `stdlib_exclude` are left out; importing one raises a ModuleNotFoundError that names
  the [tool.exxo] setting bringing it back (the boot's importer.Dropped).
- Bytecode is packed with zstd (zip method 93: exxo.format.METHOD_ZSTD), which the launcher decompresses ~2x
  faster than zlib inflates (466 vs 233 MB/s here on bytecode-sized pieces) and a little smaller. The default
  ("auto") packs what is cold: the stdlib's bytecode (an app imports a small part of it), the bytecode of test
  modules (`tests/`, `test_*`), and every site-packages module an app start does not import (`hot`: read off
  the import graph by exxo.reach.hot_members); what the start imports stays stored.
  `compress-bytecode = true` (and -c) packs everything, false stores everything.
- Native members: the default stores those the start loads (hot extension modules and the libraries they
  need) and packs the rest with zstd (decompressed into their memfd if loaded after all); -c packs all.
- Sources, data and metadata are deflated (any zip tool reads them).
- `-c` packs the hot native members with zstd too (~30% smaller than deflate, decompressed into their memfd
  at first load): numpy's 35 MB of libraries its import loads then cost ~80 ms per start here, so it is -c
  only.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exxo.common import cache_root

# Left out of every binary's stdlib unless [tool.exxo] stdlib-keep names them: pip's wheel (it belongs to
# `exxo venv`) and the help() topics text (pydoc answers "no documentation" without it).
DEFAULT_STDLIB_EXCLUDE = ("ensurepip", "pydoc_data")
BYTECODE = ("stored", "auto", "compressed")  # none, the stdlib's and tests', all
ZSTD_LEVEL = 19  # zstd's highest before its --ultra levels; decompression speed hardly depends on it


def compress_bytecode(name: str, policy: str, stdlib: bool, hot: frozenset[str] | None = None) -> bool:
    """Whether the .pyc member `name` is packed (zstd) under `policy` (BYTECODE); `hot`: the members the app's
    start imports (exxo.reach.hot_members), when known: "auto" packs the rest too."""
    if policy == "auto":
        leaf = name.rsplit("/", 1)[-1]
        cold = hot is not None and name not in hot
        return stdlib or cold or "/tests/" in name or "/test/" in name or leaf.startswith("test_")
    return policy == "compressed"


# The member listing the modules left out, one "<module> <setting that brings it back>" per line, read by the
# boot's importer (importer.Dropped) at the first import that fails (docs/design.md).
DROPPED_NAME = "__exxo__/dropped"


@dataclass(frozen=True)
class Packing:
    strip: bool = True  # drop debug sections and .symtab from native members
    bytecode: str = "auto"  # BYTECODE: which .pyc members are packed with zstd
    compress_native: bool = False  # zstd for ELF members (decompressed into their memfd / cache file at load)
    stdlib_exclude: tuple[str, ...] = DEFAULT_STDLIB_EXCLUDE  # dotted module names
    user_excluded: tuple[str, ...] = ()  # those of stdlib_exclude that [tool.exxo] stdlib-exclude added
    stdlib: str = "all"  # or "imported": what no shipped code imports is excluded too (exxo.reach)
    keep: tuple[str, ...] = ()  # [tool.exxo] stdlib-keep: kept whatever stdlib says
    unimported: tuple[str, ...] = ()  # those of stdlib_exclude that stdlib = "imported" left out
    hot: frozenset[str] | None = None  # members the app's start imports (bytecode, extension modules): stored
    notes: list[str] = field(default_factory=list, compare=False)  # what was skipped, for the build log


def packing_for(config: dict[str, Any], compress: bool, strip: bool | None = None) -> Packing:
    """The packing of `exxo build` from [tool.exxo] (`strip`, `compress-bytecode`, `stdlib`, `stdlib-exclude`,
    `stdlib-keep`) and -c (which packs native members and keeps only the imported stdlib)."""
    keep = set(config.get("stdlib-keep", ()))
    exclude = [m for m in DEFAULT_STDLIB_EXCLUDE if m not in keep]
    exclude += [m for m in config.get("stdlib-exclude", ()) if m not in exclude and m not in keep]
    user = tuple(m for m in exclude if m not in DEFAULT_STDLIB_EXCLUDE)
    wanted = config.get("compress-bytecode")
    bytecode = "compressed" if compress or wanted is True else "stored" if wanted is False else "auto"
    return Packing(strip=bool(config.get("strip", True)) if strip is None else strip, bytecode=bytecode,
                   compress_native=compress, stdlib_exclude=tuple(exclude), user_excluded=user,
                   stdlib=str(config.get("stdlib", "imported" if compress else "all")), keep=tuple(sorted(keep)))


def stdlib_member_dropped(name: str, stdlib_prefix: str, exclude: tuple[str, ...]) -> bool:
    """Whether the runtime's stdlib member `name` (lib/python3.X/...) belongs to an excluded module."""
    rest = name[len(stdlib_prefix) + 1:] if name.startswith(stdlib_prefix + "/") else None
    if rest is None:
        return False
    for module in exclude:
        path = module.replace(".", "/")
        if rest.startswith(path + "/") or rest == path + ".pyc":
            return True
    return False


def dropped_listing(packing: Packing, present: set[str]) -> bytes:
    """The DROPPED_NAME member: each excluded module the runtime has (`present`: top-level names and dotted
    package names of its stdlib) with the setting that brings it back, and "unimported" after the ones that
    stdlib = "imported" left out (the boot's importer.Dropped says so)."""
    lines = []
    for module in sorted(packing.stdlib_exclude):
        if module in present:
            setting = "stdlib-exclude" if module in packing.user_excluded else "stdlib-keep"
            why = " unimported" if module in packing.unimported else ""
            lines.append(f"{module} {setting}{why}\n")
    return "".join(lines).encode()


# ---- the build cache of packed bytes ----------------------------------------------------------------------


def cached(kind: str, key: bytes, make: Callable[[], bytes]) -> bytes:
    """make(), or what it returned at an earlier build for the same `key` (under ~/.cache/exxo/packed/): the
    stdlib's bytecode is compressed and the wheels' libraries stripped at every build otherwise. Entries carry
    their sha256, so a damaged one is made again instead of put into a binary."""
    data = cache_read(kind, key)
    if data is None:
        data = make()
        cache_write(kind, key, data)
    return data


def _cache_path(kind: str, key: bytes) -> str:
    digest = hashlib.sha256(kind.encode() + b"\0" + key).hexdigest()
    return os.path.join(str(cache_root()), "packed", kind, digest[:2], digest[2:])


def cache_read(kind: str, key: bytes) -> bytes | None:
    """The entry stored for `key`, None when there is none (or it is damaged)."""
    try:
        with open(_cache_path(kind, key), "rb") as f:
            blob = f.read()
    except OSError:
        return None
    return blob[:-32] if len(blob) >= 32 and hashlib.sha256(blob[:-32]).digest() == blob[-32:] else None


def cache_write(kind: str, key: bytes, data: bytes) -> None:
    path = _cache_path(kind, key)
    try:  # temp name + rename: a concurrent build never reads half an entry
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as f:
            f.write(data + hashlib.sha256(data).digest())
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache only costs time


def deflate(data: bytes, level: int) -> bytes:
    """Raw deflate (zip method 8) of `data`, through the build cache for anything worth it."""
    def make() -> bytes:
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush()

    if len(data) < 4096:
        return make()
    return cached("deflate", b"%d %s\0" % (level, zlib.ZLIB_VERSION.encode()) + hashlib.sha256(data).digest(), make)


def zstd(data: bytes, level: int = ZSTD_LEVEL) -> bytes:
    """One zstd frame (zip method 93) of `data`, with its size recorded, through the build cache. Level 19 packs
    ~20 MB/s on one core here: the cache keeps rebuilds fast."""
    import zstandard

    def make() -> bytes:
        return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(data)

    if len(data) < 4096:
        return make()
    key = b"%d %s\0" % (level, ".".join(map(str, zstandard.ZSTD_VERSION)).encode())
    return cached("zstd", key + hashlib.sha256(data).digest(), make)


# ---- strip -------------------------------------------------------------------------------------------------


def find_strip() -> str | None:
    return os.environ.get("EXXO_STRIP") or shutil.which("strip")


def _image(data: bytes) -> list[tuple[Any, ...]] | None:
    """What the loader maps from the file, as comparable facts: the ELF header's loading fields, and per
    segment its type, address, sizes in memory, flags and bytes (trailing zeros dropped: the loader
    zero-fills up to p_memsz, so a file that stores fewer of them maps the same). Where a segment lies in the
    file does not matter as long as it stays page-congruent. None when pyelftools cannot read the file."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        head = elf.header
        out: list[tuple[Any, ...]] = [tuple(head[k] for k in ("e_type", "e_machine", "e_entry", "e_flags",
                                                               "e_ehsize", "e_phentsize", "e_phnum"))]
        # The ELF header and the program headers are mapped too (the first segment starts at 0), but their
        # file-layout fields are what strip rewrites: they are compared field by field instead.
        phend = head["e_phoff"] + head["e_phnum"] * head["e_phentsize"]
        masked = memoryview(b"\0" * phend + data[phend:]) if head["e_phoff"] < 4096 else memoryview(data)
        for seg in elf.iter_segments():
            h = seg.header
            if h["p_type"] == "PT_LOAD" and h["p_align"] > 1 and (h["p_offset"] - h["p_vaddr"]) % h["p_align"]:
                return None
            body = bytes(masked[h["p_offset"]:h["p_offset"] + h["p_filesz"]]).rstrip(b"\0")
            out.append((h["p_type"], h["p_vaddr"], h["p_memsz"], h["p_flags"], h["p_align"], body))
        return out
    except (ELFError, ValueError, KeyError):
        return None


def _strippable(data: bytes) -> bool:
    """Whether the file has something strip removes: a .symtab or .debug* section."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        return any(s.name == ".symtab" or s.name.startswith((".debug", ".zdebug")) for s in elf.iter_sections())
    except (ELFError, ValueError, KeyError):
        return False


def strip_elf(data: bytes, strip: str) -> bytes:
    """`data` without debug sections and static symbols, or `data` itself when that would change a byte the
    loader maps (or strip fails): the result is always a file that loads exactly as the original. Cached per
    content and strip executable (an empty entry: keep the original)."""
    try:
        st = os.stat(strip)
        tool = b"%s %d %d" % (os.fsencode(strip), st.st_size, st.st_mtime_ns)
    except OSError:
        return data
    out = cached("strip", tool + b"\0" + hashlib.sha256(data).digest(), lambda: _stripped(data, strip))
    return out or data


def _stripped(data: bytes, strip: str) -> bytes:
    """strip_elf without the cache; b"" when the original is kept."""
    if not _strippable(data):
        return b""
    with tempfile.TemporaryDirectory(prefix="exxo-strip-") as tmp:
        src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
        with open(src, "wb") as f:
            f.write(data)
        proc = subprocess.run([strip, "--strip-unneeded", "-o", dst, src], capture_output=True)
        if proc.returncode != 0 or not os.path.exists(dst):
            return b""
        with open(dst, "rb") as f:
            out = f.read()
    before = _image(data)
    if before is None or _image(out) != before or len(out) >= len(data):
        return b""
    return out
