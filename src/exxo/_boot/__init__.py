"""exxo's boot code: runs inside every exxo binary, before anything of the app. Stdlib only.

The C launcher executes this module's code object as `_exxo_boot` and calls `_start(...)` (docs/design.md).
`_start` reads the manifest with one seek + read, builds the in-memory index of the appended zip, loads the
other boot modules (`__exxo__/boot/*.pyc`) from it, then installs:
- the importer (a sys.path hook for paths inside the binary: pure Python, bytecode, extensions),
- the zip-path I/O layer (open/stat/listdir/... work on `<binary>/<member>` paths),
- the re-entry hooks (a child running `sys.executable` is a Python interpreter).
It must stay cheap: no directory scan, no json/re import (the manifest is parsed with the C scanner), and
no `os` either: importing os (with _collections_abc and posixpath) is ~10M instructions, a fifth of a hello
app's start, so the start path uses the built-in `posix` and the modules that need os (native code, re-entry)
are loaded when the app first needs them (`__getattr__`, `after_import("os", ...)`).
"""

import marshal
import posix
import sys

_json = __import__("_json")
_io = __import__("_io")

EXE = ""
INDEX = {}  # member name -> the manifest's files entry (exxo.format.FILE_FIELDS)
BASE = 0  # absolute file offset of the zip's start
ELF = {}  # member name -> the manifest's elf entry (exxo.format.ELF_FIELDS)
MANIFEST = {}
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


def _crc32():
    """zlib.crc32, or the launcher's (the same function, ~15x fewer instructions: the CRC of the bytecode an
    app imports at start was 3% of a Flask app's start with zlib's)."""
    global _crc
    if _crc is None:
        try:
            import _exxo

            _crc = _exxo.crc32
        except (ImportError, AttributeError):  # the boot harness on a stock CPython
            import zlib

            _crc = zlib.crc32
    return _crc


_crc = None


def _zstd():
    """The launcher's zstd decoder, or (the boot harness on a stock CPython >= 3.14) compression.zstd's."""
    global _unzstd
    if _unzstd is not None:
        return _unzstd
    try:
        import _exxo

        _unzstd = _exxo.zstd_decompress
    except (ImportError, AttributeError):
        from compression import zstd

        def decompress(data, size):
            try:
                out = zstd.decompress(data)
            except zstd.ZstdError as exc:
                raise ValueError(str(exc)) from None
            if len(out) != size:
                raise ValueError("wrong size")
            return out

        _unzstd = decompress
    return _unzstd


_unzstd = None


def read_member(name):
    """The bytes of a member (decompressed), checked against the CRC-32 the index records."""
    offset, csize, size, method, is_dir, crc = INDEX[name]
    if is_dir:
        raise IsADirectoryError(21, "Is a directory", EXE + "/" + name)
    data = _pread(csize, BASE + offset)
    if method == 93:  # zstd (exxo.format.METHOD_ZSTD): bytecode and native code
        try:
            data = _zstd()(data, size)
        except ValueError as exc:
            _damaged_member("%s cannot be decompressed (%s)" % (name, exc))
    elif method == 8:
        import zlib

        try:
            data = zlib.decompress(data, -15, size)
        except zlib.error as exc:
            _damaged_member("%s cannot be inflated (%s)" % (name, exc))
    if len(data) != size or _crc32()(data) != crc:
        _damaged_member("the member %s does not match its checksum" % name)
    return data


def _damaged_member(why):
    """A member's bytes are not what the index says (the file was damaged or cut after it was built): stop
    at once, whoever asked -- running damaged bytecode can crash the interpreter, and an app must not go on
    with wrong data or swallow the error (docs/reference.md: exit 126)."""
    try:
        _damaged(EXE, why)
    except SystemExit:
        posix._exit(126)


def _pread(size, offset):
    chunks = []
    while size > 0:
        chunk = posix.pread(_fd, size, offset)
        if not chunk:
            raise OSError(5, "exxo: unexpected end of file reading " + EXE + " (truncated binary?)")
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


_LAZY = ("native", "reentry")  # loaded on first use: both import os


def __getattr__(name):
    """`from _exxo_boot import native` (the importer, at the first extension module) loads it then."""
    if name in _LAZY:
        return _load_boot_module(name)
    raise AttributeError("module '_exxo_boot' has no attribute '%s'" % name)


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


def _damaged(exe, why):
    """A damaged manifest at start: one line, exit 126 (docs/reference.md)."""
    sys.stderr.write("exxo: %s: damaged binary (%s); rebuild it with `exxo build` or copy it again\n" % (exe, why))
    sys.stderr.flush()
    raise SystemExit(126)


