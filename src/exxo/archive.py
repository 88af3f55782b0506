"""The binary format: runtime ELF + one deterministic zip (stdlib, app, boot, manifest), see docs/design.md.

`write_binary` writes it (temp file in the output dir, fsync, rename); `read_info` reads it back for
`exxo inspect` and refuses anything that is not a whole exxo binary with a one-line InputError.

The zip is written by hand rather than with `zipfile`: the runtime's stdlib members are copied as raw
compressed bytes, app members are packed on all cores at once (zlib and zstandard release the GIL), and
every member's data offset is known as it is written (the manifest's index).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import time
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import zstandard

from exxo import __version__, probes
from exxo import format as fmt
from exxo.common import atomic_output
from exxo.elfdeps import resolve_needed
from exxo.errors import InputError
from exxo.packing import DROPPED_NAME, Packing, compress_bytecode, dropped_listing, stdlib_member_dropped, strip_elf

# The format's names, from the one module that defines them (docs/design.md).
COMMENT_SIZE = fmt.COMMENT_SIZE
EOCD_SIZE = fmt.EOCD_SIZE
MANIFEST = fmt.MANIFEST_NAME
BOOT = fmt.BOOT_NAME
BOOT_MODULES = fmt.BOOT_MODULES
MAIN = fmt.MAIN_NAME
RESERVED = (fmt.RESERVED_PREFIX, fmt.MAIN_NAME)
DEFLATE_LEVEL = 6


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes


@dataclass(frozen=True)
class BinaryInfo:
    path: Path
    build_id: str
    runtime_size: int
    zip_size: int
    members: int


def fixed_date() -> tuple[int, int, int, int, int, int]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return (1980, 1, 1, 0, 0, 0)
    t = time.gmtime(max(int(epoch), 315532800))  # zip dates start in 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec - t.tm_sec % 2)


def marker(kind: bytes, boot: tuple[int, int], manifest: tuple[int, int]) -> bytes:
    return fmt.Marker(kind, *boot, *manifest).encode()


def split_runtime(runtime_exe: Path) -> tuple[bytes, zipfile.ZipFile | None]:
    """(ELF bytes, the runtime's own appended zip or None)."""
    data = runtime_exe.read_bytes()
    start = zip_start(data)
    if start is None:
        return data, None
    return data[:start], zipfile.ZipFile(io.BytesIO(data[start:]))


def zip_start(data: bytes) -> int | None:
    """Offset where an appended zip begins (its EOCD carries exxo's marker), or None."""
    if len(data) < fmt.TAIL_SIZE:
        return None
    parsed = fmt.parse_tail(data[-fmt.TAIL_SIZE:], len(data))
    return None if parsed is None else parsed[1]


# ---- ELF facts (build time, so the binary never parses ELF at start) -------------------------------------


def elf_facts(name: str, data: bytes) -> dict[str, Any]:
    """SONAME, DT_NEEDED, the library search path (DT_RUNPATH, else DT_RPATH), sha256, and where .dynstr lies in
    the file (the boot rewrites bundled names there)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile

    facts: dict[str, Any] = {"soname": None, "needed": [], "runpath": [], "sha256": hashlib.sha256(data).hexdigest()}
    try:
        elf = ELFFile(io.BytesIO(data))
        facts["type"] = elf.header["e_type"]
        dynamic = next((s for s in elf.iter_segments() if isinstance(s, DynamicSegment)), None)
        if dynamic is not None:
            strtab = strsz = rpath_kind = None
            for tag in dynamic.iter_tags():
                kind = tag.entry.d_tag
                if kind == "DT_NEEDED":
                    facts["needed"].append(tag.needed)  # type: ignore[attr-defined]
                elif kind == "DT_SONAME":
                    facts["soname"] = tag.soname  # type: ignore[attr-defined]
                elif kind == "DT_RUNPATH":  # the loader ignores DT_RPATH when DT_RUNPATH is there
                    rpath_kind, facts["runpath"] = kind, tag.runpath.split(":")  # type: ignore[attr-defined]
                elif kind == "DT_RPATH" and rpath_kind != "DT_RUNPATH":
                    rpath_kind, facts["runpath"] = kind, tag.rpath.split(":")  # type: ignore[attr-defined]
                elif kind == "DT_STRTAB":
                    strtab = tag.entry.d_val
                elif kind == "DT_STRSZ":
                    strsz = tag.entry.d_val
            dynstr = elf.get_section_by_name(".dynstr")
            if dynstr is not None:
                facts["dynstr"] = [dynstr["sh_offset"], dynstr["sh_size"]]
            elif strtab is not None and strsz is not None:  # no section headers (sstrip): map the address
                for seg in elf.iter_segments("PT_LOAD"):
                    if seg["p_vaddr"] <= strtab < seg["p_vaddr"] + seg["p_filesz"]:
                        facts["dynstr"] = [strtab - seg["p_vaddr"] + seg["p_offset"], strsz]
                        break
    except (ELFError, ValueError, KeyError, struct.error) as exc:  # named like ELF but not one: keep as data
        facts["error"] = f"{name}: {exc}"
    return facts


# ---- the zip writer ----------------------------------------------------------------------------------------


@dataclass
class _Entry:
    name: str
    raw: bytes  # the bytes stored in the zip (compressed or not)
    method: int  # exxo.format.METHODS: 0 stored, 8 deflated, 93 zstd
    crc: int
    size: int
    mode: int  # unix mode bits for external_attr


def _dos_date(date: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, s = date
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


def _deflate(data: bytes) -> bytes:
    from exxo.packing import deflate

    return deflate(data, DEFLATE_LEVEL)


def launcher_reads_zstd(elf: bytes) -> bool:
    """Whether the runtime ELF's launcher decompresses zstd members (method 93): a runtime built before it did
    (an exxo venv made by an older exxo) would call every such member damaged, so its binaries get deflate.
    The docstring of `_exxo.zstd_decompress` (launcher/main.c) is in the ELF of every launcher that does."""
    return b"zstd_decompress(data, size) -> bytes" in elf


def _packed(name: str, data: bytes, crc: int, mode: int, zstd_ok: bool = True) -> _Entry:
    """`data` packed as its kind wants: bytecode and ELF files with zstd (when the launcher reads it), text
    deflated (zip tools read it); stored when packing does not make it smaller."""
    if len(data) > 64:
        if zstd_ok and (data[:4] == b"\x7fELF" or name.endswith(".pyc")):
            from exxo.packing import zstd

            packed, method = zstd(data), fmt.METHOD_ZSTD
        else:
            packed, method = _deflate(data), fmt.METHOD_DEFLATED
        if len(packed) < len(data):
            return _Entry(name, packed, method, crc, len(data), mode)
    return _Entry(name, data, fmt.METHOD_STORED, crc, len(data), mode)


def _entry_for(name: str, data: bytes, store: bool, compress_elf: bool = False, zstd_ok: bool = True) -> _Entry:
    is_elf = data[:4] == b"\x7fELF"
    mode = 0o100755 if is_elf else 0o100644
    crc = zlib.crc32(data)
    if store or (is_elf and not compress_elf):
        return _Entry(name, data, fmt.METHOD_STORED, crc, len(data), mode)
    return _packed(name, data, crc, mode, zstd_ok)


def _raw_stdlib(runtime: bytes, prefix: str, exclude: tuple[str, ...]) -> tuple[bytes, list[_Entry]]:
    """The runtime's ELF part and its stdlib members as raw entries (compressed bytes copied as they are),
    without the modules in `exclude` (packing.stdlib_member_dropped)."""
    start = zip_start(runtime)
    if start is None:
        return runtime, []
    out = []
    with zipfile.ZipFile(io.BytesIO(runtime)) as zf:
        for info in zf.infolist():
            if info.is_dir() or stdlib_member_dropped(info.filename, prefix, exclude):
                continue
            if info.filename.startswith("__exxo__/"):  # the runtime's zipimport index: its offsets are the
                continue  # runtime zip's; an app binary's boot importer has the manifest's index instead
            if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise InputError(f"the runtime's zip member {info.filename} is encrypted or uses compression "
                                 f"method {info.compress_type}", hint="rebuild the runtime with `exxo bootstrap`")
            at = info.header_offset  # absolute within `runtime`: zipfile adds the prepended ELF's size
            name_len, extra_len = struct.unpack("<HH", runtime[at + 26:at + 30])
            data_at = at + 30 + name_len + extra_len
            raw = runtime[data_at:data_at + info.compress_size]
            out.append(_Entry(info.filename, raw, info.compress_type, info.CRC, info.file_size, 0o100644))
    return runtime[:start], out


def _check_name(name: str) -> None:
    parts = name.split("/")
    if (not name or name.startswith("/") or name.endswith("/") or "\\" in name or "\0" in name
            or any(p in ("", ".", "..") for p in parts)):
        raise InputError(f"cannot put {name!r} in the binary: member names are relative POSIX paths of files")


class _ZipWriter:
    """Local headers + data as members come, then the central directory and the EOCD with exxo's comment."""

    def __init__(self, f: BinaryIO, base: int, date: tuple[int, int, int, int, int, int]) -> None:
        self.f = f
        self.base = base  # absolute offset of the zip's first byte
        self.pos = 0  # zip-relative
        self.time, self.date = _dos_date(date)
        self.central: list[bytes] = []
        self.hash = hashlib.sha256()  # over every member's name and data as written: the build id

    def add(self, e: _Entry) -> int:
        """Writes one member; returns the zip-relative offset of its data."""
        name = e.name.encode()
        flags = 0x800 if not name.isascii() else 0
        is_dir = e.name.endswith("/")
        # APPNOTE's "version needed to extract": 2.0 for deflate and directories, 6.3 for zstd (method 93).
        version = 63 if e.method == fmt.METHOD_ZSTD else 20 if e.method == fmt.METHOD_DEFLATED or is_dir else 10
        fields = struct.pack("<HHHHHIII", version, flags, e.method, self.time, self.date, e.crc, len(e.raw), e.size)
        header = b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name
        if self.pos + len(header) + len(e.raw) > fmt.ZIP_LIMIT or len(self.central) >= fmt.MEMBER_LIMIT:
            raise InputError("the app is too large for one exxo binary (more than 4 GiB or 65,535 files)")
        external = (e.mode << 16) | (0x10 if is_dir else 0)
        self.central.append(
            b"PK\x01\x02" + struct.pack("<H", (3 << 8) | 20) + fields
            + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, external, self.pos) + name
        )
        data_at = self.pos + len(header)
        self.f.write(header)
        self.f.write(e.raw)
        self.pos = data_at + len(e.raw)
        self.hash.update(name + b"\0" + struct.pack("<IQ", e.crc, e.size) + hashlib.sha256(e.raw).digest())
        return data_at

    def alias(self, e: _Entry) -> None:
        """A member whose bytes an earlier one already holds: no data, no central-directory entry (a zip
        reader checks a local header's name against the directory's), but part of the build id."""
        self.hash.update(e.name.encode() + b"\0" + struct.pack("<IQ", e.crc, e.size) + hashlib.sha256(e.raw).digest())

    def finish(self, comment: bytes) -> None:
        cd = b"".join(self.central)
        self.f.write(cd)
        n = len(self.central)
        self.f.write(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, n, n, len(cd), self.pos, len(comment)) + comment)
        self.pos += len(cd) + EOCD_SIZE + len(comment)


