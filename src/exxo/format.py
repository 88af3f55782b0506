"""The exxo binary format, defined once: what the writer (exxo.archive), the runtime's own stdlib zip
(runtime/make_stdlib_zip.py), the C launcher (launcher/*.c, through the header `c_header()` generates), the
patched zipimport, the boot code inside the binary and `exxo inspect` share. docs/design.md describes it
(tests/unit/test_format.py checks the page against the names here).

    [ runtime ELF ][ zip: members..., central directory, EOCD + 74-byte marker comment ]

Stdlib only, and cheap to import: the boot ships this module (`__exxo__/boot/format.pyc`) and loads it at
every start, so no dataclasses/typing/struct imports at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

# ---- the marker: the zip's EOCD comment ------------------------------------------------------------------

FORMAT_VERSION = 2  # of the manifest and the binary index; the marker's own version is in MAGIC
MAGIC = b"EXXO1"
KIND_RUNTIME = b"R"  # the bare runtime: its numbers locate the stdlib-index (zipimport's directory)
KIND_APP = b"A"  # an app binary: its numbers locate the boot code and the manifest (absolute offsets)
EOCD_SIZE = 22
COMMENT_SIZE = 74  # MAGIC + kind + 4 x (" " + 16 lowercase hex digits)
TAIL_SIZE = EOCD_SIZE + COMMENT_SIZE
FIELD_AT = tuple(7 + 17 * i for i in range(4))  # where each hex field starts in the comment
ZIP_LIMIT = 0xFFFFFFFF  # no zip64: sizes, offsets of the classic fields
MEMBER_LIMIT = 0xFFFF  # the classic EOCD's member count


class Marker:
    """The four numbers of the marker. kind A: boot and manifest data (absolute file offsets, sizes);
    kind R: the stdlib-index member (zip-relative offset, size) in the manifest fields, boot fields 0."""

    __slots__ = ("kind", "boot_offset", "boot_size", "manifest_offset", "manifest_size")

    def __init__(self, kind: bytes, boot_offset: int, boot_size: int, manifest_offset: int,
                 manifest_size: int) -> None:
        self.kind = kind
        self.boot_offset = boot_offset
        self.boot_size = boot_size
        self.manifest_offset = manifest_offset
        self.manifest_size = manifest_size

    def encode(self) -> bytes:
        nums = (self.boot_offset, self.boot_size, self.manifest_offset, self.manifest_size)
        text = MAGIC + self.kind + b"".join(b" %016x" % v for v in nums)
        if len(text) != COMMENT_SIZE or self.kind not in (KIND_RUNTIME, KIND_APP):
            raise ValueError("marker field out of range: %r" % (text,))
        return text

    def __repr__(self) -> str:
        return "Marker(%r, %d, %d, %d, %d)" % (self.kind, self.boot_offset, self.boot_size,
                                               self.manifest_offset, self.manifest_size)


def parse_marker(comment: bytes) -> Marker | None:
    """The marker of an EOCD comment, or None when it is not an exxo marker (or not well-formed)."""
    if len(comment) != COMMENT_SIZE or not comment.startswith(MAGIC) or comment[5:6] not in (KIND_RUNTIME,
                                                                                              KIND_APP):
        return None
    nums = []
    for at in FIELD_AT:
        field = comment[at:at + 16]
        if comment[at - 1:at] != b" " or len(field) != 16 or field.strip(b"0123456789abcdef"):
            return None
        nums.append(int(field, 16))
    return Marker(comment[5:6], nums[0], nums[1], nums[2], nums[3])


def parse_tail(tail: bytes, file_size: int) -> tuple[Marker, int] | None:
    """(marker, absolute offset of the zip's start) from the last TAIL_SIZE bytes of a file of `file_size`
    bytes, or None when the file does not end with an exxo marker or its numbers do not fit inside it."""
    if len(tail) != TAIL_SIZE or tail[:4] != b"PK\x05\x06" or tail[20:22] != bytes((COMMENT_SIZE, 0)):
        return None
    marker = parse_marker(tail[EOCD_SIZE:])
    if marker is None:
        return None
    cd_size = int.from_bytes(tail[12:16], "little")
    cd_offset = int.from_bytes(tail[16:20], "little")
    zip_at = file_size - TAIL_SIZE - cd_size - cd_offset
    if zip_at < 0:
        return None
    if marker.kind == KIND_APP:
        for offset, size in ((marker.boot_offset, marker.boot_size),
                             (marker.manifest_offset, marker.manifest_size)):
            # each part lies inside the zip's members (no wrap-around: Python ints)
            if size == 0 or offset < zip_at or offset + size > file_size - TAIL_SIZE - cd_size:
                return None
    return marker, zip_at


# ---- member names ---------------------------------------------------------------------------------------

RESERVED_PREFIX = "__exxo__/"
MANIFEST_NAME = "__exxo__/manifest.json"  # stored; written last among the members
INDEX_NAME = "__exxo__/index"  # stored; the binary index (below), read by the launcher's file-system view
BOOT_NAME = "__exxo__/boot.pyc"  # stored; the launcher executes it as module _exxo_boot
BOOT_MODULES = "__exxo__/boot/"  # further boot modules (marshalled code), loaded by the boot itself
STDLIB_INDEX_NAME = "__exxo__/stdlib-index"  # the bare runtime's only: zipimport's directory, marshalled
RUNTIME_EMBED = "__exxo__/runtime/"  # a self-hosted exxo's own runtime files (embed-runtime)
MAIN_NAME = "__main__.py"
MAIN_SOURCE = (
    b"try:\n"
    b"    import _exxo_boot\n"
    b"except ImportError:\n"
    b"    raise SystemExit('this is an exxo binary: run it directly, not with another Python') from None\n"
    b"_exxo_boot.main_from_zip()\n"
)

def dirs_of(names: Iterable[str]) -> set[str]:
    """The directory entries ("pkg/", "pkg/sub/") a zip of `names` carries: one for every directory that has
    members, so namespace packages and listings need no scan."""
    out = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]) + "/")
    return out


# ---- the manifest (__exxo__/manifest.json) --------------------------------------------------------------

# Its top-level keys, each with what it holds (docs/design.md lists the same).
MANIFEST_FIELDS = {
    "format": "FORMAT_VERSION of the writer",
    "exxo_version": "the exxo that built the binary",
    "python": "the runtime: version, minor, abi, tag",
    "entry": "what runs: module, attr (null: run the module as __main__), name",
    "build_id": "sha256 (32 hex digits) of every member's name and bytes, and of the entry and mode",
    "native": "the default native-loading mode: memfd | cache",
    "manifest_at": "zip-relative offset of the manifest's own data (zip start = marker's offset - this)",
    "stdlib_prefix": "where the stdlib members are: lib/python3.X",
    "files": "member name -> FILE_FIELDS list, for every member but the manifest",
    "elf": "ELF member name -> ELF_FIELDS object",
}
# The list each "files" value is, in this order (offset: of the data, relative to the zip's start).
FILE_FIELDS = ("offset", "csize", "size", "method", "is_dir", "crc")
F_OFFSET, F_CSIZE, F_SIZE, F_METHOD, F_IS_DIR, F_CRC = range(len(FILE_FIELDS))
METHOD_STORED = 0
METHOD_DEFLATED = 8
# Zstandard (APPNOTE 6.3.7's method 93): bytecode and native code, the members read at start or loaded whole.
# It inflates ~2x faster than deflate here (466 vs 233 MB/s on 16 KiB bytecode-sized pieces) and packs ELF
# files ~30% smaller. Text members stay deflated, so any zip tool still reads sources, data and metadata.
METHOD_ZSTD = 93
METHODS = (METHOD_STORED, METHOD_DEFLATED, METHOD_ZSTD)
# The keys of each "elf" value (runpath: DT_RUNPATH, else DT_RPATH, entries; deps: {DT_NEEDED name: member}
# for the bundled ones, resolved at build time as the loader would (exxo/elfdeps.py); dynstr: [file offset,
# size] of .dynstr, whose bundled names memfd loading rewrites; type: ELF e_type; error: why a file named like
# ELF could not be parsed).
ELF_FIELDS = ("soname", "needed", "runpath", "deps", "sha256", "type", "dynstr", "error")


class FormatError(ValueError):
    """The bytes are not a well-formed exxo binary part (a damaged or truncated file)."""


def check_manifest(manifest: object) -> dict:  # type: ignore[type-arg]
    """The manifest if it has every field this format defines, else FormatError."""
    if not isinstance(manifest, dict):
        raise FormatError("the manifest is not an object")
    if manifest.get("format") != FORMAT_VERSION:
        raise FormatError("format %r, this exxo reads format %d" % (manifest.get("format"), FORMAT_VERSION))
    missing = [k for k in MANIFEST_FIELDS if k not in manifest]
    if missing:
        raise FormatError("the manifest lacks %s" % ", ".join(missing))
    files = manifest["files"]
    if not isinstance(files, dict):
        raise FormatError("the manifest's files is not an object")
    for name, entry in files.items():
        if not isinstance(entry, list) or len(entry) != len(FILE_FIELDS):
            raise FormatError("the manifest's entry for %s is not a %d-field list" % (name, len(FILE_FIELDS)))
    return manifest


# ---- the binary index (__exxo__/index) ------------------------------------------------------------------
#
# What the C launcher's file-system view looks members up in, without parsing JSON. It is the member written
# right before the manifest, so the launcher finds it from the marker alone (it ends where the manifest's
# local header, 30 bytes + the name, begins) and its footer says how long it is:
#   count records of INDEX_RECORD bytes, sorted by name (bytewise):
#       name_offset u32, name_len u32, data_offset u64 (zip-relative), csize u32, size u32, crc32 u32,
#       method u16, flags u16 (INDEX_DIR, INDEX_EXEC)
#   names   UTF-8, concatenated; directories without their trailing "/"
#   footer  INDEX_MAGIC (8 bytes), count (u32), names_size (u32)
# All little-endian. It lists every member written before it (not itself, not the manifest).

INDEX_MAGIC = b"EXXOIDX1"
INDEX_FOOTER = 16
INDEX_RECORD = 32
INDEX_DIR = 1
INDEX_EXEC = 2
LOCAL_HEADER = 30  # a zip local header without extra field, before the name


def index_end(manifest_offset: int) -> int:
    """Where the index's bytes end, from the marker's manifest offset (absolute or zip-relative alike)."""
    return manifest_offset - LOCAL_HEADER - len(MANIFEST_NAME)


def _u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


def encode_index(files: dict[str, list[int]], executable: Iterable[str] = ()) -> bytes:
    """The binary index of a manifest's `files` (members named in `executable` get INDEX_EXEC)."""
    exe = set(executable)
    rows = sorted((name.rstrip("/").encode(), name) for name in files)
    names = bytearray()
    records = bytearray()
    for raw, name in rows:
        e = files[name]
        flags = (INDEX_DIR if e[F_IS_DIR] else 0) | (INDEX_EXEC if name in exe else 0)
        records += (_u32(len(names)) + _u32(len(raw)) + e[F_OFFSET].to_bytes(8, "little") + _u32(e[F_CSIZE])
                    + _u32(e[F_SIZE]) + _u32(e[F_CRC]) + e[F_METHOD].to_bytes(2, "little")
                    + flags.to_bytes(2, "little"))
        names += raw
    return bytes(records) + bytes(names) + INDEX_MAGIC + _u32(len(rows)) + _u32(len(names))


def decode_index(data: bytes) -> list[tuple[str, int, int, int, int, int, int]]:
    """(name, offset, csize, size, crc, method, flags) per record: the reader the C launcher mirrors.
    `data` may have anything before the index: it is read from its end."""
    if len(data) < INDEX_FOOTER or data[-INDEX_FOOTER:-8] != INDEX_MAGIC:
        raise FormatError("not an exxo index")
    count = int.from_bytes(data[-8:-4], "little")
    names_size = int.from_bytes(data[-4:], "little")
    start = len(data) - INDEX_FOOTER - names_size - count * INDEX_RECORD
    if start < 0:
        raise FormatError("the index's sizes do not add up")
    names_at = start + count * INDEX_RECORD
    out = []
    for i in range(count):
        r = data[start + i * INDEX_RECORD:start + (i + 1) * INDEX_RECORD]
        at, n = int.from_bytes(r[0:4], "little"), int.from_bytes(r[4:8], "little")
        if at + n > names_size:
            raise FormatError("an index name lies outside the names")
        name = data[names_at + at:names_at + at + n].decode()
        out.append((name, int.from_bytes(r[8:16], "little"), int.from_bytes(r[16:20], "little"),
                    int.from_bytes(r[20:24], "little"), int.from_bytes(r[24:28], "little"),
                    int.from_bytes(r[28:30], "little"), int.from_bytes(r[30:32], "little")))
    return out


def c_header() -> str:
    """The constants above for the C launcher (written as Programs/exxo_format.h by the runtime build)."""
    lines = ["/* Generated from exxo/format.py by the runtime build: do not edit. */",
             "#define EXXO_MAGIC \"%s\"" % MAGIC.decode(),
             "#define EXXO_EOCD_SIZE %d" % EOCD_SIZE,
             "#define EXXO_COMMENT_SIZE %d" % COMMENT_SIZE]
    lines += ["#define EXXO_FIELD_AT_%d %d" % (i, at) for i, at in enumerate(FIELD_AT)]
    lines += ["#define EXXO_INDEX_MAGIC \"%s\"" % INDEX_MAGIC.decode(),
              "#define EXXO_INDEX_FOOTER %d" % INDEX_FOOTER,
              "#define EXXO_BOOT_NAME \"%s\"" % BOOT_NAME,
              "#define EXXO_INDEX_NAME \"%s\"" % INDEX_NAME,
              "#define EXXO_MANIFEST_NAME \"%s\"" % MANIFEST_NAME,
              "#define EXXO_LOCAL_HEADER %d" % LOCAL_HEADER,
              "#define EXXO_MANIFEST_HEADER %d /* its local header + name */" % (LOCAL_HEADER + len(MANIFEST_NAME)),
              "#define EXXO_INDEX_RECORD %d" % INDEX_RECORD,
              "#define EXXO_INDEX_DIR %d" % INDEX_DIR,
              "#define EXXO_INDEX_EXEC %d" % INDEX_EXEC,
              "#define EXXO_METHOD_DEFLATED %d" % METHOD_DEFLATED,
              "#define EXXO_METHOD_ZSTD %d" % METHOD_ZSTD]
    return "\n".join(lines) + "\n"
