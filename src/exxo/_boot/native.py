"""Native code from the binary: C extensions and the shared libraries wheels bundle, no file written.

memfd mode (default): each ELF member the extension needs is copied into a memfd. The bundled libraries'
DT_NEEDED names inside the copies are overwritten with `/proc/self/fd/N` of the library's own memfd (the
manifest says which names are bundled and where .dynstr is), so the dynamic loader finds every bundled
library by path, cycles included (Pillow's freetype <-> harfbuzz). Every memfd stays open for the life of
the process: a reused fd number would make the loader return the old library.

cache mode (fallback, or EXXO_NATIVE=cache): the members are written once to a per-user content-addressed
cache ($XDG_CACHE_HOME/exxo/<build id>/, 0700, temp name + rename, verified against the manifest's sha256)
keeping their relative layout, so RPATH `$ORIGIN/../pkg.libs` resolves as in site-packages. Pages are shared
between processes there, whereas memfd copies are per process.
"""

import os
import sys

from _exxo_boot import ELF, EXE, MANIFEST, read_member

_fds = {}  # member -> fd (memfd), kept open
_paths = {}  # member -> path the dynamic loader can open
_mode = None
_memfd_error = None
_soname_index = None  # SONAME or basename -> member, for bundled libraries
_by_soname = set()  # members some copy could not name by path: dlopen'ed first, found by SONAME
_preloaded = {}  # member -> dlopen handle (kept for the life of the process)


class NativeLoadError(ImportError):
    pass


def mode():
    global _mode
    if _mode is None:
        wanted = os.environ.get("EXXO_NATIVE") or MANIFEST.get("native") or "memfd"
        _mode = wanted if wanted in ("memfd", "cache") else "memfd"
    return _mode


def _memfd_create(name):
    create = getattr(os, "memfd_create", None)
    if create is None:  # a glibc-2.17 runtime has no wrapper: the launcher makes the raw syscall
        import _exxo

        create = _exxo.memfd_create
    return create(name, 1)  # MFD_CLOEXEC


def _bundled_index():
    global _soname_index
    if _soname_index is None:
        index = {}
        for member, facts in ELF.items():
            base = member.rsplit("/", 1)[-1]
            index.setdefault(base, member)
            if facts.get("soname"):
                index.setdefault(facts["soname"], member)
        _soname_index = index
    return _soname_index


def _dependencies(member):
    """Bundled members that `member` needs (DT_NEEDED names that are libraries inside the binary)."""
    index = _bundled_index()
    out = []
    for needed in ELF.get(member, {}).get("needed", ()):
        dep = index.get(needed)
        if dep is not None and dep != member:
            out.append((needed, dep))
    return out


def _closure(member):
    order, seen, stack = [], set(), [member]
    while stack:
        m = stack.pop()
        if m in seen:
            continue
        seen.add(m)
        order.append(m)
        stack.extend(dep for _n, dep in _dependencies(m))
    return order


def _memfd_load(member):
    """Make memfds for member and its bundled closure; return /proc/self/fd path of member."""
    members = [m for m in _closure(member) if m not in _fds]
    fresh = {}
    for m in members:
        fresh[m] = _memfd_create(m.rsplit("/", 1)[-1])
        _fds[m] = fresh[m]
        _paths[m] = "/proc/self/fd/%d" % fresh[m]
    for m, fd in fresh.items():
        data = bytearray(read_member(m))
        dynstr = ELF.get(m, {}).get("dynstr")
        for needed, dep in _dependencies(m):
            target = _paths[dep].encode()
            name = needed.encode()
            if len(target) > len(name) or not dynstr:
                _by_soname.add(dep)  # cannot patch in place: loaded first, the loader matches its SONAME
                continue
            start, size = dynstr
            pos = data.find(name + b"\0", start, start + size)
            while pos != -1:
                if pos == start or data[pos - 1] == 0:  # a whole string, not a suffix of another
                    data[pos:pos + len(name)] = target + b"\0" * (len(name) - len(target))
                pos = data.find(name + b"\0", pos + 1, start + size)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    return _paths[member]


def preload_dependencies(member):
    """dlopen (RTLD_LOCAL) the bundled libraries that `member` needs but names only by SONAME."""
    import _ctypes

    for m in reversed(_closure(member)[1:]):
        if m in _by_soname and m not in _preloaded:
            _preloaded[m] = _ctypes.dlopen(file_path(m), os.RTLD_LOCAL | os.RTLD_NOW)


def _cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "exxo", MANIFEST["build_id"])


def _cache_load(member):
    import hashlib

    root = _cache_dir()
    for m in _closure(member):
        if m in _paths:
            continue
        dest = os.path.join(root, m)
        expected = ELF.get(m, {}).get("sha256")
        if not _verified(dest, expected, hashlib):
            os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
            os.chmod(root, 0o700)
            tmp = "%s.%d.tmp" % (dest, os.getpid())
            with _write_open(tmp) as f:
                f.write(read_member(m))
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest)  # atomic: concurrent starts race harmlessly to the same content
        _paths[m] = dest
    return _paths[member]


def _write_open(path):
    from _exxo_boot import zipio

    return zipio._orig["open"](path, "wb")


def _verified(path, expected, hashlib):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return expected is None or hashlib.sha256(data).hexdigest() == expected


def file_path(member):
    """A path the dynamic loader (or any C code) can open for `member`, following the mode ladder."""
    global _memfd_error, _mode
    if member in _paths:
        return _paths[member]
    if mode() == "memfd":
        try:
            path = _memfd_load(member)
            if os.path.exists(path):
                return path
            raise OSError("%s is not visible (is /proc mounted?)" % path)
        except OSError as exc:
            _memfd_error = "memfd: %s" % exc
            for m in list(_fds):
                if m not in _paths or _paths[m].startswith("/proc/self/fd/"):
                    _paths.pop(m, None)
            _mode = "cache"  # the ladder's next step, for this and every later load
    try:
        return _cache_load(member)
    except OSError as exc:
        tried = (_memfd_error + "; " if _memfd_error else "") + "cache %s: %s" % (_cache_dir(), exc)
        raise NativeLoadError("exxo: cannot load native code %s from %s (%s). Set XDG_CACHE_HOME to a writable "
                              "directory or make /proc and memfd_create available" % (member, EXE, tried),
                              name=member) from None


def load_library(member, mode_flags=None):
    """dlopen a bundled library (RTLD_LOCAL) after its bundled dependencies."""
    import ctypes

    path = file_path(member)
    for _needed, dep in reversed(_dependencies(member)):
        load_library(dep)
    return ctypes.CDLL(path, mode=mode_flags if mode_flags is not None else os.RTLD_LOCAL)


def _patch_ctypes(module):
    from _exxo_boot import zipio

    original_init = module.CDLL.__init__

    def __init__(self, name, *args, **kwargs):
        member = zipio.member_of(name) if name is not None else None
        if member is not None and zipio.exists(member) and not zipio.is_dir(member):
            real = file_path(member)
            for _needed, dep in _dependencies(member):
                file_path(dep)
            original_init(self, real, *args, **kwargs)
            self._name = name
            return
        original_init(self, name, *args, **kwargs)

    module.CDLL.__init__ = __init__


def install():
    from _exxo_boot import zipio

    zipio.PostImport.patches["ctypes"] = _patch_ctypes
    sys._exxo_native_mode = mode