def compile_boot(python: Path) -> tuple[bytes, dict[str, bytes]]:
    """Marshal exxo's boot sources with the runtime interpreter (bytecode is version-specific).

    Returns (code of _boot/__init__.py, {"__exxo__/boot/<mod>.pyc": code}) for write_binary."""
    # Sources are read here (through importlib.resources, so this also works inside a self-hosted exxo binary,
    # where _boot is a directory in the zip) and handed to the runtime on stdin.
    import json as _json

    boot = resources.files("exxo") / "_boot"
    sources = {e.name[:-3]: e.read_text() for e in boot.iterdir() if e.name.endswith(".py")}
    # The format module is shared by this writer and the boot's readers: the boot ships the same source.
    sources["format"] = (resources.files("exxo") / "format.py").read_text()
    try:
        proc = subprocess.run(probes.command(python, "compile_boot", flags=("-I", "-S")),
                              input=_json.dumps(sources).encode(), capture_output=True)
    except OSError as exc:
        raise InputError(f"cannot run {python} to compile exxo's boot code: {exc.strerror}") from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise InputError(f"cannot compile exxo's boot code with {python}: {tail[0]}",
                         hint="the venv's interpreter must be an exxo runtime (make one with `exxo venv`)")
    import marshal

    compiled: dict[str, bytes] = marshal.loads(proc.stdout)
    init = compiled.pop("__init__")
    return init, {f"{BOOT_MODULES}{k}.pyc": v for k, v in compiled.items()}


