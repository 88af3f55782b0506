/* exxo's file-system view: paths under "<binary>/" are the members of the binary's appended zip, for every
 * caller in the process -- CPython's own C code, the stdlib's C modules (sqlite3, ssl...), and the C
 * extensions and libraries that wheels bring.
 *
 * Why at the libc level: the runtime is the main executable, so a function it defines comes first in the
 * symbol lookup of every library loaded later (the way LD_PRELOAD interposes), and CPython's own objects,
 * linked statically into it, bind to these definitions at link time. So `open`, `stat`, `opendir`... of a
 * path inside the binary work from Python and from native code alike, with one prefix compare as the cost
 * for every other path. (Calls that libc makes internally, raw syscalls and other executables do not come
 * here: docs/how-it-works.md lists what is covered.)
 *
 * A member opened for reading is a memfd holding its bytes (inflated and CRC-checked once per process,
 * sealed), reopened through /proc/self/fd for each open() so every open has its own offset. Writes get
 * EROFS. Directories come from the index: opendir/readdir list them, stat says S_IFDIR.
 *
 * The view is inactive (every call goes straight to glibc) until the boot code calls _exxo.mount() with
 * the binary index (its layout: exxo/_boot/format.py, the EXXO_INDEX_* constants below are generated
 * from it into exxo_format.h).
 *
 * This file (the state, the index, paths, member bytes, mounting) and fsview_calls.c (the interposed
 * functions) are #included by main.c (the launcher), compiled as Programs/python.c.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <zlib.h>

#include "exxo_format.h"

#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef __O_TMPFILE
#define __O_TMPFILE 020000000
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef MFD_ALLOW_SEALING
#define MFD_ALLOW_SEALING 0x0002U
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif
#ifndef SYS_statx
#if defined(__aarch64__)
#define SYS_statx 291
#else
#define SYS_statx 332 /* x86_64 */
#endif
#endif
/* open(2) by number: aarch64 (like every newer port) has only openat. */
#ifdef SYS_open
#define sys_open_path(path, flags) syscall(SYS_open, path, flags)
#else
#define sys_open_path(path, flags) syscall(SYS_openat, AT_FDCWD, path, flags)
#endif

/* CPython compiles its core with -fvisibility=hidden: these must be exported, or wheels would not reach them. */
#define EXXO_EXPORT __attribute__((visibility("default")))

_Static_assert(sizeof(struct stat) == sizeof(struct stat64), "stat and stat64 differ on this target");
_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "dirent and dirent64 differ on this target");

typedef struct {
    const char *name; /* into fs.names; not NUL-terminated */
    uint32_t name_len;
    uint32_t flags;   /* EXXO_INDEX_DIR | EXXO_INDEX_EXEC */
    uint64_t offset;  /* zip-relative offset of the member's data */
    uint32_t csize, size, crc;
    uint16_t method;
} fs_entry;

static struct {
    volatile int mounted;
    char exe[PATH_MAX];
    char prefix[PATH_MAX + 2]; /* "<exe>/" */
    size_t prefix_len;
    int fd;          /* the binary, read-only */
    uint64_t base;   /* absolute offset of the zip */
    fs_entry *entries;
    uint32_t count;
    char *names;
    struct stat st;  /* the binary's own stat: dev, owner, times of every member */
    int *memfds;     /* per entry: -1 until first opened */
    uint64_t *memfd_inos; /* per entry: the memfd's inode (fstat of an fd maps back to its member) */
    dev_t memfd_dev;
} fs = {.fd = -1};

/* ---- glibc's own functions, for every path that is not ours ----------------------------------------- */

