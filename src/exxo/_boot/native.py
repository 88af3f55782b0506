"""Native code from the binary: C extensions and the shared libraries wheels bundle, no file written.

memfd mode (default): each ELF member an extension needs is copied into a memfd. The bundled libraries'
DT_NEEDED names inside the copies are overwritten with `/proc/self/fd/N` of the library's own memfd (the
manifest says which names are bundled and where .dynstr is), so the dynamic loader finds every bundled
library by path, cycles included (Pillow's freetype <-> harfbuzz). Every memfd stays open for the life of
the process: a reused fd number would make the loader return the old library. Memory: memfd pages belong to
each process (a fork shares them), whereas the cache's pages are shared by every process that maps them.

cache mode (fallback, or EXXO_NATIVE=cache): the members are written once to a per-user content-addressed
cache ($XDG_CACHE_HOME/exxo/<build id>/, 0700, temp name + rename, sha256-verified when written) keeping their
relative layout, so RPATH `$ORIGIN/../pkg.libs` resolves as in site-packages. A verified file gets an mtime
derived from its hash: a later start trusts a file whose size and mtime still match (no re-hash of 100 MB at
every start), anything else is verified again, and rewritten if it does not match.

The ladder: the manifest's mode first (exxo build --native), then the other one, then an ImportError naming
both failures. EXXO_NATIVE=memfd|cache forces one mode and disables the fallback.
"""

import os
import sys

from _exxo_boot import ELF, EXE, INDEX, MANIFEST, read_member

_fds = {}  # member -> memfd, kept open for the life of the process
_paths = {}  # member -> path the dynamic loader can open (/proc/self/fd/N or a cache file)
_errors = {}  # mode -> why it failed (the first failure switches to the next mode for every later load)
_soname_index = None  # SONAME or basename -> member, for the ELF members
_by_soname = set()  # members a copy could not name by path (name too short): dlopen'ed first, matched by SONAME
_preloaded = {}  # member -> dlopen handle (kept for the life of the process)


class NativeLoadError(ImportError):
    pass


def modes():
    """The modes to try, in order."""
    forced = os.environ.get("EXXO_NATIVE")
    if forced in ("memfd", "cache"):
        return (forced,)
    first = MANIFEST.get("native") or "memfd"
    return ("cache", "memfd") if first == "cache" else ("memfd", "cache")


def mode():
    """The mode in use now (the first one that has not failed)."""
    for m in modes():
        if m not in _errors:
            return m
    return None


def _memfd_create(name):
    create = getattr(os, "memfd_create", None)
    if create is None:  # a glibc-2.17 runtime has no wrapper: the launcher's _exxo makes the raw syscall
        import _exxo

        create = _exxo.memfd_create
    return create(name, 1)  # MFD_CLOEXEC


def _bundled_index():
    global _soname_index
    if _soname_index is None:
        index = {}
        for member, facts in ELF.items():
            index.setdefault(member.rsplit("/", 1)[-1], member)
            if facts.get("soname"):
                index.setdefault(facts["soname"], member)
        _soname_index = index
    return _soname_index


def _dependencies(member):
    """(DT_NEEDED name, member) for each library `member` needs that is inside the binary."""
    index = _bundled_index()
    out = []
    for needed in ELF.get(member, {}).get("needed", ()):
        dep = index.get(needed)
        if dep is not None and dep != member:
            out.append((needed, dep))
    return out


def _closure(member):
    """member and every bundled library it needs, directly or not (cycles included)."""
    order, seen, stack = [], set(), [member]
    while stack:
        m = stack.pop()
        if m not in seen:
            seen.add(m)
            order.append(m)
            stack.extend(dep for _needed, dep in _dependencies(m))
    return order