def _write_members(zw: _ZipWriter, entries: dict[str, _Entry], facts: dict[str, Any],
                   header: dict[str, Any]) -> dict[str, Any]:
    """Every member in name order, then the binary index, the manifest and the marker; returns the manifest."""
    files: dict[str, list[int]] = {}  # zip-relative offsets: the zip can move (upx) without rewriting
    written: dict[tuple[int, int, int, bytes], str] = {}  # content key -> the first name holding it
    for name in sorted(entries):
        e = entries[name]
        key = (e.method, e.crc, e.size, hashlib.sha256(e.raw).digest())
        first = written.get(key) if e.size else None
        if first is not None:  # identical bytes stored once: this name points at the first copy
            zw.alias(e)
            files[name] = list(files[first])
            continue
        files[name] = [zw.add(e), len(e.raw), e.size, e.method, int(name.endswith("/")), e.crc]
        if e.size:
            written[key] = name
    # The launcher's file-system view reads this index (every member written so far).
    index = fmt.encode_index(files, executable=facts)
    index_entry = _Entry(fmt.INDEX_NAME, index, 0, zlib.crc32(index), len(index), 0o100644)
    files[fmt.INDEX_NAME] = [zw.add(index_entry), len(index), len(index), 0, 0, index_entry.crc]
    zw.hash.update(json.dumps([header["entry"], header["native"], header["python"]], sort_keys=True).encode())
    manifest: dict[str, Any] = header | {
        "build_id": zw.hash.hexdigest()[:32],
        "files": files,
        "elf": facts,
        "manifest_at": zw.pos + fmt.LOCAL_HEADER + len(MANIFEST),  # its local header has no extra field
    }
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    at = zw.add(_Entry(MANIFEST, data, 0, zlib.crc32(data), len(data), 0o100644))
    assert at == manifest["manifest_at"]
    # The launcher finds the index from the marker alone: it ends where the manifest's header begins.
    assert fmt.index_end(at) == files[fmt.INDEX_NAME][fmt.F_OFFSET] + len(index)
    boot = files[BOOT]
    zw.finish(marker(fmt.KIND_APP, (zw.base + boot[fmt.F_OFFSET], boot[fmt.F_SIZE]), (zw.base + at, len(data))))
    return manifest