static void *
fs_real(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

#define REAL(type, name)                                                    \
    static type real_##name;                                                \
    if (real_##name == NULL) {                                              \
        real_##name = (type)fs_real(#name);                                 \
    }

/* ---- the index ------------------------------------------------------------------------------------ */

static uint32_t
rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int
name_cmp(const fs_entry *e, const char *s, size_t len)
{
    size_t m = e->name_len < len ? e->name_len : len;
    int c = memcmp(e->name, s, m);
    if (c != 0) {
        return c;
    }
    return (e->name_len > len) - (e->name_len < len);
}

/* The first entry whose name is >= s (bytewise, as the writer sorted them). */
static uint32_t
lower_bound(const char *s, size_t len)
{
    uint32_t lo = 0, hi = fs.count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (name_cmp(&fs.entries[mid], s, len) < 0) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

#define FS_ROOT (-2L)
#define FS_MISSING (-1L)

static long
find_name(const char *s, size_t len)
{
    if (len == 0) {
        return FS_ROOT;
    }
    uint32_t i = lower_bound(s, len);
    return i < fs.count && name_cmp(&fs.entries[i], s, len) == 0 ? (long)i : FS_MISSING;
}

/* Parses the index (layout in exxo/format.py): `buf` holds exactly its bytes, footer last. 0, or -1 with
 * errno = EINVAL (damaged). */
static int
parse_index(const unsigned char *buf, size_t size)
{
    if (size < EXXO_INDEX_FOOTER || memcmp(buf + size - EXXO_INDEX_FOOTER, EXXO_INDEX_MAGIC, 8) != 0) {
        errno = EINVAL;
        return -1;
    }
    uint32_t count = rd32(buf + size - 8), names_size = rd32(buf + size - 4);
    if ((uint64_t)count * EXXO_INDEX_RECORD + names_size + EXXO_INDEX_FOOTER != size) {
        errno = EINVAL;
        return -1;
    }
    fs_entry *entries = calloc(count ? count : 1, sizeof(fs_entry));
    int *memfds = malloc((count ? count : 1) * sizeof(int));
    uint64_t *inos = calloc(count ? count : 1, sizeof(uint64_t));
    if (entries == NULL || memfds == NULL || inos == NULL) {
        free(entries);
        free(memfds);
        free(inos);
        errno = ENOMEM;
        return -1;
    }
    const char *names = (const char *)buf + (size_t)count * EXXO_INDEX_RECORD;
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *r = buf + (size_t)i * EXXO_INDEX_RECORD;
        fs_entry *e = &entries[i];
        uint32_t name_off = rd32(r), name_len = rd32(r + 4);
        if ((uint64_t)name_off + name_len > names_size || name_len == 0) {
            goto damaged;
        }
        e->name = names + name_off;
        e->name_len = name_len;
        e->offset = rd64(r + 8);
        e->csize = rd32(r + 16);
        e->size = rd32(r + 20);
        e->crc = rd32(r + 24);
        e->method = (uint16_t)(r[28] | r[29] << 8);
        e->flags = (uint32_t)(r[30] | r[31] << 8);
        int known = e->method == 0 || e->method == EXXO_METHOD_DEFLATED || e->method == EXXO_METHOD_ZSTD;
        if (!known || (e->method == 0 && e->csize != e->size) ||
            (i > 0 && name_cmp(&entries[i - 1], e->name, e->name_len) >= 0)) {
            goto damaged;
        }
        memfds[i] = -1;
    }
    fs.entries = entries;
    fs.memfds = memfds;
    fs.memfd_inos = inos;
    fs.count = count;
    fs.names = (char *)names;
    return 0;
damaged:
    free(entries);
    free(memfds);
    free(inos);
    errno = EINVAL;
    return -1;
}

/* ---- paths ---------------------------------------------------------------------------------------- */

/* The working directory, when it is inside the binary ("<exe>" for its root, "<exe>/<dir>"): the kernel's
 * own is then the directory that holds the binary, and relative paths resolve against this one. */
static char vcwd[2 * PATH_MAX + 2];
static char vcwd_env[2 * PATH_MAX + 16]; /* "EXXO_CWD=<vcwd>": what exec'ed children inherit */
static volatile int vcwd_set;

static inline int
fs_ours(const char *path)
{
    if (!fs.mounted || path == NULL) {
        return 0;
    }
    if (path[0] == '/') {
        return strncmp(path, fs.prefix, fs.prefix_len) == 0;
    }
    return vcwd_set && path[0] != 0;
}

/* For the *at() calls: a relative path is taken relative to dirfd, which is a real directory unless it is
 * AT_FDCWD. NULL when the view has nothing to do with it. */
static inline const char *
at_path(int dirfd, const char *path)
{
    return path != NULL && path[0] != '/' && dirfd != AT_FDCWD ? NULL : path;
}

/* The member name of an absolute path under the prefix: "." and "//" dropped, ".." applied (never above the
 * binary's root). Returns 0, or -1 when the path leaves the binary (then it is not ours) or is too long. */
static int
normalize(const char *path, char *out, size_t cap, size_t *out_len, int *trailing_slash)
{
    const char *p = path + fs.prefix_len;
    size_t n = 0;
    *trailing_slash = 0;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        if (!*p) {
            *trailing_slash = 1;
            break;
        }
        const char *s = p;
        while (*p && *p != '/') {
            p++;
        }
        size_t len = (size_t)(p - s);
        if (len == 1 && s[0] == '.') {
            continue;
        }
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (n == 0) {
                return -1;
            }
            while (n > 0 && out[n - 1] != '/') {
                n--;
            }
            if (n > 0) {
                n--;
            }
            continue;
        }
        if (n + 1 + len + 1 > cap) {
            return -1;
        }
        if (n) {
            out[n++] = '/';
        }
        memcpy(out + n, s, len);
        n += len;
    }
    out[n] = 0;
    *out_len = n;
    return 0;
}

