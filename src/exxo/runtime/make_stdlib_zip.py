"""Byte-compile CPython's Lib/ and write it as the runtime's stdlib zip.

Run by the freshly built interpreter (bytecode is version-specific), stdlib only:

    ./python make_stdlib_zip.py LIBDIR SYSCONFIGDATA OUT.zip

Members are `lib/python3.X/<path>.pyc` in the legacy layout (zipimport and exxo's importer read them
without recompiling), plus the data files packages need. Deterministic: sorted names, fixed timestamps,
unchecked-hash pycs (no source mtime inside). The zip comment is exxo's 74-byte runtime marker.
"""

import importlib.util
import os
import sys
import zipfile

# Left out of the runtime: test suites, the IDE and GUI toolkits, demo code. A shipped app never needs them.
EXCLUDED_DIRS = {"test", "tests", "idle_test", "idlelib", "tkinter", "turtledemo", "__pycache__", "site-packages"}
EXCLUDED_FILES = {"turtle.py", "__phello__", "_pyrepl/_minimal_curses.py"}
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
# Bytecode is stored uncompressed: every import reads it, and inflating it made importing stdlib modules
# ~1.35x slower than a stock CPython reading .pyc files (measured with `import json, re, argparse, ...`;
# stored: ~1.07x), for ~6 MB more per binary. Big modules that are rarely imported stay deflated.
DEFLATED_PYC = ("pydoc_data/", "_pydecimal.pyc")


def compress_type(arcname):
    if arcname.endswith(".pyc") and not any(part in arcname for part in DEFLATED_PYC):
        return zipfile.ZIP_STORED
    return zipfile.ZIP_DEFLATED


def _format():
    """exxo.format, which defines the marker; loaded by path when the freshly built interpreter runs this
    file as a script (exxo is not importable there)."""
    try:
        from exxo import format as fmt
    except ImportError:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "format.py")
        spec = importlib.util.spec_from_file_location("exxo_format", path)
        fmt = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fmt)
    return fmt


FMT = _format()
MARKER = FMT.Marker(FMT.KIND_RUNTIME, 0, 0, 0, 0).encode()


def members(libdir):
    for root, dirs, files in os.walk(libdir):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith("__phello__"))
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, libdir).replace(os.sep, "/")
            if rel in EXCLUDED_FILES or name in EXCLUDED_FILES or name.endswith((".pyc", ".pyo")):
                continue
            yield rel, path


def pyc_bytes(path, rel):
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, "<stdlib>/" + rel, "exec", dont_inherit=True, optimize=0)
    # Unchecked-hash pyc: valid whatever the source's mtime, so the build is reproducible.
    return importlib._bootstrap_external._code_to_hash_pyc(
        code, importlib.util.source_hash(source), checked=False
    )


def main(libdir, sysconfigdata, out):
    prefix = "lib/python%d.%d/" % sys.version_info[:2]
    entries = {}
    for rel, path in members(libdir):
        if rel.endswith(".py"):
            try:
                entries[prefix + rel[:-3] + ".pyc"] = pyc_bytes(path, rel)
            except SyntaxError:
                continue  # lib2to3-style test data written in old syntax
        else:
            with open(path, "rb") as f:
                entries[prefix + rel] = f.read()
    name = os.path.basename(sysconfigdata)
    entries[prefix + name[:-3] + ".pyc"] = pyc_bytes(sysconfigdata, name)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        dirs = set()
        for arcname in sorted(entries):
            parts = arcname.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i]) + "/"
                if d not in dirs:
                    dirs.add(d)
                    info = zipfile.ZipInfo(d, FIXED_DATE)
                    info.external_attr = (0o40755 << 16) | 0x10
                    zf.writestr(info, b"")
            info = zipfile.ZipInfo(arcname, FIXED_DATE)
            info.external_attr = 0o100644 << 16
            info.compress_type = compress_type(arcname)
            zf.writestr(info, entries[arcname])
        zf.comment = MARKER
    add_index(tmp)
    os.replace(tmp, out)
    print("%d members" % len(entries))


INDEX_NAME = FMT.STDLIB_INDEX_NAME


def add_index(path):
    """Append zipimport's directory of this zip, marshalled (exxo's patched zipimport reads it instead of
    parsing ~600 entries in Python at every start), and point the marker's last two fields at it."""
    import marshal
    import struct
    import zipimport

    files = zipimport._read_directory(path)  # CPython's own parser: the zip has no index yet
    if INDEX_NAME in files:
        raise ValueError("%s already has %s: a zip holds each name once" % (path, INDEX_NAME))
    entries = sorted((name, None if t is None else t[1:]) for name, t in files.items())
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo(INDEX_NAME, FIXED_DATE)
        info.external_attr = 0o100644 << 16
        zf.writestr(info, marshal.dumps(entries), compress_type=zipfile.ZIP_STORED)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(INDEX_NAME)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    offset = info.header_offset + 30 + name_len + extra_len  # zip-relative: the file is the zip alone here
    with zipfile.ZipFile(path, "a") as zf:
        zf.comment = FMT.Marker(FMT.KIND_RUNTIME, 0, 0, offset, info.file_size).encode()


if __name__ == "__main__":
    main(*sys.argv[1:4])