def write_binary(
    out: Path,
    runtime_exe: Path,
    members: Sequence[Member],
    entry: dict[str, Any],
    native_mode: str,
    python_info: dict[str, Any],
    boot_code: bytes,
    boot_modules: dict[str, bytes],
    packing: Packing | None = None,
) -> BinaryInfo:
    """Writes `out` = the ELF part of `runtime_exe` + the app's zip (docs/design.md), deterministically;
    `packing` says how small (exxo.packing: strip, stdlib modules left out, compression)."""
    if native_mode not in ("memfd", "cache"):
        raise InputError(f"native mode {native_mode!r} is not memfd or cache")
    packing = packing or Packing()
    stdlib_minor = python_info.get("minor") or ".".join(str(python_info.get("version", "")).split(".")[:2])
    stdlib_prefix = f"lib/python{stdlib_minor}"
    runtime = runtime_exe.read_bytes()
    elf, stdlib = _raw_stdlib(runtime, stdlib_prefix, packing.stdlib_exclude)
    date = fixed_date()
    own: dict[str, tuple[bytes, bool]] = {}  # name -> (data, store uncompressed)
    for m in members:
        _check_name(m.name)
        if m.name in own:
            raise InputError(f"{m.name} is given twice to the binary writer")
        if m.name.startswith(fmt.RESERVED_PREFIX) and not m.name.startswith(fmt.RUNTIME_EMBED) or m.name == MAIN:
            raise InputError(f"{m.name}: the name is reserved for exxo inside the binary")
        # Bytecode is read at every import, and decompressing it costs start-up time: which of it is packed is
        # the packing's choice (exxo.packing). Sources, data and metadata are deflated.
        own[m.name] = (m.data, m.name.endswith(".pyc") and not compress_bytecode(m.name, packing.bytecode, False,
                                                                                 packing.hot))
    own[MAIN] = (fmt.MAIN_SOURCE, False)
    own[BOOT] = (boot_code, True)  # the launcher reads it at a fixed offset: stored
    for name, code in boot_modules.items():
        own[name] = (code, True)
    listing = dropped_listing(packing, _stdlib_modules(runtime, stdlib_prefix))
    if listing:
        own[DROPPED_NAME] = (listing, False)
    stdlib = [e for e in stdlib if e.name not in own]
    names = [e.name for e in stdlib] + list(own)

    strip = _strip_tool(packing)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        if strip is not None:
            elf_names = [n for n, (data, _) in own.items() if data[:4] == b"\x7fELF" and not n.startswith(BOOT_MODULES)]
            for n, data in zip(elf_names, pool.map(lambda n: strip_elf(own[n][0], strip), elf_names), strict=True):
                own[n] = (data, own[n][1])
        elf_members = [n for n, (data, _) in own.items() if data[:4] == b"\x7fELF"]
        facts = dict(zip(elf_members, pool.map(lambda n: elf_facts(n, own[n][0]), elf_members), strict=True))
        resolve_needed(facts)
        zstd_ok = launcher_reads_zstd(elf)
        cold = _cold_natives(facts, packing.hot)
        built = list(pool.map(lambda kv: _entry_for(kv[0], kv[1][0], kv[1][1],
                                                    packing.compress_native or kv[0] in cold, zstd_ok),
                              own.items()))
        if packing.bytecode != "stored":  # ("auto" packs all of the stdlib's: packing.compress_bytecode)
            stdlib = list(pool.map(lambda e: _packed_stdlib(e, zstd_ok), stdlib))
    entries = {e.name: e for e in (*stdlib, *built)}
    for d in fmt.dirs_of(names):
        entries[d] = _Entry(d, b"", 0, 0, 0, 0o40755)

    header = {"format": fmt.FORMAT_VERSION, "exxo_version": __version__, "python": python_info, "entry": entry,
              "native": native_mode, "stdlib_prefix": stdlib_prefix}
    with atomic_output(out) as tmp:
        with open(tmp, "wb") as f:
            f.write(elf)
            zw = _ZipWriter(f, len(elf), date)
            manifest = _write_members(zw, entries, facts, header)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o755)
    _fsync_dir(out.parent)
    return BinaryInfo(out, manifest["build_id"], len(elf), zw.pos, len(entries) + 2)


