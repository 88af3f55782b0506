"""The binary format: runtime ELF + one deterministic zip (stdlib, app, boot, manifest), see docs/design.md.

`write_binary` writes it (temp file in the output dir, then rename); `read_info` reads it back for
`exxo inspect` and refuses anything that is not a whole exxo binary with a one-line InputError.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from exxo import __version__
from exxo.errors import InputError

FORMAT = 1
COMMENT_SIZE = 74
EOCD_SIZE = 22
MANIFEST = "__exxo__/manifest.json"
BOOT = "__exxo__/boot.pyc"
BOOT_MODULES = "__exxo__/boot/"
MAIN = "__main__.py"
MAIN_SOURCE = b"import _exxo_boot\n_exxo_boot.main_from_zip()\n"
# Never copied from the runtime's stdlib into an app: pip's wheel belongs to `exxo venv`.
STDLIB_EXCLUDE = ("ensurepip/_bundled/",)


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
    text = b"EXXO1" + kind + b"".join(b" %016x" % v for v in (*boot, *manifest))
    assert len(text) == COMMENT_SIZE
    return text


def split_runtime(runtime_exe: Path) -> tuple[bytes, zipfile.ZipFile | None]:
    """(ELF bytes, the runtime's own appended zip or None)."""
    data = runtime_exe.read_bytes()
    start = zip_start(data)
    if start is None:
        return data, None
    return data[:start], zipfile.ZipFile(io.BytesIO(data[start:]))


def zip_start(data: bytes) -> int | None:
    """Offset where an appended zip begins (its EOCD carries exxo's fixed-size comment), or None."""
    if len(data) < EOCD_SIZE + COMMENT_SIZE:
        return None
    eocd = len(data) - EOCD_SIZE - COMMENT_SIZE
    if data[eocd:eocd + 4] != b"PK\x05\x06" or not data[eocd + EOCD_SIZE:].startswith(b"EXXO1"):
        return None
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12:eocd + 20])
    return int(eocd - cd_size - cd_offset)


def elf_facts(name: str, data: bytes) -> dict[str, Any]:
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    facts: dict[str, Any] = {"soname": None, "needed": [], "sha256": hashlib.sha256(data).hexdigest()}
    try:
        elf = ELFFile(io.BytesIO(data))
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_NEEDED":
                        facts["needed"].append(tag.needed)  # type: ignore[attr-defined]
                    elif tag.entry.d_tag == "DT_SONAME":
                        facts["soname"] = tag.soname  # type: ignore[attr-defined]
        dynstr = elf.get_section_by_name(".dynstr")
        if dynstr is not None:  # where the boot may rewrite DT_NEEDED names (memfd loading)
            facts["dynstr"] = [dynstr["sh_offset"], dynstr["sh_size"]]
        facts["type"] = elf.header["e_type"]
    except ELFError as exc:  # a file named like a library but not a valid ELF: keep it as data
        facts["error"] = str(exc)
    return facts


def _dirs(names: Iterable[str]) -> set[str]:
    out = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]) + "/")
    return out


def compile_boot(python: Path) -> tuple[bytes, dict[str, bytes]]:
    """Marshal exxo's boot sources with the runtime interpreter (bytecode is version-specific)."""
    boot_dir = Path(str(resources.files("exxo") / "_boot"))
    script = (
        "import marshal, sys, pathlib\n"
        "out = {}\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.py')):\n"
        "    name = '_exxo_boot' if p.stem == '__init__' else '_exxo_boot.' + p.stem\n"
        "    out[p.stem] = marshal.dumps(compile(p.read_bytes(), '<exxo boot>/' + p.name, 'exec'))\n"
        "sys.stdout.buffer.write(marshal.dumps(out))\n"
    )
    proc = subprocess.run([str(python), "-I", "-S", "-c", script, str(boot_dir)], capture_output=True)
    if proc.returncode != 0:
        raise InputError(f"cannot compile exxo's boot code with {python}: {proc.stderr.decode()[-500:]}",
                         hint="the venv's interpreter must be an exxo runtime (make one with `exxo venv`)")
    import marshal

    compiled: dict[str, bytes] = marshal.loads(proc.stdout)
    init = compiled.pop("__init__")
    return init, {f"{BOOT_MODULES}{k}.pyc": v for k, v in compiled.items()}