def _dynstr_patches(member, paths, region):
    """(offset in .dynstr, bytes) writes that replace each bundled DT_NEEDED name in `region` (the member's
    .dynstr bytes) by its path: same length or shorter, NUL-padded, so the string table keeps its size and
    every offset stays valid. A name whose path would be longer is left for SONAME matching (_by_soname)."""
    patches = []
    for needed, dep in _dependencies(member):
        target = paths[dep].encode()
        name = needed.encode()
        if len(target) > len(name):
            _by_soname.add(dep)
            continue
        pos = region.find(name + b"\0")
        while pos != -1:
            if pos == 0 or region[pos - 1] == 0:  # a whole string, not the tail of a longer one
                patches.append((pos, target + b"\0" * (len(name) - len(target))))
            pos = region.find(name + b"\0", pos + 1)
    return patches


def _patched(member, paths):
    """The bytes of `member` with its bundled DT_NEEDED names replaced by their paths (_dynstr_patches)."""
    data = read_member(member)
    dynstr = ELF.get(member, {}).get("dynstr")
    if not _dependencies(member):
        return data
    if not dynstr:
        _by_soname.update(dep for _needed, dep in _dependencies(member))
        return data
    start, size = dynstr
    data = bytearray(data)
    for pos, new in _dynstr_patches(member, paths, bytes(data[start:start + size])):
        data[start + pos:start + pos + len(new)] = new
    return data


def _fill(fd, member, paths):
    """Write the (patched) member into the memfd. A stored member is copied by the kernel (sendfile from the
    binary: no pass through Python bytes; numpy's 30 MB of bundled OpenBLAS made the copy most of its
    start-up), then only the changed .dynstr bytes are written."""
    import _exxo_boot

    offset, csize, size, method = INDEX[member][:4]
    dynstr = ELF.get(member, {}).get("dynstr")
    if method == 0 and _exxo_boot._fd is not None and (dynstr or not _dependencies(member)):
        try:
            done = 0
            while done < size:
                n = os.sendfile(fd, _exxo_boot._fd, _exxo_boot.BASE + offset + done, size - done)
                if not n:
                    raise OSError(5, "unexpected end of file copying " + member)
                done += n
        except OSError:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, 0)
        else:
            if _dependencies(member):
                start, length = dynstr
                region = os.pread(fd, length, start)
                for pos, new in _dynstr_patches(member, paths, region):
                    os.pwrite(fd, new, start + pos)
            return
    view = memoryview(_patched(member, paths))
    while view:
        view = view[os.write(fd, view):]


def _memfd_load(member):
    """memfds for member and its bundled closure (all created before any is filled: cycles); its path."""
    fresh = {}
    try:
        for m in _closure(member):
            if m not in _paths:
                fresh[m] = _memfd_create(m.rsplit("/", 1)[-1])
        paths = dict(_paths)
        paths.update((m, "/proc/self/fd/%d" % fd) for m, fd in fresh.items())
        if fresh and not os.path.exists(paths[next(iter(fresh))]):
            raise OSError(2, "/proc/self/fd is not available (is /proc mounted?)")
        for m, fd in fresh.items():
            _fill(fd, m, paths)
    except BaseException:
        for fd in fresh.values():
            os.close(fd)
        raise
    _fds.update(fresh)
    _paths.update((m, paths[m]) for m in fresh)
    return _paths[member]


def preload_dependencies(member):
    """dlopen (RTLD_LOCAL) the bundled libraries that `member` needs but names only by SONAME."""
    todo = [m for m in reversed(_closure(member)[1:]) if m in _by_soname and m not in _preloaded]
    if todo:
        import _ctypes

        for m in todo:
            _preloaded[m] = _ctypes.dlopen(file_path(m), os.RTLD_LOCAL | os.RTLD_NOW)


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if home == "~" or not home.startswith("/"):
            raise OSError(2, "no cache directory: neither XDG_CACHE_HOME nor HOME is set (nor a passwd entry)")
        base = os.path.join(home, ".cache")
    return os.path.join(base, "exxo", MANIFEST["build_id"])