def _cold_natives(facts: dict[str, Any], hot: frozenset[str] | None) -> set[str]:
    """The ELF members an app's start does not load: neither a hot extension module (packing.hot) nor a
    library one of them needs, transitively. Empty when nothing is known."""
    if hot is None:
        return set()
    todo = [n for n in facts if n in hot]
    loaded: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in loaded:
            loaded.add(name)
            todo.extend(facts[name].get("deps", {}).values())
    return set(facts) - loaded


def _stdlib_modules(runtime: bytes, prefix: str) -> set[str]:
    """The dotted names of the runtime's stdlib modules and packages (for the dropped listing)."""
    start = zip_start(runtime)
    if start is None:
        return set()
    out: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(runtime[start:])) as zf:
        for name in zf.namelist():
            if name.startswith(prefix + "/") and name.endswith(".pyc"):
                parts = name[len(prefix) + 1:-4].split("/")
                out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    out.discard("")
    return {m.removesuffix(".__init__") for m in out}


def _strip_tool(packing: Packing) -> str | None:
    from exxo.packing import find_strip

    if not packing.strip:
        return None
    tool = find_strip()
    if tool is None:
        packing.notes.append("strip (binutils) is not installed: native members keep their debug sections")
    return tool


def _packed_stdlib(e: _Entry, zstd_ok: bool) -> _Entry:
    """A stored stdlib member packed (exxo.packing): its raw bytes are the data."""
    if e.method != fmt.METHOD_STORED:
        return e
    return _packed(e.name, e.raw, e.crc, e.mode, zstd_ok)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def relocate(zip_bytes: bytes, elf: bytes) -> bytes:
    """`elf` + the same zip: member offsets are relative to the zip, only the marker's two offsets change."""
    parsed = fmt.parse_marker(zip_bytes[-COMMENT_SIZE:])
    if parsed is None:
        raise InputError("cannot relocate: the zip has no exxo marker")
    zip_at = _zip_base(zip_bytes, parsed.manifest_offset, parsed.manifest_size)
    delta = len(elf) - zip_at
    new = fmt.Marker(fmt.KIND_APP, parsed.boot_offset + delta, parsed.boot_size, parsed.manifest_offset + delta,
                     parsed.manifest_size).encode()
    return elf + zip_bytes[:-COMMENT_SIZE] + new


