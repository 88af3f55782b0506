"""A bare runtime executable written from a self-hosted exxo binary's own members (kind R marker).

It belongs with the runtime: it writes what `exxo bootstrap` writes (runtime/cpython.py install), from the
bytes a self-hosted binary carries instead of from a build tree. The layout comes from exxo.format.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from exxo import format as fmt


def write_runtime(out: Path, elf: bytes, stdlib: dict[str, bytes]) -> None:
    """A bare runtime executable (kind R): `elf` + a zip of the stdlib members (for a self-hosted exxo)."""
    # The format's own members (the stdlib-index) are made here, never copied: a zip has each name once.
    names = {n for n in stdlib if not n.startswith(fmt.RESERVED_PREFIX)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(names | fmt.dirs_of(names)):
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            if name.endswith("/"):
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                # As the runtime's own stdlib zip (make_stdlib_zip.py): bytecode stored, the rest deflated.
                stored = name.endswith(".pyc") and "pydoc_data/" not in name and "_pydecimal" not in name
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                info.external_attr = 0o100644 << 16
                zf.writestr(info, stdlib[name], compresslevel=6)
        zf.comment = fmt.Marker(fmt.KIND_RUNTIME, 0, 0, 0, 0).encode()
    # The zipimport index the runtime's own stdlib zip carries (make_stdlib_zip.add_index), so this runtime's
    # venvs import the stdlib as fast as a bootstrapped one.
    from exxo.runtime.make_stdlib_zip import add_index

    with tempfile.TemporaryDirectory() as tmp:
        zip_path = Path(tmp) / "stdlib.zip"
        zip_path.write_bytes(buf.getvalue())
        add_index(str(zip_path))  # type: ignore[no-untyped-call]  # (make_stdlib_zip is stdlib-only, untyped)
        out.write_bytes(elf + zip_path.read_bytes())
    out.chmod(0o755)
