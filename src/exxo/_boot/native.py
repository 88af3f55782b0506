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
No other user can put code there: the root is opened component by component from `/` without following
symlinks, and refused when a directory on the way belongs to someone else (but root) or is writable by others
(without the sticky bit, above the root; at all, from the root down; the user's private group is not
others). Directories below it are opened with `dir_fd`, files with O_NOFOLLOW and checked through their fd
(regular, ours, size, stamp), and the loader opens them under /proc/<pid>/fd/<root fd>/, so no path above the
root is resolved again. A refused root: the next mode (with a warning), or, forced, an ImportError that says
why. Temp files of killed fills are removed by the next fill of their directory once an hour old.

The ladder: the manifest's mode first (exxo build --native), then the other one, then an ImportError naming
both failures. EXXO_NATIVE=memfd|cache forces one mode and disables the fallback; any other value stops the
binary at start (exit 78).
"""

import os
import sys

from _exxo_boot import ELF, EXE, INDEX, MANIFEST, read_member

_fds = {}  # member -> memfd, kept open for the life of the process
_paths = {}  # member -> path the dynamic loader can open (/proc/self/fd/N or a cache file)
_errors = {}  # mode -> why it failed (the first failure switches to the next mode for every later load)
_by_soname = set()  # members a copy could not name by path (name too short): dlopen'ed first, matched by SONAME
_preloaded = {}  # member -> dlopen handle (kept for the life of the process)


class NativeLoadError(ImportError):
    pass


def modes():
    """The modes to try, in order."""
    forced = os.environ.get("EXXO_NATIVE")
    if forced in ("memfd", "cache"):
        return (forced,)  # install() has refused any other value at start
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


def _dependencies(member):
    """(DT_NEEDED name, member) for each library `member` needs that is inside the binary: resolved at build
    time as the dynamic loader resolves it in site-packages (the manifest's `deps`, exxo/elfdeps.py), so
    both modes load the very member the loader would open there."""
    facts = ELF.get(member, {})
    deps = facts.get("deps", {})
    return [(needed, deps[needed]) for needed in facts.get("needed", ()) if needed in deps]


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


class UnsafeCacheError(OSError):
    """A cache directory that another user could write into (or swap): refused, never loaded from."""


_STALE_SECONDS = 3600  # a cache-fill temp file this old belongs to a killed process: removed by the next fill
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_root = None  # (fd of <base>/exxo/<build id>, its real path, the prefix the loader opens files under)
_warned = []


def cache_base():
    """$XDG_CACHE_HOME when it is an absolute path (the XDG spec: a relative one is invalid, ignored), else
    ~/.cache."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not base.startswith("/"):
        home = os.path.expanduser("~")
        if home == "~" or not home.startswith("/"):
            raise OSError(2, "no cache directory: neither XDG_CACHE_HOME nor HOME is an absolute path (nor is "
                          "there a passwd entry)")
        base = os.path.join(home, ".cache")
    return base


def cache_dir():
    return os.path.join(cache_base(), "exxo", MANIFEST["build_id"])


def _unsafe(path, why):
    return UnsafeCacheError(1, "%s %s: another user could put code in the native cache there. Make it yours and "
                            "not writable by others (chmod go-w), or set XDG_CACHE_HOME to a directory of yours"
                            % (path, why), path)


def _check_dir(fd, path, private):
    """A directory on the way to a cache file must be one no other user can change: owned by this user (or
    root, above the cache root), not writable by group or others (unless sticky, above the cache root)."""
    st = os.fstat(fd)
    uid = os.getuid()
    mode = st.st_mode & 0o7777
    shared = mode & 0o002 or (mode & 0o020 and not _own_group(st.st_gid))
    if private:
        if st.st_uid != uid or shared:
            raise _unsafe(path, "is not a private directory of this user (owner uid %d, mode %o)"
                          % (st.st_uid, mode))
    elif st.st_uid not in (0, uid):
        raise _unsafe(path, "belongs to another user (uid %d)" % st.st_uid)
    elif shared and not mode & 0o1000:
        raise _unsafe(path, "is writable by other users without the sticky bit (mode %o)" % mode)


def _own_group(gid):
    """Whether group `gid` is this user's private group (a group of the user's name, no other member: what a
    umask of 002 makes group-writable on most distributions), so group write permission is ours alone."""
    if gid != os.getgid():
        return False
    try:
        import grp
        import pwd

        group = grp.getgrgid(gid)
        return group.gr_name == pwd.getpwuid(os.getuid()).pw_name and not set(group.gr_mem) - {group.gr_name}
    except (ImportError, KeyError, OSError):
        return False


def _open_dir(parent, name, path, private, flags=_DIR_FLAGS):
    """The directory `name` in the directory fd `parent`, created (0700) if missing, opened without following
    a symlink, and checked (_check_dir)."""
    try:
        try:
            fd = os.open(name, flags, dir_fd=parent)
        except FileNotFoundError:
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
            except FileExistsError:
                pass
            fd = os.open(name, flags, dir_fd=parent)
    except OSError as exc:  # EACCES, EROFS; ELOOP: a symlink; ENOTDIR: a file
        raise OSError(exc.errno, exc.strerror, path) from None
    try:
        _check_dir(fd, path, private)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_root():
    """The cache root <base>/exxo/<build id>, opened component by component from `/` (each without following
    symlinks: the path's symlinks are resolved once, first), every directory on the way checked. The loader
    then opens the cache's files under /proc/<pid>/fd/<root fd>/, so no directory above the root is looked at
    again; without /proc, under the checked real path (no other user can change any directory on it)."""
    global _root
    if _root is not None:
        return _root
    path = os.path.realpath(cache_dir())
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _check_dir(fd, "/", False)
        parts = [p for p in path.split("/") if p]
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            child = _open_dir(fd, name, "/" + "/".join(parts[:i + 1]), last,
                              _DIR_FLAGS if last else os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    _root = (fd, path, _loader_prefix(fd, path))
    os.register_at_fork(after_in_child=_after_fork)
    return _root


def _loader_prefix(fd, path):
    proc = "/proc/%d/fd/%d" % (os.getpid(), fd)
    try:
        st, real = os.stat(proc), os.fstat(fd)
    except OSError:
        return path
    return proc if (st.st_dev, st.st_ino) == (real.st_dev, real.st_ino) else path


def _after_fork():
    """A forked child names the inherited root fd through its own /proc entry (the parent may exit first)."""
    global _root
    fd, path, old = _root
    new = _loader_prefix(fd, path)
    _root = (fd, path, new)
    for m, p in list(_paths.items()):
        if p.startswith(old + "/"):
            _paths[m] = new + p[len(old):]


def _stamp(sha256_hex):
    """The mtime (ns) a verified cache file carries: derived from its hash, so a change is noticed."""
    return 1000000000 * (315532800 + int(sha256_hex[:8], 16) % 1000000000)


def _cache_load(member):
    fd, _path, prefix = _open_root()
    for m in _closure(member):
        if m not in _paths:
            _cache_file(fd, m)
            _paths[m] = prefix + "/" + m
    return _paths[member]


def _cache_file(root_fd, member):
    """Make the cache file of `member` valid: its directories opened (and created) from the root fd without
    following symlinks, the file checked through its own fd, rewritten when it does not verify."""
    real = _root[1]
    parts = member.split("/")
    fd = root_fd
    try:
        for i, name in enumerate(parts[:-1]):
            child = _open_dir(fd, name, real + "/" + "/".join(parts[:i + 1]), True)
            if fd != root_fd:
                os.close(fd)
            fd = child
        expected = ELF.get(member, {}).get("sha256")
        if not _valid(fd, parts[-1], member, expected):
            _write_cache_file(fd, parts[-1], member, expected)
    finally:
        if fd != root_fd:
            os.close(fd)


def _valid(dir_fd, leaf, member, expected):
    """Whether the cache file `leaf` (in dir_fd) is this member: a regular file of this user, writable by no
    one else, of the member's size, with the stamp of its hash (else its content is hashed, from the fd)."""
    try:
        fd = os.open(leaf, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:  # missing, or a symlink (ELOOP): rewritten
        return False
    try:
        st = os.fstat(fd)
        if (not (st.st_mode & 0o170000 == 0o100000) or st.st_uid != os.getuid() or st.st_mode & 0o022
                or st.st_size != INDEX[member][2]):
            return False
        if expected is None or st.st_mtime_ns == _stamp(expected):
            return True
        import hashlib  # a file this code did not stamp (or touched since): check its content

        digest = hashlib.sha256()
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            digest.update(chunk)
        if digest.hexdigest() != expected:
            return False
        try:
            os.utime(fd, ns=(_stamp(expected), _stamp(expected)))  # verified: next start trusts it
        except OSError:
            pass
        return True
    finally:
        os.close(fd)


def _clean_stale(dir_fd):
    """Remove the temp files that killed cache fills left in this directory: written over an hour ago (a
    running fill writes its own, then renames it, within seconds)."""
    import time

    now = time.time()
    for name in os.listdir(dir_fd):
        if name.endswith(".tmp"):
            try:
                if now - os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime > _STALE_SECONDS:
                    os.unlink(name, dir_fd=dir_fd)
            except OSError:
                pass


def _write_cache_file(dir_fd, leaf, member, expected):
    import _thread
    import hashlib

    data = read_member(member)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise OSError(5, "%s in %s does not match the manifest's sha256 (damaged binary?)" % (member, EXE))
    _clean_stale(dir_fd)
    # A name unique to this thread: 200 processes starting at once each write their own and rename; every
    # rename puts the same bytes in place, and a library already mapped keeps its old inode.
    tmp = "%s.%d.%d.tmp" % (leaf, os.getpid(), _thread.get_ident())
    try:
        os.unlink(tmp, dir_fd=dir_fd)  # left by a killed process that had this pid
    except OSError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o700, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, 0o700)
            os.replace(tmp, leaf, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        # Stamped once in place: a temp file keeps the mtime of its last write, so an old one is a dead fill's.
        if expected is not None:
            os.utime(fd, ns=(_stamp(expected), _stamp(expected)))
    finally:
        os.close(fd)


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
        except UnsafeCacheError as exc:
            _errors[current] = exc.strerror
            if mode() is not None and not _warned:  # said once: the next mode is used instead
                _warned.append(current)
                sys.stderr.write("exxo: warning: not using the native cache: %s\n" % exc.strerror)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            _errors[current] = "%s: %s" % (exc.filename, reason) if exc.filename else reason
        except ImportError as exc:  # no memfd_create at all (old runtime without _exxo)
            _errors[current] = str(exc)


def patch_ctypes(module):
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
