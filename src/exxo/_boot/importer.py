"""The importer: a sys.path hook for entries inside the binary (`<binary>`, `<binary>/lib/python3.X`, any
`<binary>/<dir>` the app adds).

A path hook (not a meta-path finder) keeps CPython's own semantics for free: sys.path order (a directory the
app or pytest puts first still wins), namespace packages spanning several entries, sys.path_importer_cache,
importlib.metadata's MetadataPathFinder (it lists sys.path entries, which the zip-path I/O layer serves).
The finder and loaders subclass FileFinder / SourceFileLoader / ExtensionFileLoader so code that dispatches on
those types treats the binary as a directory: pkg_resources (find_on_path, DefaultProvider), pkgutil
(iter_modules), importlib.resources (FileReader). Look-ups are dict probes into the manifest's index; nothing
is scanned. Bytecode comes from `__pycache__/*.cpython-3X.pyc` (app) or legacy `.pyc` (stdlib) and is not
recompiled; a `.py` is compiled only when no usable pyc was shipped.

Only frozen modules are imported here: the hook must be in place before anything is looked up in the zip
(zipimport would otherwise read the whole central directory first).
"""

import _imp
import marshal
import sys

from _exxo_boot import EXE, INDEX, read_member

_bootstrap = sys.modules["_frozen_importlib"]
_external = sys.modules["_frozen_importlib_external"]
ModuleSpec = _bootstrap.ModuleSpec
_PREFIX = EXE + "/"
_TAG = sys.implementation.cache_tag  # e.g. cpython-313
_MAGIC = _external.MAGIC_NUMBER
_EXT_SUFFIXES = tuple(_imp.extension_suffixes())
_DROPPED = "__exxo__/dropped"  # exxo.packing.DROPPED_NAME: the stdlib modules the build left out


class ExxoLoader(_external.SourceFileLoader):
    """Pure-Python modules stored in the binary (source and/or bytecode)."""

    def __init__(self, fullname, member, is_package, source_member, pyc_member):
        super().__init__(fullname, _PREFIX + member)  # `path`: where the module appears to be
        self.member = member
        self._is_package = is_package
        self._source = source_member
        self._pyc = pyc_member

    def is_package(self, fullname):
        return self._is_package

    def get_code(self, fullname):
        if self._pyc is not None:
            data = read_member(self._pyc)
            # pyc header: magic(4) flags(4) then mtime+size or a source hash (8). Sources travel in the same
            # zip, so there is nothing to validate against: a right magic number is enough.
            if data[:4] == _MAGIC:
                code = marshal.loads(memoryview(data)[16:])
                # The build compiled it under another path: point co_filename (tracebacks, linecache) here.
                _imp._fix_co_filename(code, self.path)
                return code
        if self._source is None:
            raise ImportError("exxo: %s has neither usable bytecode (%s, for %s) nor source in %s"
                              % (fullname, self._pyc, _TAG, EXE), name=fullname, path=self.path)
        return compile(read_member(self._source), self.path, "exec", dont_inherit=True)

    def get_source(self, fullname):
        if self._source is None:
            return None
        return _external.decode_source(read_member(self._source))

    def get_data(self, path):
        from _exxo_boot import zipio

        member = zipio.member_of(path)
        if member is None:
            return super().get_data(path)
        if member not in INDEX:
            raise FileNotFoundError(2, "No such file in the binary", path)
        return read_member(member)

    def set_data(self, path, data, *, _mode=0o666):
        pass  # bytecode is never written back (the binary is read-only)


class ExxoExtensionLoader(_external.ExtensionFileLoader):
    """C extensions: dlopen'ed from a memfd (or the cache); `__file__` stays inside the binary."""

    def __init__(self, fullname, member):
        super().__init__(fullname, _PREFIX + member)
        self.member = member

    def create_module(self, spec):
        from _exxo_boot import native

        try:
            real = native.file_path(self.member)
            native.preload_dependencies(self.member)
            module = _imp.create_dynamic(ModuleSpec(spec.name, self, origin=real))
        except (ImportError, OSError) as exc:
            raise ImportError("exxo: cannot load the C extension %s (%s): %s" % (spec.name, self.path, exc),
                              name=spec.name, path=self.path) from None
        return module

    def exec_module(self, module):
        _imp.exec_dynamic(module)
        try:
            module.__file__ = self.path  # the C init may have seen the memfd path
        except AttributeError:
            pass