def _start(exe, manifest_offset, manifest_size, app_mode):
    global EXE, INDEX, ELF, MANIFEST, BASE, _fd
    if app_mode and sys.orig_argv and _is_python_name(sys.orig_argv[0]):
        _become_python(exe)
    EXE = exe
    this = sys.modules["_exxo_boot"]
    this.__path__ = []  # a package, so `from _exxo_boot import x` finds the boot modules
    _fd = posix.open(exe, posix.O_RDONLY | posix.O_CLOEXEC)
    try:
        raw = _pread(manifest_size, manifest_offset)
        MANIFEST = _parse_json(raw.decode("utf-8"))
        INDEX = MANIFEST["files"]
        BASE = manifest_offset - MANIFEST["manifest_at"]
        # The launcher has checked the manifest's CRC-32 and mounted the file-system view from the binary index
        # before Python started (open/stat/opendir of <exe>/... already work for every caller, C code
        # included). The manifest was written with this boot code, so its format is this boot's: the format
        # module (shipped as boot/format.pyc) is not loaded at start -- it cost ~1.4M instructions, 3% of a
        # hello app's start. The boot reads the files entries in format.FILE_FIELDS order
        # (tests/unit/test_format.py checks the unpacking below against it).
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        _damaged(exe, "cannot read its manifest: %s" % (exc,))
    ELF = MANIFEST.get("elf", {})
    sys._exxo_runtime = MANIFEST["python"].get("version")
    site_packages = _as_prefix(exe)

    # The importer first: nothing may be looked up in the zip before its hook is in place.
    importer = _load_boot_module("importer")
    importer.install()
    zipio = _load_boot_module("zipio")
    zipio.install()
    _check_native_mode()
    zipio.after_import("ctypes", lambda ctypes: _load_boot_module("native").patch_ctypes(ctypes))
    sys._exxo_native_mode = lambda: _load_boot_module("native").mode()
    # Re-entry hooks wrap os.execv & co. (and _posixsubprocess, before subprocess binds it, which imports os
    # first): installed when os is imported, at once if it already is (interpreter mode: site imported it).
    zipio.after_import("os", lambda os: _load_boot_module("reentry").install())
    zipio.after_import("pkgutil", importer._patch_pkgutil)
    _add_site_packages(site_packages, app_mode)
    if app_mode and sys.argv and sys.argv[0] and "/" not in sys.argv[0]:
        sys.argv[0] = _found_on_path(sys.argv[0], exe)


EXIT_CONFIG = 78  # EX_CONFIG: the binary's environment asks for something that does not exist


def _check_native_mode():
    forced = posix.environ.get(b"EXXO_NATIVE")
    if forced and forced not in (b"memfd", b"cache"):
        sys.stderr.write("exxo: EXXO_NATIVE=%s is not a native-code loading mode: set it to memfd or cache, or "
                         "unset it (then the binary's own mode is used, the other one as fallback)\n"
                         % _fsdecode(forced))
        sys.stderr.flush()
        posix._exit(EXIT_CONFIG)


def _fsdecode(raw):
    return raw.decode(sys.getfilesystemencoding(), "surrogateescape")


def _exists(path):
    try:
        posix.stat(path)
    except OSError:
        return False
    return True


def _is_python_name(argv0):
    """Run as `python`, `python3` or `python3.X` (a symlink, hard link or copy named so), the binary is the
    Python of the app's environment, as a venv's bin/python is (docs/reference.md)."""
    name = argv0.rpartition("/")[2]
    return name in ("python", "python3", "python%d.%d" % sys.version_info[:2])


def _become_python(exe):
    """Exec this binary again as an interpreter (the launcher's re-entry mode, EXXO_PYTHON=1): the command line
    is then parsed by CPython itself (-c, -m, a script, stdin, -X/-O/-u...), before the interpreter starts --
    which this app-mode process, already initialised with isolated settings, can no longer do."""
    env = dict(posix.environ)
    env[b"EXXO_PYTHON"] = b"1"
    try:
        posix.execve(exe, sys.orig_argv, env)
    except OSError as exc:
        sys.stderr.write("exxo: %s: cannot start as Python: %s\n" % (exe, exc))
        sys.stderr.flush()
        raise SystemExit(126) from None


