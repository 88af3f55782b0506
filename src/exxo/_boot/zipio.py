"""The zip-path I/O layer: `<binary>/<member>` paths behave like read-only files and directories.

Wraps open/io.open, os.stat/lstat, os.listdir, os.scandir, os.access and ssl's cafile loading. Every wrapper
first checks whether the path starts with the binary's path (one str/bytes prefix test): paths outside the
binary go straight to the original function, unchanged.
"""

import builtins
import errno
import io
import os
import stat as _stat
import sys

from _exxo_boot import EXE, INDEX, read_member

_PREFIX = EXE + "/"
_BPREFIX = os.fsencode(_PREFIX)
_BEXE = os.fsencode(EXE)
_orig = {}
_st_base = None
_children = None  # dir member name ("" for the root) -> sorted child names; built on first listdir


def member_of(path):
    """The member name for a path inside the binary ('' for the binary itself as a directory), else None."""
    if isinstance(path, int):
        return None
    if not isinstance(path, (str, bytes)):
        try:
            path = os.fspath(path)
        except TypeError:
            return None
    if isinstance(path, bytes):
        if not path.startswith(_BPREFIX):
            return None
        path = os.fsdecode(path)
    elif not path.startswith(_PREFIX):
        return None
    rest = os.path.normpath(path[len(_PREFIX):]) if ("/." in path or "//" in path) else path[len(_PREFIX):]
    rest = rest.rstrip("/")
    if rest in ("", "."):
        return ""
    if rest.startswith(".."):
        return None
    return rest


def exists(name):
    return name == "" or name in INDEX or (name + "/") in INDEX


def is_dir(name):
    return name == "" or (name + "/") in INDEX


def _enoent(path):
    return FileNotFoundError(errno.ENOENT, "No such file or directory", path)


def _stat_result(name):
    base = _st_base
    if is_dir(name):
        mode, size = _stat.S_IFDIR | 0o555, 0
    else:
        entry = INDEX[name]
        size = entry[2]
        mode = _stat.S_IFREG | (0o555 if name in _elf_names() else 0o444)
    ino = hash(name) & 0x7FFFFFFFFFFF
    return os.stat_result((mode, ino, base.st_dev, 1, base.st_uid, base.st_gid, size,
                           base.st_atime, base.st_mtime, base.st_ctime))


def _elf_names():
    from _exxo_boot import ELF

    return ELF


def stat(path, *args, **kwargs):
    name = member_of(path)
    if name is None:
        return _orig["stat"](path, *args, **kwargs)
    if not exists(name):
        raise _enoent(path)
    return _stat_result(name)


def lstat(path, *args, **kwargs):
    name = member_of(path)
    if name is None:
        return _orig["lstat"](path, *args, **kwargs)
    if not exists(name):
        raise _enoent(path)
    return _stat_result(name)


def access(path, mode, *args, **kwargs):
    name = member_of(path)
    if name is None:
        return _orig["access"](path, mode, *args, **kwargs)
    if not exists(name):
        return False
    # The owner bits of the mode we report (r-x for directories and ELF files, r-- otherwise): never writable.
    granted = (_stat_result(name).st_mode >> 6) & 7
    return (mode & 7) & ~granted == 0


def children(name):
    global _children
    if _children is None:
        table = {}
        for member in INDEX:
            parent, _, leaf = member.rstrip("/").rpartition("/")
            table.setdefault(parent, set()).add(leaf)
        _children = {k: sorted(v) for k, v in table.items()}
    return _children.get(name, [])


def _dir_member(path):
    """member_of(path), or '' for the binary's own path: listing it lists the zip's root (stat still says it
    is a file). importlib.metadata and pkg_resources list sys.path entries, and the binary is one."""
    name = member_of(path)
    if name is None and isinstance(path, (str, bytes)) and (path == EXE or path == _BEXE):
        return ""
    return name


def listdir(path="."):
    name = _dir_member(path)
    if name is None:
        return _orig["listdir"](path)
    if not is_dir(name):
        raise (NotADirectoryError(errno.ENOTDIR, "Not a directory", path) if exists(name) else _enoent(path))
    names = list(children(name))
    return [os.fsencode(n) for n in names] if isinstance(path, bytes) else names


class _DirEntry:
    __slots__ = ("name", "path", "_member")

    def __init__(self, parent_path, name, member):
        self.name = name
        self.path = os.path.join(parent_path, name)
        self._member = member

    def is_dir(self, follow_symlinks=True):
        return is_dir(self._member)

    def is_file(self, follow_symlinks=True):
        return not is_dir(self._member)

    def is_symlink(self):
        return False

    def is_junction(self):
        return False

    def stat(self, follow_symlinks=True):
        return _stat_result(self._member)

    def inode(self):
        return _stat_result(self._member).st_ino

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return "<DirEntry %r>" % self.name


