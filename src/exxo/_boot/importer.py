"""The importer: a sys.path hook for entries inside the binary (`<binary>` and `<binary>/lib/python3.X`).

Being a path hook (not a meta-path finder) keeps CPython's own semantics for free: sys.path order, namespace
packages spanning several entries, sys.path_importer_cache, importlib.metadata over sys.path. Look-ups are
dict probes into the manifest's index; nothing is scanned. Bytecode comes from `__pycache__/*.cpython-3X.pyc`
(app) or legacy `.pyc` (stdlib) and is not recompiled; `.py` is compiled only when no pyc was shipped.
"""

import _imp
import marshal
import sys
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec

from _exxo_boot import EXE, INDEX, read_member

_PREFIX = EXE + "/"
_TAG = sys.implementation.cache_tag  # e.g. cpython-313


class ExxoLoader:
    """Loader for pure-Python modules stored in the binary."""

    def __init__(self, fullname, member, is_package, source_member, pyc_member):
        self.name = fullname
        self.member = member
        self.path = _PREFIX + member  # what importlib's FileLoader calls `path`
        self._is_package = is_package
        self._source = source_member
        self._pyc = pyc_member

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = self.get_code(module.__name__)
        exec(code, module.__dict__)

    def is_package(self, fullname):
        return self._is_package

    def get_code(self, fullname):
        if self._pyc is not None:
            data = read_member(self._pyc)
            # pyc header: magic(4) flags(4) then mtime+size or hash (8): code starts at 16
            if data[:4] == _MAGIC:
                return marshal.loads(memoryview(data)[16:])
        if self._source is None:
            raise ImportError("exxo: no usable bytecode or source for %s in %s" % (fullname, EXE), name=fullname)
        return compile(read_member(self._source), _PREFIX + self._source, "exec", dont_inherit=True)

    def get_source(self, fullname):
        if self._source is None:
            return None
        from importlib.util import decode_source

        return decode_source(read_member(self._source))

    def get_filename(self, fullname=None):
        return self.path

    def get_data(self, path):
        from _exxo_boot import zipio

        member = zipio.member_of(path)
        if member is None:
            with zipio._orig["open"](path, "rb") as f:
                return f.read()
        if member not in INDEX:
            raise OSError(2, "No such file in the binary", path)
        return read_member(member)

    def get_resource_reader(self, fullname):
        if not self._is_package:
            return None
        from importlib.readers import FileReader

        return FileReader(self)  # pathlib over the zip-path I/O layer: files(), as_file(), iterdir()


class ExxoExtensionLoader:
    """C extensions: dlopen'ed from a memfd (or the cache), `__file__` still inside the binary."""

    def __init__(self, fullname, member):
        self.name = fullname
        self.member = member
        self.path = _PREFIX + member

    def create_module(self, spec):
        from _exxo_boot import native

        try:
            real = native.file_path(self.member)
            native.preload_dependencies(self.member)
            real_spec = ModuleSpec(spec.name, self, origin=real)
            module = _imp.create_dynamic(real_spec)
        except ImportError as exc:
            raise ImportError("exxo: cannot load C extension %s (%s): %s" % (spec.name, self.path, exc),
                              name=spec.name, path=self.path) from None
        except OSError as exc:
            raise ImportError("exxo: cannot load C extension %s (%s): %s" % (spec.name, self.path, exc),
                              name=spec.name, path=self.path) from None
        return module

    def exec_module(self, module):
        _imp.exec_dynamic(module)
        try:
            module.__file__ = self.path
        except AttributeError:
            pass

    def is_package(self, fullname):
        return False

    def get_code(self, fullname):
        return None

    def get_source(self, fullname):
        return None

    def get_filename(self, fullname=None):
        return self.path


_MAGIC = None


class ExxoPathFinder:
    """The finder for one sys.path entry inside the binary; `prefix` is its member directory ('' = root)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.path = EXE + ("/" + prefix.rstrip("/") if prefix else "")

    def __repr__(self):
        return "ExxoPathFinder(%r)" % self.path

    def invalidate_caches(self):
        pass

    def find_spec(self, fullname, target=None):
        tail = fullname.rpartition(".")[2]
        base = self.prefix + tail
        # Package directory first (as FileFinder does), then extensions, then modules.
        init_py, init_pyc = base + "/__init__.py", base + "/__init__.pyc"
        cached_init = base + "/__pycache__/__init__." + _TAG + ".pyc"
        if init_py in INDEX or init_pyc in INDEX:
            pyc = cached_init if cached_init in INDEX else (init_pyc if init_pyc in INDEX else None)
            source = init_py if init_py in INDEX else None
            loader = ExxoLoader(fullname, source or pyc, True, source, pyc)
            spec = ModuleSpec(fullname, loader, origin=_PREFIX + (source or pyc), is_package=True)
            spec.submodule_search_locations = [_PREFIX + base]
            spec.has_location = True
            return spec
        for suffix in EXTENSION_SUFFIXES:
            member = base + suffix
            if member in INDEX:
                loader = ExxoExtensionLoader(fullname, member)
                spec = ModuleSpec(fullname, loader, origin=_PREFIX + member)
                spec.has_location = True
                return spec
        source = base + ".py"
        parent = self.prefix
        cached = parent + "__pycache__/" + tail + "." + _TAG + ".pyc"
        legacy = base + ".pyc"
        pyc = cached if cached in INDEX else (legacy if legacy in INDEX else None)
        if source in INDEX or pyc is not None:
            src = source if source in INDEX else None
            loader = ExxoLoader(fullname, src or pyc, False, src, pyc)
            spec = ModuleSpec(fullname, loader, origin=_PREFIX + (src or pyc))
            spec.has_location = True
            return spec
        if base + "/" in INDEX:  # a directory without __init__: a namespace package portion
            spec = ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = [_PREFIX + base]
            return spec
        return None


def path_hook(path):
    if path == EXE:
        return ExxoPathFinder("")
    if path.startswith(_PREFIX):
        rest = path[len(_PREFIX):].strip("/")
        if rest + "/" in INDEX or rest == "":
            return ExxoPathFinder(rest + "/" if rest else "")
    raise ImportError("not a path inside the exxo binary")


def install():
    global _MAGIC
    from importlib.util import MAGIC_NUMBER

    _MAGIC = MAGIC_NUMBER
    sys.path_hooks.insert(0, path_hook)
    for entry in list(sys.path_importer_cache):
        if entry == EXE or entry.startswith(_PREFIX):
            del sys.path_importer_cache[entry]
