"""Paths inside the binary, for the boot's own Python code, and the few Python-level patches left.

Opening, stat'ing and listing `<binary>/<member>` paths is done below Python, by the launcher's file-system
view (launcher/fsview.c, mounted by `_start`): CPython's `open`, `os.stat`, `os.listdir`, `os.scandir`,
`io.open_code`, and every C library in the process call the libc functions it defines. What stays here:
- `member_of`/`exists`/`is_dir`/`children`: the boot's own look-ups in the manifest's index (no syscall);
- `after_import`: patch a module right after its first import (ctypes' CDLL: dlopen needs a real file);
- ssl: explain a certificate failure on a system without a CA bundle.
"""

import sys

from _exxo_boot import EXE, INDEX

_PREFIX = EXE + "/"
_BPREFIX = _PREFIX.encode(sys.getfilesystemencoding(), "surrogateescape")  # os.fsencode: os is not loaded yet
_children = None  # dir member name ("" for the root) -> sorted child names; built on first use


def member_of(path):
    """The member name for a path inside the binary ('' for the binary itself as a directory), else None."""
    if isinstance(path, int):
        return None
    import os  # imported by whoever passes a path here

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


def children(name):
    global _children
    if _children is None:
        table = {}
        for member in INDEX:
            parent, _, leaf = member.rstrip("/").rpartition("/")
            table.setdefault(parent, set()).add(leaf)
        _children = {k: sorted(v) for k, v in table.items()}
    return _children.get(name, [])


def _patch_ssl(module):
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


def install():
    sys.meta_path.insert(0, PostImport)
    after_import("ssl", _patch_ssl)