typedef struct {
    long idx;          /* entry, FS_ROOT or FS_MISSING */
    int trailing_slash;
    char name[PATH_MAX];
    size_t len;
} fs_ref;

/* 1 when `path` names something inside the binary (ref filled), 0 when glibc should handle it. */
static int
fs_resolve(const char *path, fs_ref *ref)
{
    char joined[2 * PATH_MAX + 2];
    if (!fs_ours(path)) {
        return 0;
    }
    if (path[0] != '/') { /* relative to a working directory inside the binary */
        int n = snprintf(joined, sizeof(joined), "%s/%s", vcwd, path);
        if (n < 0 || (size_t)n >= sizeof(joined)) {
            return 0;
        }
        path = joined;
    }
    if (normalize(path, ref->name, sizeof(ref->name), &ref->len, &ref->trailing_slash) != 0) {
        return 0;
    }
    ref->idx = find_name(ref->name, ref->len);
    return 1;
}

static int
is_dir(long idx)
{
    return idx == FS_ROOT || (idx >= 0 && (fs.entries[idx].flags & EXXO_INDEX_DIR));
}

/* Errors for a lookup that must find something: ENOENT, or ENOTDIR for "file/" and "file/x". */
static int
missing_errno(const fs_ref *ref)
{
    if (ref->idx >= 0 || ref->idx == FS_ROOT) {
        return ENOTDIR; /* found, but a file named with a trailing slash */
    }
    /* "pkg/data.txt/x": a prefix of the name is a file */
    for (size_t i = ref->len; i > 0; i--) {
        if (ref->name[i - 1] == '/') {
            long parent = find_name(ref->name, i - 1);
            if (parent >= 0) {
                return is_dir(parent) ? ENOENT : ENOTDIR;
            }
        }
    }
    return ENOENT;
}

/* 0 when ref names an existing member (a directory if a trailing slash was given), else -1 with errno. */
static int
fs_exists(const fs_ref *ref)
{
    if (ref->idx == FS_MISSING || (ref->trailing_slash && !is_dir(ref->idx))) {
        errno = missing_errno(ref);
        return -1;
    }
    return 0;
}

/* ---- stat ----------------------------------------------------------------------------------------- */

static uint64_t
fs_ino(long idx)
{
    /* FNV-1a of the name: stable across runs and processes, distinct per member. */
    uint64_t h = 1469598103934665603ULL;
    if (idx >= 0) {
        const fs_entry *e = &fs.entries[idx];
        for (uint32_t i = 0; i < e->name_len; i++) {
            h = (h ^ (unsigned char)e->name[i]) * 1099511628211ULL;
        }
    }
    return (h & 0x7fffffffffffULL) | 0x800000000000ULL;
}

static void
fill_stat(long idx, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_dev = fs.st.st_dev;
    st->st_ino = (ino_t)fs_ino(idx);
    st->st_uid = fs.st.st_uid;
    st->st_gid = fs.st.st_gid;
    st->st_atim = fs.st.st_atim;
    st->st_mtim = fs.st.st_mtim;
    st->st_ctim = fs.st.st_ctim;
    st->st_blksize = 4096;
    if (is_dir(idx)) {
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        st->st_size = 4096;
    }
    else {
        const fs_entry *e = &fs.entries[idx];
        st->st_mode = S_IFREG | ((e->flags & EXXO_INDEX_EXEC) ? 0555 : 0444);
        st->st_nlink = 1;
        st->st_size = e->size;
        st->st_blocks = ((blkcnt_t)e->size + 511) / 512;
    }
}

/* 1 when the path is ours (result in *rc, errno set), 0 to let glibc do it. */
static int
fs_stat(const char *path, struct stat *st, int *rc)
{
    fs_ref ref;
    if (!fs_resolve(path, &ref)) {
        return 0;
    }
    if (fs_exists(&ref) != 0) {
        *rc = -1;
        return 1;
    }
    fill_stat(ref.idx, st);
    *rc = 0;
    return 1;
}