def _stamp(sha256_hex):
    """The mtime (ns) a verified cache file carries: derived from its hash, so a change is noticed."""
    return 1000000000 * (315532800 + int(sha256_hex[:8], 16) % 1000000000)


def _cache_load(member):
    root = cache_dir()
    _ensure_private_dir(root)
    for m in _closure(member):
        if m in _paths:
            continue
        dest = os.path.join(root, m)
        expected = ELF.get(m, {}).get("sha256")
        if not _valid(dest, m, expected):
            _write_cache_file(dest, m, expected)
        _paths[m] = dest
    return _paths[member]


def _ensure_private_dir(root):
    os.makedirs(root, mode=0o700, exist_ok=True)
    st = os.stat(root)
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise OSError(1, "%s is not a private directory of this user (owner %d, mode %o): it could hold someone "
                      "else's code" % (root, st.st_uid, st.st_mode & 0o777))


def _valid(path, member, expected):
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_size != INDEX[member][2]:
        return False
    if expected is None or st.st_mtime_ns == _stamp(expected):
        return True
    import hashlib  # a file this code did not stamp (or touched since): check its content

    with _orig_open()(path, "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != expected:
            return False
    try:
        os.utime(path, ns=(_stamp(expected), _stamp(expected)))  # verified: next start trusts it
    except OSError:
        pass
    return True


def _write_cache_file(dest, member, expected):
    import _thread
    import hashlib

    os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
    data = read_member(member)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise OSError(5, "%s in %s does not match the manifest's sha256 (damaged binary?)" % (member, EXE))
    # A name unique to this thread: 200 processes starting at once each write their own and rename; every
    # rename puts the same bytes in place, and a library already mapped keeps its old inode.
    tmp = "%s.%d.%d.tmp" % (dest, os.getpid(), _thread.get_ident())
    try:
        with _orig_open()(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o700)
        if expected is not None:
            os.utime(tmp, ns=(_stamp(expected), _stamp(expected)))
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _orig_open():
    from _exxo_boot import zipio

    return zipio._orig.get("open", open)


def file_path(member):
    """A path the dynamic loader (or any C code) can open for `member`, following the mode ladder."""
    path = _paths.get(member)
    if path is not None:
        return path
    while True:
        current = mode()
        if current is None:
            tried = "; ".join("%s: %s" % (m, _errors[m]) for m in modes())
            raise NativeLoadError("exxo: cannot load native code %s from %s (%s). Make /proc and memfd_create "
                                  "available, or set XDG_CACHE_HOME to a writable directory"
                                  % (member, EXE, tried), name=member)
        try:
            return _memfd_load(member) if current == "memfd" else _cache_load(member)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            _errors[current] = "%s: %s" % (exc.filename, reason) if exc.filename else reason
        except ImportError as exc:  # no memfd_create at all (old runtime without _exxo)
            _errors[current] = str(exc)


def load_library(member, mode_flags=None):
    """dlopen a bundled library (RTLD_LOCAL by default) with its bundled dependencies."""
    import ctypes

    path = file_path(member)
    preload_dependencies(member)
    return ctypes.CDLL(path, mode=mode_flags if mode_flags is not None else os.RTLD_LOCAL)


def _patch_ctypes(module):
    from _exxo_boot import zipio

    original_init = module.CDLL.__init__

    def __init__(self, name, *args, **kwargs):
        member = zipio.member_of(name) if name is not None else None
        if member and member in INDEX and not zipio.is_dir(member):
            try:
                real = file_path(member)
                preload_dependencies(member)
            except ImportError as exc:
                raise OSError("%s: %s" % (name, exc)) from None  # what ctypes callers catch
            original_init(self, real, *args, **kwargs)
            self._name = name
            return
        original_init(self, name, *args, **kwargs)

    module.CDLL.__init__ = __init__


def install():
    from _exxo_boot import zipio

    zipio.after_import("ctypes", _patch_ctypes)
    sys._exxo_native_mode = mode