def _found_on_path(name, exe):
    """The PATH entry a shell ran `name` from, when that is this binary: what a venv console script sees as
    sys.argv[0] (the kernel hands the interpreter the script's path), and what tools that restart themselves
    (Django's autoreloader) run again. `name` itself when it is not found there."""
    try:
        me = posix.stat(exe)
    except OSError:
        return name
    path = posix.environ.get(b"PATH")
    for d in (_fsdecode(path) if path is not None else "/bin:/usr/bin").split(":"):  # os.defpath
        base = d or "."
        candidate = base + name if base.endswith("/") else base + "/" + name  # os.path.join(base, name)
        try:
            st = posix.stat(candidate)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (me.st_dev, me.st_ino):
            return candidate
        if posix.access(candidate, posix.X_OK):
            break  # the shell would have run this one: not us (argv[0] chosen by the caller)
    return name


def _as_prefix(exe):
    """The binary is the installation prefix, as a venv's directory is: sys.prefix and friends (so sysconfig's
    paths) point into it, and the compile-time prefix (/opt/exxo/..., which exists nowhere) leaves sys.path.
    Returns the site-packages directory (the zip's root for binaries built before the prefix layout)."""
    derived = {sys.prefix, exe}  # the prefix getpath used: the binary itself (the launcher sets it as home)
    sys.prefix = sys.exec_prefix = sys.base_prefix = sys.base_exec_prefix = exe
    # What getpath derived from the prefix (lib/python313.zip, lib-dynload) exists nowhere: drop it.
    sys.path[:] = [p for p in sys.path if p == exe or not (
        any(p == d or p.startswith(d + "/") for d in derived) and not _exists(p))]
    site_packages = exe + "/" + MANIFEST["stdlib_prefix"] + "/site-packages"
    if MANIFEST["stdlib_prefix"] + "/site-packages/" not in INDEX:
        return exe
    while exe in sys.path:  # the launcher's app-mode path names the binary itself
        sys.path.remove(exe)
    return site_packages


def _add_site_packages(site_packages, app_mode):
    """site-packages as `site` adds it in a venv: on sys.path, its .pth files processed (by site itself, imported
    only when there is one: it imports os); in app mode (no `site` at start-up) also the builtins site adds."""
    if site_packages == EXE:
        if EXE not in sys.path:
            sys.path.append(EXE)
        return
    inside = site_packages[len(EXE) + 1:] + "/"
    if "site" in sys.modules or any(m.endswith(".pth") and "/" not in m[len(inside):]
                                    for m in INDEX if m.startswith(inside)):
        import site

        site.addsitedir(site_packages)
        site.PREFIXES = [sys.prefix, sys.exec_prefix]  # getsitepackages() names it, as in a venv
    elif site_packages not in sys.path:
        sys.path.append(site_packages)
    if app_mode:
        _site_builtins()


def _site_builtins():
    """What `site` adds to builtins: exit, quit and help as site makes them (_sitebuiltins' classes, no os);
    copyright, credits and license (whose texts site holds, and whose _Printer imports os) stand in for site's
    own until first used, then import site and hand over to them."""
    import _sitebuiltins
    import builtins

    eof = "Ctrl-D (i.e. EOF)"
    builtins.quit = _sitebuiltins.Quitter("quit", eof)
    builtins.exit = _sitebuiltins.Quitter("exit", eof)
    builtins.help = _sitebuiltins._Helper()
    for name in ("copyright", "credits", "license"):
        setattr(builtins, name, _SitePrinter(name))


class _SitePrinter:
    def __init__(self, name):
        self._name = name

    def _real(self):
        import builtins

        if isinstance(getattr(builtins, self._name, None), _SitePrinter):
            import site

            site.setcopyright()
        return getattr(builtins, self._name)

    def __call__(self):
        return self._real()()

    def __repr__(self):
        return repr(self._real())


def _chosen_entry():
    """What this run executes: in a multi-call binary (built with --all-scripts) the console script named like
    the file it was run as (argv[0]: a symlink, hard link or copy), else the default entry."""
    entry = MANIFEST["entry"]
    scripts = entry.get("scripts")
    if scripts and sys.argv and sys.argv[0]:
        chosen = scripts.get(sys.argv[0].rpartition("/")[2])
        if chosen is not None:
            return chosen
    return entry


def _entry_callable():
    entry = _chosen_entry()
    import importlib

    module = importlib.import_module(entry["module"])
    target = module
    for part in (entry.get("attr") or "").split("."):
        if part:
            target = getattr(target, part)
    return module, target


def run_app():
    """App mode: call the entry point; its return value becomes the exit status (as a console script)."""
    entry = _chosen_entry()
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