class _ScandirIterator:
    def __init__(self, entries):
        self._it = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def scandir(path="."):
    name = _dir_member(path)
    if name is None:
        return _orig["scandir"](path)
    if not is_dir(name):
        raise (NotADirectoryError(errno.ENOTDIR, "Not a directory", path) if exists(name) else _enoent(path))
    text_path = os.fsdecode(os.fspath(path))
    prefix = name + "/" if name else ""
    return _ScandirIterator([_DirEntry(text_path, c, prefix + c) for c in children(name)])


class MemberFile(io.BytesIO):
    """A member opened for reading: seekable bytes with the path as its name."""

    def __init__(self, data, name):
        super().__init__(data)
        self.name = name
        self.mode = "rb"


def open_member(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True,
                opener=None):
    name = member_of(file)
    if name is None:
        return _orig["open"](file, mode, buffering, encoding, errors, newline, closefd, opener)
    if any(c in mode for c in "wax+"):
        raise OSError(errno.EROFS, "Read-only file system: files inside the exxo binary cannot be written "
                      "(write to a path outside it, e.g. under $HOME or a --data-dir)", os.fspath(file))
    if not exists(name):
        raise _enoent(os.fspath(file))
    if is_dir(name):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", os.fspath(file))
    raw = MemberFile(read_member(name), os.fspath(file))
    if "b" in mode:
        return raw
    return io.TextIOWrapper(raw, encoding=io.text_encoding(encoding), errors=errors, newline=newline)


def open_code(path):
    if member_of(path) is None:
        return _orig["open_code"](path)
    return open_member(path, "rb")


def real_path(path):
    """A real filesystem path for a member (memfd or cache file) for C code that opens paths itself."""
    from _exxo_boot import native

    name = member_of(path)
    if name is None or not exists(name) or is_dir(name):
        return path
    return native.file_path(name)


def _patch_ssl(module):
    ctx = module.SSLContext
    original = ctx.load_verify_locations

    def load_verify_locations(self, cafile=None, capath=None, cadata=None):
        if cafile is not None and member_of(cafile) is not None:
            data = read_member(member_of(cafile))
            try:
                text = data.decode("ascii")
            except UnicodeDecodeError:
                return original(self, None, capath, data)  # DER
            return original(self, None, capath, text)
        return original(self, cafile, capath, cadata)

    ctx.load_verify_locations = load_verify_locations

    orig_chain = ctx.load_cert_chain

    def load_cert_chain(self, certfile, keyfile=None, password=None):
        return orig_chain(self, real_path(certfile), real_path(keyfile) if keyfile else None, password)

    ctx.load_cert_chain = load_cert_chain

    # A system without any CA bundle (a minimal root): say what to do instead of a bare verify failure.
    for cls in (module.SSLSocket, module.SSLObject):
        cls.do_handshake = _explained(cls.do_handshake, module)


def _explained(handshake, ssl):
    def do_handshake(self, *args, **kwargs):
        try:
            return handshake(self, *args, **kwargs)
        except ssl.SSLCertVerificationError as exc:
            paths = ssl.get_default_verify_paths()
            if exc.verify_code == 20 and paths.cafile is None and paths.capath is None:
                hint = (" -- exxo: this system has no CA certificate bundle (looked for %s and the usual "
                        "distribution paths); set SSL_CERT_FILE=/path/to/ca-bundle.pem or SSL_CERT_DIR"
                        % (paths.openssl_cafile,))
                exc.verify_message = (exc.verify_message or "") + hint
                exc.strerror = (exc.strerror or "") + hint
            raise

    return do_handshake


class _PatchingLoader:
    """Delegates to the real loader, then applies a patch to the freshly executed module."""

    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        self._patch(module)


class PostImport:
    """Patches a module right after it is first imported (ssl, ctypes): no cost until the app imports it."""

    patches = {}

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        patch = cls.patches.pop(fullname, None)
        if patch is None:
            return None
        import importlib.util

        spec = importlib.util.find_spec(fullname)  # this finder no longer answers for fullname
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


def after_import(name, patch):
    """Run patch(module) now if `name` is imported, else right after its first import."""
    module = sys.modules.get(name)
    if module is not None:
        patch(module)
    else:
        PostImport.patches[name] = patch


def _patch_tokenize(tokenize):
    tokenize._builtin_open = open_member  # bound at its import; linecache (tracebacks) opens through it


def install():
    global _st_base
    _st_base = _orig_stat_of_exe()
    for name, func in (("stat", stat), ("lstat", lstat), ("access", access), ("listdir", listdir),
                       ("scandir", scandir)):
        _orig[name] = getattr(os, name)
        setattr(os, name, func)
    _orig["open"] = io.open
    _orig["open_code"] = io.open_code
    builtins.open = open_member
    io.open = open_member
    io.open_code = open_code
    sys.meta_path.insert(0, PostImport)
    after_import("ssl", _patch_ssl)
    after_import("tokenize", _patch_tokenize)


def _orig_stat_of_exe():
    return os.stat(EXE)