def write_binary(
    out: Path,
    runtime_exe: Path,
    members: Sequence[Member],
    entry: dict[str, Any],
    native_mode: str,
    python_info: dict[str, Any],
    boot_code: bytes,
    boot_modules: dict[str, bytes],
    keep_ensurepip: bool = False,
) -> BinaryInfo:
    elf, runtime_zip = split_runtime(runtime_exe)
    date = fixed_date()
    entries: dict[str, bytes] = {}
    if runtime_zip is not None:
        for info in runtime_zip.infolist():
            if info.is_dir() or (not keep_ensurepip and any(x in info.filename for x in STDLIB_EXCLUDE)):
                continue
            entries[info.filename] = runtime_zip.read(info)
    for m in members:
        entries[m.name] = m.data
    entries[MAIN] = MAIN_SOURCE
    entries[BOOT] = boot_code
    entries.update(boot_modules)
    names = sorted(entries)
    build_id = hashlib.sha256()
    for name in names:
        build_id.update(name.encode() + b"\0" + hashlib.sha256(entries[name]).digest())
    build_id.update(json.dumps([entry, native_mode, python_info], sort_keys=True).encode())

    buf = io.BytesIO()
    files: dict[str, list[int]] = {}  # offsets relative to the zip's start (relocatable, e.g. by upx)
    elf_info: dict[str, Any] = {}
    base = len(elf)
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(set(names) | _dirs(names)):
            info = zipfile.ZipInfo(name, date)
            if name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
                files[name] = [0, 0, 0, 0, 1]
                continue
            data = entries[name]
            is_elf = data[:4] == b"\x7fELF"
            stored = is_elf or name in (BOOT, MANIFEST) or name.startswith(BOOT_MODULES)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if is_elf else 0o100644) << 16
            header_at = buf.tell()
            zf.writestr(info, data, compresslevel=6)
            data_at = header_at + 30 + len(info.filename.encode()) + len(info.extra)
            files[name] = [data_at, info.compress_size, len(data),
                           0 if stored else 8, 0]
            if is_elf:
                elf_info[name] = elf_facts(name, data)
        boot = files[BOOT]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "exxo_version": __version__,
            "python": python_info,
            "entry": entry,
            "build_id": build_id.hexdigest()[:32],
            "native": native_mode,
            "stdlib_prefix": f"lib/python{python_info.get('minor', '')}",
            "files": files,
            "elf": elf_info,
        }
        info = zipfile.ZipInfo(MANIFEST, date)
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o100644 << 16
        manifest["manifest_at"] = buf.tell() + 30 + len(MANIFEST)  # no extra field on a fresh ZipInfo
        manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        zf.writestr(info, manifest_bytes)
        zf.comment = marker(b"A", (base + boot[0], boot[2]),
                            (base + manifest["manifest_at"], len(manifest_bytes)))

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(elf)
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return BinaryInfo(out, manifest["build_id"], len(elf), len(buf.getvalue()), len(names))


def write_runtime(out: Path, elf: bytes, stdlib: dict[str, bytes]) -> None:
    """A bare runtime executable (kind R): `elf` + a zip of the stdlib members (for a self-hosted exxo)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(set(stdlib) | _dirs(stdlib)):
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            if name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o100644 << 16
                zf.writestr(info, stdlib[name], compresslevel=6)
        zf.comment = marker(b"R", (0, 0), (0, 0))
    out.write_bytes(elf + buf.getvalue())
    out.chmod(0o755)


def relocate(zip_bytes: bytes, elf: bytes) -> bytes:
    """`elf` + the same zip: member offsets are relative to the zip, only the comment's two change."""
    comment = zip_bytes[-COMMENT_SIZE:]
    nums = [int(comment[7 + 17 * i:23 + 17 * i], 16) for i in range(4)]
    zip_at = _zip_base(zip_bytes, nums[2], nums[3])
    delta = len(elf) - zip_at
    new = marker(b"A", (nums[0] + delta, nums[1]), (nums[2] + delta, nums[3]))
    return elf + zip_bytes[:-COMMENT_SIZE] + new


def _zip_base(zip_bytes: bytes, moff: int, msize: int) -> int:
    """The absolute offset the zip started at when the comment was written (manifest_at is zip-relative)."""
    eocd = len(zip_bytes) - EOCD_SIZE - COMMENT_SIZE
    cd_size, cd_offset = struct.unpack("<II", zip_bytes[eocd + 12:eocd + 20])
    start = eocd - cd_size - cd_offset  # 0 when zip_bytes is exactly the zip
    # The manifest's data lies at manifest_at (zip-relative); the comment holds its absolute offset.
    rel = int(json.loads(zip_bytes[start:][_manifest_slice(zip_bytes[start:], msize)])["manifest_at"])
    return moff - rel


def _manifest_slice(z: bytes, msize: int) -> slice:
    info = zipfile.ZipFile(io.BytesIO(z)).getinfo(MANIFEST)
    name_len, extra_len = struct.unpack("<HH", z[info.header_offset + 26:info.header_offset + 30])
    at = info.header_offset + 30 + name_len + extra_len
    return slice(at, at + msize)


def read_info(path: Path) -> dict[str, Any]:
    """The manifest of an exxo binary, plus sizes; InputError with one line for anything else."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            if size < EOCD_SIZE + COMMENT_SIZE:
                raise InputError(f"{path}: not an exxo binary (too small)")
            f.seek(size - EOCD_SIZE - COMMENT_SIZE)
            tail = f.read()
            if tail[:4] != b"PK\x05\x06" or not tail[EOCD_SIZE:].startswith(b"EXXO1"):
                raise InputError(f"{path}: not an exxo binary (no exxo trailer at its end; truncated?)")
            comment = tail[EOCD_SIZE:]
            cd_size, cd_offset = struct.unpack("<II", tail[12:20])
            zip_at = size - EOCD_SIZE - COMMENT_SIZE - cd_size - cd_offset
            kind = comment[5:6]
            nums = [int(comment[7 + 17 * i:23 + 17 * i], 16) for i in range(4)]
            if kind == b"R":
                raise InputError(f"{path}: this is an exxo runtime without an app, not an app binary")
            moff, msize = nums[2], nums[3]
            if moff + msize > size or msize == 0:
                raise InputError(f"{path}: damaged exxo binary (manifest outside the file; truncated?)")
            f.seek(moff)
            raw = f.read(msize)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        manifest: dict[str, Any] = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"{path}: damaged exxo binary (its manifest is not valid JSON)") from exc
    if manifest.get("format") != FORMAT:
        raise InputError(f"{path}: exxo binary format {manifest.get('format')!r} is not supported by exxo "
                         f"{__version__} (expects {FORMAT})")
    manifest["_sizes"] = {"file": size, "runtime": zip_at, "zip": size - zip_at}
    # Check that the zip is whole: its last member's data must end inside the file.
    for name, (off, csize, _usize, _method, _d) in manifest["files"].items():
        if zip_at + off + csize > size:
            raise InputError(f"{path}: damaged exxo binary ({name} extends past the end; truncated?)")
    return manifest