/* An fd this view handed out (a member's memfd, or a reopening of it): its member's stat instead of the
 * memfd's, so fstat(fd) agrees with stat(path) (sqlite compares the two inodes, for one). */
static void
fix_fstat(struct stat *st)
{
    if (!fs.mounted || !S_ISREG(st->st_mode) || st->st_dev != fs.memfd_dev || fs.memfd_dev == 0) {
        return;
    }
    for (uint32_t i = 0; i < fs.count; i++) {
        if (fs.memfd_inos[i] == (uint64_t)st->st_ino && fs.memfd_inos[i] != 0) {
            fill_stat((long)i, st);
            return;
        }
    }
}

static int
sys_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    return (int)syscall(SYS_newfstatat, dirfd, path, st, flags);
}

/* ---- member bytes --------------------------------------------------------------------------------- */

static int
write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The member's bytes as they come, in pieces: stored bytes are passed on, deflated (zlib) and zstd ones are
 * decompressed. `put` gets each piece of the result; the whole is checked against the member's size and
 * CRC-32. 0, or -1 with errno (EIO: the bytes are damaged, or the binary is shorter than its index). */
static int
member_pieces(const fs_entry *e, int (*put)(void *, const unsigned char *, size_t), void *arg)
{
    enum { CHUNK = 1 << 16 };
    unsigned char *in = malloc(CHUNK), *out = malloc(CHUNK);
    z_stream z;
    memset(&z, 0, sizeof(z));
    ZSTD_DStream *zs = NULL;
    int inflating = 0, err = EIO, ended = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t done_in = 0, done_out = 0;
    if (in == NULL || out == NULL) {
        err = ENOMEM;
        goto fail;
    }
    if (e->method == EXXO_METHOD_DEFLATED) {
        if (inflateInit2(&z, -15) != Z_OK) {
            err = ENOMEM;
            goto fail;
        }
        inflating = 1;
    }
    else if (e->method == EXXO_METHOD_ZSTD && (zs = ZSTD_createDStream()) == NULL) {
        err = ENOMEM;
        goto fail;
    }
    while (done_in < e->csize) {
        size_t want = e->csize - done_in < CHUNK ? (size_t)(e->csize - done_in) : CHUNK;
        ssize_t got = pread(fs.fd, in, want, (off_t)(fs.base + e->offset + done_in));
        if (got <= 0) {
            if (got < 0 && errno == EINTR) {
                continue;
            }
            goto fail; /* EIO: the binary is shorter than its index says */
        }
        done_in += (uint64_t)got;
        if (!inflating && zs == NULL) {
            crc = exxo_crc32(crc, in, (size_t)got);
            done_out += (uint64_t)got;
            if (put(arg, in, (size_t)got) != 0) {
                err = errno;
                goto fail;
            }
            continue;
        }
        if (ended) {
            goto fail; /* bytes after the end of the compressed stream */
        }
        ZSTD_inBuffer zin = {in, (size_t)got, 0};
        if (inflating) {
            z.next_in = in;
            z.avail_in = (uInt)got;
        }
        for (;;) {
            size_t produced;
            int more;
            if (inflating) {
                z.next_out = out;
                z.avail_out = CHUNK;
                int r = inflate(&z, Z_NO_FLUSH);
                if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
                    goto fail;
                }
                produced = CHUNK - z.avail_out;
                ended = r == Z_STREAM_END;
                more = !ended && (z.avail_in > 0 || z.avail_out == 0);
            }
            else {
                ZSTD_outBuffer zout = {out, CHUNK, 0};
                size_t r = ZSTD_decompressStream(zs, &zout, &zin);
                if (ZSTD_isError(r)) {
                    goto fail;
                }
                produced = zout.pos;
                ended = r == 0;
                more = !ended && (zin.pos < zin.size || zout.pos == zout.size);
            }
            crc = exxo_crc32(crc, out, produced);
            done_out += produced;
            if (done_out > e->size || put(arg, out, produced) != 0) {
                err = done_out > e->size ? EIO : errno;
                goto fail;
            }
            if (!more) {
                break;
            }
        }
    }
    if (done_out != e->size || crc != e->crc) {
        goto fail;
    }
    err = 0;
fail:
    if (inflating) {
        inflateEnd(&z);
    }
    ZSTD_freeDStream(zs);
    free(in);
    free(out);
    errno = err;
    return err ? -1 : 0;
}

