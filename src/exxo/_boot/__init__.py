"""exxo's boot code: runs inside every exxo binary, before anything of the app. Stdlib only.

The C launcher executes this module's code object as `_exxo_boot` and calls `_start(...)` (docs/design.md).
`_start` reads the manifest with one seek + read, builds the in-memory index of the appended zip, loads the
other boot modules (`__exxo__/boot/*.pyc`) from it, then installs:
- the importer (a sys.path hook for paths inside the binary: pure Python, bytecode, extensions),
- the zip-path I/O layer (open/stat/listdir/... work on `<binary>/<member>` paths),
- the re-entry hooks (a child running `sys.executable` is a Python interpreter).
It must stay cheap: no directory scan, no json/re import (the manifest is parsed with the C scanner).
"""

import marshal
import sys

_json = __import__("_json")
_io = __import__("_io")

EXE = ""
INDEX = {}  # member name -> [data_offset (zip-relative), compressed_size, size, method, is_dir]
BASE = 0  # absolute file offset of the zip's start
ELF = {}  # member name -> {"soname", "needed", "sha256", "dynstr"}
MANIFEST = {}
APP_MODE = False
_fd = None  # one read-only fd on the binary, kept open (reads use os.pread: no seek races between threads)


class _ScanContext:
    # What _json.make_scanner needs from a JSONDecoder, without importing json (and re) at start.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo = {}


def _parse_json(text):
    value, end = _json.make_scanner(_ScanContext())(text, 0)
    return value


def read_member(name):
    """The bytes of a member (decompressed)."""
    offset, csize, size, method, is_dir = INDEX[name]
    if is_dir:
        raise IsADirectoryError(21, "Is a directory", EXE + "/" + name)
    data = _pread(csize, BASE + offset)
    if method == 8:
        import zlib

        try:
            data = zlib.decompress(data, -15, size)
        except zlib.error as exc:
            raise OSError(5, "exxo: damaged binary: %s cannot be inflated (%s)" % (name, exc), EXE) from None
    return data


def _pread(size, offset):
    import os

    chunks = []
    while size > 0:
        chunk = os.pread(_fd, size, offset)
        if not chunk:
            raise OSError(5, "exxo: unexpected end of file reading " + EXE + " (truncated binary?)")
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _load_boot_module(name):
    full = "_exxo_boot." + name
    if full in sys.modules:
        return sys.modules[full]
    module = type(sys)(full)
    module.__file__ = EXE + "/__exxo__/boot/" + name + ".pyc"
    module.__package__ = "_exxo_boot"
    sys.modules[full] = module
    exec(marshal.loads(read_member("__exxo__/boot/" + name + ".pyc")), module.__dict__)
    setattr(sys.modules["_exxo_boot"], name, module)
    return module


def _start(exe, manifest_offset, manifest_size, app_mode):
    global EXE, INDEX, ELF, MANIFEST, APP_MODE, BASE, _fd
    import os

    EXE = exe
    APP_MODE = bool(app_mode)
    this = sys.modules["_exxo_boot"]
    this.__path__ = []  # a package, so `from _exxo_boot import x` finds the boot modules
    _fd = os.open(exe, os.O_RDONLY | os.O_CLOEXEC)
    try:
        raw = _pread(manifest_size, manifest_offset)
        MANIFEST = _parse_json(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit("exxo: %s: damaged binary (cannot read its manifest: %s); rebuild it with `exxo build`"
                         % (exe, exc)) from None
    INDEX = MANIFEST["files"]
    BASE = manifest_offset - MANIFEST["manifest_at"]
    ELF = MANIFEST.get("elf", {})
    sys._exxo_runtime = MANIFEST["python"].get("version")
    if exe not in sys.path:  # interpreter mode: the launcher left sys.path to CPython's own calculation
        sys.path.append(exe)

    # The importer first: nothing may be looked up in the zip before its hook is in place.
    importer = _load_boot_module("importer")
    importer.install()
    zipio = _load_boot_module("zipio")
    zipio.install()
    native = _load_boot_module("native")
    native.install()
    reentry = _load_boot_module("reentry")
    reentry.install()
    zipio.after_import("pkgutil", importer._patch_pkgutil)


def _entry_callable():
    entry = MANIFEST["entry"]
    import importlib

    module = importlib.import_module(entry["module"])
    target = module
    for part in (entry.get("attr") or "").split("."):
        if part:
            target = getattr(target, part)
    return module, target


def run_app():
    """App mode: call the entry point; its return value becomes the exit status (as a console script)."""
    entry = MANIFEST["entry"]
    if not entry.get("attr"):
        import runpy

        runpy.run_module(entry["module"], run_name="__main__", alter_sys=True)
        sys.exit(0)
    _module, func = _entry_callable()
    sys.exit(func())


def main_from_zip():
    """`python BINARY args...` (interpreter mode running the binary as a script) runs the app too: how
    gunicorn and Django's autoreloader restart "python + script"."""
    if not INDEX:
        raise SystemExit("exxo: run " + sys.argv[0] + " directly, not through another interpreter")
    run_app()