class ExxoPathFinder(_external.FileFinder):
    """The finder for one sys.path entry inside the binary; `prefix` is its member directory ('' = root)."""

    def __init__(self, prefix):  # FileFinder.__init__ is not called: no directory to list
        self.prefix = prefix
        self.path = EXE + ("/" + prefix.rstrip("/") if prefix else "")
        self._loaders = []
        self._path_mtime = -1
        self._path_cache = set()
        self._relaxed_path_cache = set()

    def __repr__(self):
        return "ExxoPathFinder(%r)" % self.path

    def invalidate_caches(self):
        pass

    def find_spec(self, fullname, target=None):
        tail = fullname.rpartition(".")[2]
        base = self.prefix + tail
        # The order of FileFinder: a package directory first, then extension, source, bytecode.
        init_py = base + "/__init__.py"
        init_legacy = base + "/__init__.pyc"
        cached = base + "/__pycache__/__init__." + _TAG + ".pyc"  # a dependency shipped without sources
        if init_py in INDEX or init_legacy in INDEX or cached in INDEX:
            pyc = cached if cached in INDEX else (init_legacy if init_legacy in INDEX else None)
            source = init_py if init_py in INDEX else None
            # Without its source a module's __file__ is where a sourceless pyc lies (pkg/__init__.pyc, as CPython
            # names one): its directory is the package's, which importlib.resources and __file__ users expect.
            return self._spec(ExxoLoader(fullname, source or init_legacy, True, source, pyc), base)
        for suffix in _EXT_SUFFIXES:
            if base + "/__init__" + suffix in INDEX:  # a package whose __init__ is compiled (Cython)
                return self._spec(ExxoExtensionLoader(fullname, base + "/__init__" + suffix), base)
        for suffix in _EXT_SUFFIXES:
            if base + suffix in INDEX:
                return self._spec(ExxoExtensionLoader(fullname, base + suffix), None)
        source = base + ".py"
        cached = self.prefix + "__pycache__/" + tail + "." + _TAG + ".pyc"
        legacy = base + ".pyc"
        pyc = cached if cached in INDEX else (legacy if legacy in INDEX else None)
        has_source = source in INDEX
        if has_source or pyc is not None:
            src = source if has_source else None
            return self._spec(ExxoLoader(fullname, src or legacy, False, src, pyc), None)
        if base + "/" in INDEX:  # a directory without __init__: a namespace package portion
            spec = ModuleSpec(fullname, None, is_package=True)
            spec.submodule_search_locations = [_PREFIX + base]
            return spec
        return None

    def _spec(self, loader, package_dir):
        spec = ModuleSpec(loader.name, loader, origin=loader.path, is_package=package_dir is not None)
        spec.has_location = True
        if package_dir is not None:
            spec.submodule_search_locations = [_PREFIX + package_dir]
        return spec

    def iter_modules(self, prefix=""):
        """(name, ispkg) of the modules directly in this entry (for pkgutil.iter_modules)."""
        from _exxo_boot import zipio

        seen = set()
        here = self.prefix.rstrip("/")
        cached = [c[: -len(_TAG) - 5] + ".py" for c in zipio.children(self.prefix + "__pycache__")
                  if c.endswith("." + _TAG + ".pyc")]  # modules shipped as bytecode only
        for child in list(zipio.children(here)) + cached:
            member = self.prefix + child
            name = None
            if (member + "/") in INDEX:
                if "." not in child and (member + "/__init__.py" in INDEX or member + "/__init__.pyc" in INDEX
                                         or member + "/__pycache__/__init__." + _TAG + ".pyc" in INDEX):
                    name, ispkg = child, True
            else:
                for suffix in (".py", ".pyc") + _EXT_SUFFIXES:
                    if child.endswith(suffix) and child != "__init__" + suffix:
                        name, ispkg = child[: -len(suffix)], False
                        break
            if name and "." not in name and name not in seen:  # "0001_initial" (Django migrations) too
                seen.add(name)
                yield prefix + name, ispkg


class Dropped:
    """Last on sys.meta_path: an import that nothing found, of a stdlib module the build left out, fails with
    a message naming the [tool.exxo] setting that brings it back. The listing is read at the first miss."""

    _names = None

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if _DROPPED not in INDEX:
            return None
        if cls._names is None:
            lines = read_member(_DROPPED).decode().splitlines()
            cls._names = dict(line.partition(" ")[::2] for line in lines if line)
        parts = fullname.split(".")
        for i in range(1, len(parts) + 1):
            module = ".".join(parts[:i])
            setting, _, why = cls._names.get(module, "").partition(" ")
            if not setting:
                continue
            if setting == "stdlib-exclude":
                how = "it is listed in [tool.exxo] stdlib-exclude: remove it from there"
            else:
                how = 'bring it back with [tool.exxo] %s = ["%s"]' % (setting, module)
            if why == "unimported":
                why = ' (stdlib = "imported": no code in the binary imports it by name)'
            raise ModuleNotFoundError("No module named %r: exxo left the stdlib module %s out of this binary%s; "
                                      "%s and build again" % (fullname, module, why, how), name=fullname)
        return None


def path_hook(path):
    if path == EXE:
        return ExxoPathFinder("")
    if path.startswith(_PREFIX):
        rest = path[len(_PREFIX):].strip("/")
        if rest == "" or rest + "/" in INDEX:
            return ExxoPathFinder(rest + "/" if rest else "")
    raise ImportError("not a path inside the exxo binary")


def _patch_pkgutil(pkgutil):
    # pkgutil dispatches FileFinder subclasses to a function that wants os.path.isdir(importer.path): not
    # true of the binary's root (a file). Our finder lists itself from the index instead.
    pkgutil.iter_importer_modules.register(ExxoPathFinder, lambda importer, prefix="": importer.iter_modules(prefix))


def install():
    sys.path_hooks.insert(0, path_hook)
    sys.meta_path.append(Dropped)
    for entry in list(sys.path_importer_cache):
        if entry == EXE or entry.startswith(_PREFIX):
            del sys.path_importer_cache[entry]