static int
put_fd(void *fd, const unsigned char *p, size_t n)
{
    return write_all(*(int *)fd, p, n);
}

/* A new sealed memfd with the member's bytes, checked against its CRC-32; -1 with errno (EIO: damaged). */
static int
fill_memfd(long idx)
{
    const fs_entry *e = &fs.entries[idx];
    int m = (int)syscall(SYS_memfd_create, "exxo-member", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0) {
        return -1;
    }
    if (member_pieces(e, put_fd, &m) != 0) {
        int err = errno;
        close(m);
        if (err == EIO) {
            /* A damaged binary stops here, whoever asked (docs/reference.md: exit 126), rather than serve
             * wrong bytes or let the caller trip over them. */
            fprintf(stderr, "exxo: %s: damaged binary (the member %.*s does not match its checksum); rebuild "
                    "it with `exxo build` or copy it again\n", fs.exe, (int)e->name_len, e->name);
            _exit(126);
        }
        errno = err;
        return -1;
    }
    fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    lseek(m, 0, SEEK_SET);
    return m;
}

/* A new read-only fd on the member, with its own file offset. */
static int
member_fd(long idx, int flags)
{
    int m = __atomic_load_n(&fs.memfds[idx], __ATOMIC_ACQUIRE);
    if (m < 0) {
        int fresh = fill_memfd(idx);
        if (fresh < 0) {
            return -1;
        }
        struct stat st;
        if (syscall(SYS_fstat, fresh, &st) == 0) {
            fs.memfd_dev = st.st_dev;
            __atomic_store_n(&fs.memfd_inos[idx], (uint64_t)st.st_ino, __ATOMIC_RELEASE);
        }
        int expected = -1;
        if (__atomic_compare_exchange_n(&fs.memfds[idx], &expected, fresh, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            m = fresh;
        }
        else {
            close(fresh); /* another thread made it first */
            m = expected;
        }
    }
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", m);
    int fd = (int)sys_open_path(proc, O_RDONLY | (flags & O_CLOEXEC));
    if (fd < 0 && errno == ENOENT) {
        /* no /proc: a private copy (its own offset too) */
        fd = fill_memfd(idx);
        if (fd >= 0 && !(flags & O_CLOEXEC)) {
            fcntl(fd, F_SETFD, 0);
        }
    }
    return fd;
}

/* open() of a path inside the binary: an fd, or -1 with errno. */
static int
fs_open(const fs_ref *ref, int flags)
{
    if (ref->idx == FS_MISSING) {
        errno = (flags & O_CREAT) ? EROFS : missing_errno(ref);
        return -1;
    }
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC | __O_TMPFILE))) {
        errno = EROFS;
        return -1;
    }
    if (is_dir(ref->idx)) {
        /* No kernel directory stands behind it: opendir() of the path works, an fd on it cannot. */
        errno = (flags & (O_DIRECTORY | O_PATH)) ? ENOTSUP : EISDIR;
        return -1;
    }
    if ((flags & O_DIRECTORY) || ref->trailing_slash) {
        errno = ENOTDIR;
        return -1;
    }
    return member_fd(ref->idx, flags);
}

/* ---- processes ----------------------------------------------------------------------------------- */

/* subprocess starts children with vfork(): until it execs, the child runs in the parent's memory, so its
 * chdir() must not change the parent's vcwd. fork() runs pthread_atfork handlers and vfork() does not: the
 * process that owns the state is the one whose pid the handler (or the mount) recorded. A vfork()ed child's
 * working directory goes to child_cwd_env, used by its execve() only. */
static pid_t fs_owner_pid;
static char child_cwd_env[2 * PATH_MAX + 16];
static volatile pid_t child_cwd_pid;

static pid_t
fs_pid(void)
{
    return (pid_t)syscall(SYS_getpid);
}

static void
fs_atfork_child(void)
{
    fs_owner_pid = fs_pid();
}

static int
in_vfork_child(void)
{
    return fs_pid() != fs_owner_pid;
}

/* ---- checked reads -------------------------------------------------------------------------------- */

static int
pread_all(int fd, void *buf, size_t n, uint64_t offset)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(offset + got));
        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* 1 when the stored zip member whose data lies at [offset, offset + size) of `fd` is intact: its local header
 * names `name` and records the CRC-32 of those bytes (how the index and the manifest, which no index lists,
 * are checked before anything uses them). */