def _zip_base(zip_bytes: bytes, moff: int, msize: int) -> int:
    """The absolute offset the zip started at when the comment was written (manifest_at is zip-relative)."""
    eocd = len(zip_bytes) - EOCD_SIZE - COMMENT_SIZE
    cd_size, cd_offset = struct.unpack("<II", zip_bytes[eocd + 12:eocd + 20])
    start = eocd - cd_size - cd_offset  # 0 when zip_bytes is exactly the zip
    rel = int(json.loads(zip_bytes[start:][_manifest_slice(zip_bytes[start:], msize)])["manifest_at"])
    return moff - rel


def _manifest_slice(z: bytes, msize: int) -> slice:
    info = zipfile.ZipFile(io.BytesIO(z)).getinfo(MANIFEST)
    name_len, extra_len = struct.unpack("<HH", z[info.header_offset + 26:info.header_offset + 30])
    at = info.header_offset + 30 + name_len + extra_len
    return slice(at, at + msize)


def unpack(raw: bytes, method: int, size: int) -> bytes:
    """A member's bytes from its stored ones (exxo.format.METHODS); damaged bytes give what they give (the
    caller checks size and CRC), or InputError."""
    try:
        if method == fmt.METHOD_DEFLATED:
            return zlib.decompress(raw, -15)
        if method == fmt.METHOD_ZSTD:
            return zstandard.ZstdDecompressor().decompress(raw, max_output_size=size)
    except (zlib.error, zstandard.ZstdError) as exc:
        raise InputError(f"a member cannot be decompressed ({exc})") from None
    return raw


class Members:
    """An exxo binary's members by name, read through its manifest: an identical copy stored once has no
    central-directory entry of its own (docs/design.md), so zipfile cannot read it by that name."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.files = manifest["files"]
        self.base = manifest["_sizes"]["runtime"]
        self.f = open(path, "rb")

    def read(self, name: str) -> bytes:
        e = self.files.get(name)
        if e is None or e[fmt.F_IS_DIR]:
            raise KeyError(f"There is no item named {name!r} in the archive")
        self.f.seek(self.base + e[fmt.F_OFFSET])
        raw = self.f.read(e[fmt.F_CSIZE])
        data = unpack(raw, e[fmt.F_METHOD], e[fmt.F_SIZE])
        if len(data) != e[fmt.F_SIZE] or zlib.crc32(data) != e[fmt.F_CRC]:
            raise InputError(f"{self.f.name}: damaged exxo binary ({name} does not match its checksum)")
        return data

    def __enter__(self) -> Members:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


def read_info(path: Path) -> dict[str, Any]:
    """The manifest of an exxo binary, plus `_sizes`; InputError with one line for anything else."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size < fmt.TAIL_SIZE:
                raise InputError(f"{path}: not an exxo binary (too small: {size} bytes)")
            f.seek(size - fmt.TAIL_SIZE)
            tail = f.read()
            comment = fmt.parse_marker(tail[EOCD_SIZE:])
            if tail[:4] != b"PK\x05\x06" or comment is None:
                raise InputError(f"{path}: not an exxo binary (no exxo marker at its end; truncated?)")
            if comment.kind == fmt.KIND_RUNTIME:
                raise InputError(f"{path}: this is an exxo runtime without an app, not an app binary")
            parsed = fmt.parse_tail(tail, size)
            if parsed is None:
                raise InputError(f"{path}: damaged exxo binary (its marker points outside the file; truncated?)")
            marker, zip_at = parsed
            f.seek(marker.manifest_offset)
            raw = f.read(marker.manifest_size)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        loaded = json.loads(raw)
        if isinstance(loaded, dict) and loaded.get("format") not in (None, fmt.FORMAT_VERSION):
            raise InputError(f"{path}: exxo binary format {loaded.get('format')!r} is not supported by exxo "
                             f"{__version__} (expects {fmt.FORMAT_VERSION}); rebuild it with this exxo")
        manifest = fmt.check_manifest(loaded)
        entries = [(name, int(e[fmt.F_OFFSET]), int(e[fmt.F_CSIZE])) for name, e in manifest["files"].items()]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InputError(f"{path}: damaged exxo binary (its manifest is not valid: {exc})") from exc
    manifest["_sizes"] = {"file": size, "runtime": zip_at, "zip": size - zip_at}
    for name, off, csize in entries:  # the zip must be whole: every member's data inside the file
        if off < 0 or csize < 0 or zip_at + off + csize > size:
            raise InputError(f"{path}: damaged exxo binary ({name} extends past its end; truncated?)")
    return manifest
