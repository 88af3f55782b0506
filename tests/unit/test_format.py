"""exxo.format is the one definition of the binary format: its codecs, the C header made from it, the launcher's
exported file-system entry points, and docs/design.md must all agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exxo import format as fmt
from exxo.runtime.validate import FSVIEW_EXPORTS

ROOT = Path(__file__).resolve().parents[2]
DESIGN = (ROOT / "docs" / "design.md").read_text()
FSVIEW = "".join((ROOT / "src" / "exxo" / "launcher" / n).read_text() for n in ("fsview.c", "fsview_calls.c"))
MAIN_C = (ROOT / "src" / "exxo" / "launcher" / "main.c").read_text()


def _tail(marker: fmt.Marker, cd_size: int, cd_offset: int) -> bytes:
    eocd = b"PK\x05\x06" + bytes(8) + cd_size.to_bytes(4, "little") + cd_offset.to_bytes(4, "little")
    return eocd + bytes((fmt.COMMENT_SIZE, 0)) + marker.encode()


def test_marker_round_trip_and_rejects() -> None:
    m = fmt.Marker(fmt.KIND_APP, 1000, 20, 2000, 30)
    text = m.encode()
    assert len(text) == fmt.COMMENT_SIZE
    back = fmt.parse_marker(text)
    assert back is not None
    assert (back.kind, back.boot_offset, back.boot_size, back.manifest_offset, back.manifest_size) == (
        b"A", 1000, 20, 2000, 30)
    assert fmt.parse_marker(text.replace(b"A", b"Q", 1)) is None
    assert fmt.parse_marker(text[:-1] + b"g") is None  # not hex
    assert fmt.parse_marker(text[:-1]) is None
    with pytest.raises(ValueError):
        fmt.Marker(fmt.KIND_APP, 1 << 64, 0, 0, 0).encode()


def test_parse_tail_keeps_every_part_inside_the_file() -> None:
    # a 10,000-byte file whose zip starts at 4,000 and whose central directory (500 bytes) ends the members
    size, cd_size = 10_000, 500
    cd_offset = size - fmt.TAIL_SIZE - cd_size - 4_000
    good = fmt.Marker(fmt.KIND_APP, 4_100, 50, 9_000, 100)
    parsed = fmt.parse_tail(_tail(good, cd_size, cd_offset), size)
    assert parsed is not None and parsed[1] == 4_000
    for bad in (fmt.Marker(fmt.KIND_APP, 100, 50, 9_000, 100),  # boot inside the ELF part
                fmt.Marker(fmt.KIND_APP, 4_100, 0, 9_000, 100),  # empty boot
                fmt.Marker(fmt.KIND_APP, 4_100, 50, 9_000, (1 << 64) - 9_000),  # would wrap in C
                fmt.Marker(fmt.KIND_APP, 4_100, 50, 9_400, 100)):  # overlaps the central directory
        assert fmt.parse_tail(_tail(bad, cd_size, cd_offset), size) is None, bad
    assert fmt.parse_tail(_tail(good, cd_size, size), size) is None  # zip would start before the file


def test_index_round_trip_sorted_bytewise() -> None:
    files = {"b/": [0, 0, 0, 0, 1, 0], "b/x.so": [10, 7, 7, 0, 0, 99], "a.txt": [40, 3, 9, 8, 0, 5],
             "b.txt": [60, 1, 1, 0, 0, 1]}
    rows = fmt.decode_index(b"junk before" + fmt.encode_index(files, executable=["b/x.so"]))
    assert [r[0] for r in rows] == ["a.txt", "b", "b.txt", "b/x.so"]  # what the C binary search assumes
    assert rows[3] == ("b/x.so", 10, 7, 7, 99, 0, fmt.INDEX_EXEC)
    assert rows[1][6] == fmt.INDEX_DIR
    with pytest.raises(fmt.FormatError):
        fmt.decode_index(fmt.encode_index(files)[:-1])


def test_check_manifest_names_what_is_missing() -> None:
    manifest = {k: None for k in fmt.MANIFEST_FIELDS} | {"format": fmt.FORMAT_VERSION, "files": {}}
    assert fmt.check_manifest(manifest) is manifest
    with pytest.raises(fmt.FormatError, match="lacks build_id"):
        fmt.check_manifest({k: v for k, v in manifest.items() if k != "build_id"})
    with pytest.raises(fmt.FormatError, match="format 1"):
        fmt.check_manifest(manifest | {"format": 1})
    with pytest.raises(fmt.FormatError, match="6-field"):
        fmt.check_manifest(manifest | {"files": {"a": [0, 1, 2]}})


def test_c_header_carries_the_python_constants() -> None:
    header = fmt.c_header()
    defined = dict(re.findall(r"#define (\w+) (\S+)", header))
    assert defined["EXXO_COMMENT_SIZE"] == str(fmt.COMMENT_SIZE)
    assert defined["EXXO_INDEX_RECORD"] == str(fmt.INDEX_RECORD)
    assert defined["EXXO_MANIFEST_HEADER"] == str(fmt.LOCAL_HEADER + len(fmt.MANIFEST_NAME))
    assert [int(defined[f"EXXO_FIELD_AT_{i}"]) for i in range(4)] == list(fmt.FIELD_AT)
    # the launcher uses the generated names, not numbers of its own
    own = {"EXXO_EXIT_DAMAGED", "EXXO_PYTHON", "EXXO_EXPORT", "EXXO_CWD"}  # the launcher's own, not the format's
    used = set(re.findall(r"\bEXXO_[A-Z_0-9]*[A-Z0-9]\b", MAIN_C + FSVIEW)) - own
    assert used <= set(defined), used - set(defined)


def test_the_boot_reads_file_entries_in_format_order() -> None:
    """The boot unpacks the manifest's files entries positionally (loading exxo.format at every start would cost
    more than the whole check): its unpacking must name FILE_FIELDS in order."""
    boot = (ROOT / "src" / "exxo" / "_boot" / "__init__.py").read_text()
    unpacked = re.search(r"^\s+(\w+(?:, \w+)+) = INDEX\[name\]$", boot, re.M)
    assert unpacked is not None
    assert tuple(unpacked.group(1).split(", ")) == fmt.FILE_FIELDS


def test_the_validator_allows_exactly_what_fsview_defines() -> None:
    defined = set(re.findall(r'__asm__\("(\w+)"\)', FSVIEW))
    defined |= set(re.findall(r"^DEFINE_\w+\((\w+),", FSVIEW, re.M))
    assert defined == FSVIEW_EXPORTS


def test_design_doc_matches_the_format() -> None:
    manifest_section = DESIGN.split("## Manifest")[1].split("\n## ")[0]
    documented = set(re.findall(r'^ {6}"(\w+)":', manifest_section, re.M))  # the top-level keys
    assert documented == set(fmt.MANIFEST_FIELDS), documented ^ set(fmt.MANIFEST_FIELDS)
    files_line = next(line for line in manifest_section.splitlines() if '"<name>": [' in line)
    assert re.findall(r"\[(.*)\]", files_line)[0].replace(" ", "").split(",") == list(fmt.FILE_FIELDS)
    elf_block = manifest_section.split('"elf"')[1]
    assert set(re.findall(r'"(\w+)":', elf_block.split("\n         ...")[0])) == set(fmt.ELF_FIELDS)
    for name in (fmt.MANIFEST_NAME, fmt.INDEX_NAME, fmt.BOOT_NAME, fmt.BOOT_MODULES, fmt.STDLIB_INDEX_NAME,
                 fmt.MAIN_NAME):
        assert name in DESIGN, name
    assert f"{fmt.COMMENT_SIZE}-byte" in DESIGN or f"{fmt.COMMENT_SIZE} bytes" in DESIGN
    assert f"FORMAT_VERSION = {fmt.FORMAT_VERSION}" in DESIGN or f'"format": {fmt.FORMAT_VERSION}' in DESIGN