static int
fs_local_member_intact(int fd, const char *name, uint64_t offset, uint64_t size)
{
    size_t nlen = strlen(name);
    unsigned char hdr[EXXO_LOCAL_HEADER + 64];
    if (nlen > 64 || offset < EXXO_LOCAL_HEADER + nlen || size > 0xFFFFFFFFu ||
        pread_all(fd, hdr, EXXO_LOCAL_HEADER + nlen, offset - EXXO_LOCAL_HEADER - nlen) != 0) {
        return 0;
    }
    if (memcmp(hdr, "PK\003\004", 4) != 0 || (hdr[26] | hdr[27] << 8) != (int)nlen || hdr[28] || hdr[29] ||
        memcmp(hdr + EXXO_LOCAL_HEADER, name, nlen) != 0 || rd32(hdr + 18) != size || rd32(hdr + 22) != size) {
        return 0;
    }
    unsigned char buf[1 << 15];
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < size;) {
        size_t want = size - done < sizeof(buf) ? (size_t)(size - done) : sizeof(buf);
        if (pread_all(fd, buf, want, offset + done) != 0) {
            return 0;
        }
        crc = exxo_crc32(crc, buf, want);
        done += want;
    }
    return crc == rd32(hdr + 14);
}

/* 1 when `buf` (n bytes read at absolute offset `at`) is the member `name` as the index records it. */
static int
fs_member_intact(const char *name, const void *buf, size_t n, uint64_t at)
{
    long idx = fs.mounted ? find_name(name, strlen(name)) : FS_MISSING;
    if (idx < 0) {
        return 0;
    }
    const fs_entry *e = &fs.entries[idx];
    return e->method == 0 && e->size == n && fs.base + e->offset == at &&
           exxo_crc32(0, buf, n) == e->crc;
}

/* ---- mounting ----------------------------------------------------------------------------------- */


/* Activates the view for the binary `exe` (its canonical path): the index is found from the marker alone
 * (it ends where the manifest's local header begins, exxo/format.py), `base` is the zip's absolute offset.
 * Called by the launcher before the interpreter starts. 0, or -1 with errno (EINVAL: the index is damaged). */
static int
fs_mount(const char *exe, uint64_t manifest_offset, uint64_t base)
{
    if (fs.mounted) {
        return 0;
    }
    size_t n = strlen(exe);
    if (n + 2 > sizeof(fs.prefix)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = (int)sys_open_path(exe, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    struct stat st;
    unsigned char footer[EXXO_INDEX_FOOTER];
    unsigned char *buf = NULL;
    if (syscall(SYS_fstat, fd, &st) != 0 || manifest_offset > (uint64_t)st.st_size ||
        manifest_offset < base + EXXO_MANIFEST_HEADER + EXXO_INDEX_FOOTER) {
        goto damaged;
    }
    uint64_t end = manifest_offset - EXXO_MANIFEST_HEADER;
    if (pread_all(fd, footer, sizeof(footer), end - sizeof(footer)) != 0) {
        goto damaged;
    }
    uint64_t size = (uint64_t)rd32(footer + 8) * EXXO_INDEX_RECORD + rd32(footer + 12) + EXXO_INDEX_FOOTER;
    if (size > end - base || !fs_local_member_intact(fd, EXXO_INDEX_NAME, end - size, size) ||
        (buf = malloc(size)) == NULL || pread_all(fd, buf, size, end - size) != 0 || parse_index(buf, size) != 0) {
        goto damaged;
    }
    for (uint32_t i = 0; i < fs.count; i++) {
        const fs_entry *e = &fs.entries[i];
        if (e->offset > end - base || e->csize > end - base - e->offset) {
            fs.count = 0;
            goto damaged; /* the buffer leaks with the failed start */
        }
    }
    memcpy(fs.exe, exe, n + 1);
    memcpy(fs.prefix, exe, n);
    fs.prefix[n] = '/';
    fs.prefix[n + 1] = 0;
    fs.prefix_len = n + 1;
    fs.fd = fd;
    fs.base = base;
    fs.st = st;
    fs_owner_pid = fs_pid();
    pthread_atfork(NULL, NULL, fs_atfork_child);
    __atomic_store_n(&fs.mounted, 1, __ATOMIC_RELEASE);
    return 0; /* buf stays: the entries point into it */
damaged:
    if (fs.count == 0) {
        free(buf);
    }
    close(fd);
    errno = EINVAL;
    return -1;
}
