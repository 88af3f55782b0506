"""Give every symbol defined in a static archive hidden visibility.

The runtime links OpenSSL, SQLite, libffi, zlib... statically and exports the Python C API dynamically
(`-export-dynamic`, so manylinux extensions can bind to it). GNU ld's `--exclude-libs,ALL` would keep the
third-party symbols out of the dynamic symbol table, but zig's linker rejects that flag. Marking the symbols
STV_HIDDEN in the archives' objects does the same thing for any linker: hidden symbols still resolve inside
the static link and are never exported, so a wheel that bundles its own OpenSSL (psycopg2-binary) or SQLite
keeps binding to its own copy.

The archive is rewritten byte for byte except for the one `st_other` byte of each patched symbol, so the
ar index stays valid.
"""

from __future__ import annotations

import io
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from exxo.common import atomic_write

_AR_MAGIC = b"!<arch>\n"
_HEADER = 60
_STV_HIDDEN = 2
_ST_OTHER_OFFSET = 5  # Elf64_Sym: st_name(4) st_info(1) st_other(1) st_shndx(2) st_value(8) st_size(8)


def _hide_in_object(data: bytearray, start: int, size: int) -> int:
    member = bytes(data[start : start + size])
    if not member.startswith(b"\x7fELF"):
        return 0
    elf = ELFFile(io.BytesIO(member))
    if elf.elfclass != 64:
        return 0
    count = 0
    for section in elf.iter_sections():
        if not isinstance(section, SymbolTableSection) or section.name != ".symtab":
            continue
        entsize = section["sh_entsize"]
        for index, symbol in enumerate(section.iter_symbols()):
            if symbol["st_info"]["bind"] not in ("STB_GLOBAL", "STB_WEAK"):
                continue
            if symbol["st_shndx"] == "SHN_UNDEF":
                continue
            pos = start + section["sh_offset"] + index * entsize + _ST_OTHER_OFFSET
            data[pos] = (data[pos] & ~0x3) | _STV_HIDDEN
            count += 1
    return count


def hide_archive_symbols(src: Path, dst: Path) -> int:
    """Copy archive `src` to `dst` with all defined global symbols hidden; returns how many were hidden."""
    data = bytearray(src.read_bytes())
    if not data.startswith(_AR_MAGIC):
        raise ValueError(f"{src} is not an ar archive")
    pos = len(_AR_MAGIC)
    hidden = 0
    while pos + _HEADER <= len(data):
        header = data[pos : pos + _HEADER]
        size = int(header[48:58].decode("ascii").strip())
        name = header[0:16].decode("ascii", "replace").strip()
        body = pos + _HEADER
        offset = 0
        if name.startswith("#1/"):  # BSD long name stored in front of the member data
            offset = int(name[3:])
        if name not in ("/", "//", "/SYM64/"):
            hidden += _hide_in_object(data, body + offset, size - offset)
        pos = body + size + (size & 1)
    atomic_write(dst, bytes(data))
    return hidden
