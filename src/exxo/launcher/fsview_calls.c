/* exxo's file-system view, part 2: the libc entry points the launcher defines (the list the validator
 * allows: exxo.runtime.validate.FSVIEW_EXPORTS). Each tests whether its path is inside the binary (one prefix
 * compare, see fsview.c), serves it from the index if so, and otherwise calls glibc (found with
 * dlsym(RTLD_NEXT)) or, for the stat family, the kernel.
 *
 * #included by main.c after fsview.c (the launcher is compiled as one file, Programs/python.c).
 */

/* ---- the interposed functions ---------------------------------------------------------------------- */

#define OPEN_MODE(flags)                                   \
    mode_t mode = 0;                                       \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {               \
        va_list ap;                                        \
        va_start(ap, flags);                               \
        mode = (mode_t)va_arg(ap, int);                    \
        va_end(ap);                                        \
    }

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

#define DEFINE_OPEN(sym, cname)                                                   \
    EXXO_EXPORT int cname(const char *path, int flags, ...) __asm__(#sym);                    \
    int cname(const char *path, int flags, ...)                                   \
    {                                                                             \
        OPEN_MODE(flags);                                                         \
        fs_ref ref;                                                               \
        if (fs_ours(path) && fs_resolve(path, &ref)) {                            \
            return fs_open(&ref, flags);                                          \
        }                                                                         \
        REAL(open_fn, sym);                                                       \
        return real_##sym(path, flags, mode);                                     \
    }

#define DEFINE_OPENAT(sym, cname)                                                 \
    EXXO_EXPORT int cname(int dirfd, const char *path, int flags, ...) __asm__(#sym);         \
    int cname(int dirfd, const char *path, int flags, ...)                        \
    {                                                                             \
        OPEN_MODE(flags);                                                         \
        fs_ref ref;                                                               \
        if (fs_ours(at_path(dirfd, path)) && fs_resolve(path, &ref)) {            \
            return fs_open(&ref, flags);                                          \
        }                                                                         \
        REAL(openat_fn, sym);                                                     \
        return real_##sym(dirfd, path, flags, mode);                              \
    }

DEFINE_OPEN(open, exxo_open)
DEFINE_OPEN(open64, exxo_open64)
DEFINE_OPENAT(openat, exxo_openat)
DEFINE_OPENAT(openat64, exxo_openat64)

/* _FORTIFY_SOURCE builds call these when the mode argument is absent. */
#define DEFINE_OPEN_2(sym, cname, real)                                           \
    EXXO_EXPORT int cname(const char *path, int flags) __asm__(#sym);                         \
    int cname(const char *path, int flags) { return real(path, flags, 0); }
#define DEFINE_OPENAT_2(sym, cname, real)                                         \
    EXXO_EXPORT int cname(int dirfd, const char *path, int flags) __asm__(#sym);              \
    int cname(int dirfd, const char *path, int flags) { return real(dirfd, path, flags, 0); }

DEFINE_OPEN_2(__open_2, exxo_open_2, exxo_open)
DEFINE_OPEN_2(__open64_2, exxo_open64_2, exxo_open64)
DEFINE_OPENAT_2(__openat_2, exxo_openat_2, exxo_openat)
DEFINE_OPENAT_2(__openat64_2, exxo_openat64_2, exxo_openat64)

#define DEFINE_CREAT(sym, cname, real)                                            \
    EXXO_EXPORT int cname(const char *path, mode_t mode) __asm__(#sym);                       \
    int cname(const char *path, mode_t mode) { return real(path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

DEFINE_CREAT(creat, exxo_creat, exxo_open)
DEFINE_CREAT(creat64, exxo_creat64, exxo_open64)

typedef FILE *(*fopen_fn)(const char *, const char *);

static FILE *
fs_fopen(const fs_ref *ref, const char *mode)
{
    if (strpbrk(mode, "wax+") != NULL) {
        errno = EROFS;
        return NULL;
    }
    int fd = fs_open(ref, O_RDONLY | (strchr(mode, 'e') ? O_CLOEXEC : 0));
    if (fd < 0) {
        return NULL;
    }
    FILE *f = fdopen(fd, mode);
    if (f == NULL) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return f;
}

#define DEFINE_FOPEN(sym, cname)                                                  \
    EXXO_EXPORT FILE *cname(const char *path, const char *mode) __asm__(#sym);                \
    FILE *cname(const char *path, const char *mode)                               \
    {                                                                             \
        fs_ref ref;                                                               \
        if (fs_ours(path) && fs_resolve(path, &ref)) {                            \
            return fs_fopen(&ref, mode);                                          \
        }                                                                         \
        REAL(fopen_fn, sym);                                                      \
        return real_##sym(path, mode);                                            \
    }

DEFINE_FOPEN(fopen, exxo_fopen)
DEFINE_FOPEN(fopen64, exxo_fopen64)

/* The stat family. Paths that are not ours go to the kernel directly (newfstatat/fstat: glibc's struct stat
 * is the kernel's on this target), so one definition serves glibc 2.17's __xstat ABI and 2.33's stat alike. */
#define DEFINE_STAT(sym, cname, type, nofollow)                                   \
    EXXO_EXPORT int cname(const char *path, type *st) __asm__(#sym);                          \
    int cname(const char *path, type *st)                                         \
    {                                                                             \
        int rc;                                                                   \
        if (fs_ours(path) && fs_stat(path, (struct stat *)st, &rc)) {             \
            return rc;                                                            \
        }                                                                         \
        return sys_fstatat(AT_FDCWD, path, (struct stat *)st, nofollow);          \
    }
#define DEFINE_XSTAT(sym, cname, type, nofollow)                                  \
    EXXO_EXPORT int cname(int ver, const char *path, type *st) __asm__(#sym);                 \
    int cname(int ver, const char *path, type *st)                                \
    {                                                                             \
        (void)ver;                                                                \
        int rc;                                                                   \
        if (fs_ours(path) && fs_stat(path, (struct stat *)st, &rc)) {             \
            return rc;                                                            \
        }                                                                         \
        return sys_fstatat(AT_FDCWD, path, (struct stat *)st, nofollow);          \
    }

DEFINE_STAT(stat, exxo_stat, struct stat, 0)
DEFINE_STAT(stat64, exxo_stat64, struct stat64, 0)
DEFINE_STAT(lstat, exxo_lstat, struct stat, AT_SYMLINK_NOFOLLOW)
DEFINE_STAT(lstat64, exxo_lstat64, struct stat64, AT_SYMLINK_NOFOLLOW)
DEFINE_XSTAT(__xstat, exxo_xstat, struct stat, 0)
DEFINE_XSTAT(__xstat64, exxo_xstat64, struct stat64, 0)
DEFINE_XSTAT(__lxstat, exxo_lxstat, struct stat, AT_SYMLINK_NOFOLLOW)
DEFINE_XSTAT(__lxstat64, exxo_lxstat64, struct stat64, AT_SYMLINK_NOFOLLOW)

static int
fs_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    int rc;
    if (fs_ours(at_path(dirfd, path)) && fs_stat(path, st, &rc)) {
        return rc;
    }
    rc = sys_fstatat(dirfd, path, st, flags);
    if (rc == 0 && (flags & AT_EMPTY_PATH) && path != NULL && path[0] == 0) {
        fix_fstat(st);
    }
    return rc;
}

#define DEFINE_FSTATAT(sym, cname, type)                                          \
    EXXO_EXPORT int cname(int dirfd, const char *path, type *st, int flags) __asm__(#sym);    \
    int cname(int dirfd, const char *path, type *st, int flags)                   \
    {                                                                             \
        return fs_fstatat(dirfd, path, (struct stat *)st, flags);                 \
    }
#define DEFINE_FXSTATAT(sym, cname, type)                                                 \
    EXXO_EXPORT int cname(int ver, int dirfd, const char *path, type *st, int flags) __asm__(#sym);   \
    int cname(int ver, int dirfd, const char *path, type *st, int flags)                  \
    {                                                                                     \
        (void)ver;                                                                        \
        return fs_fstatat(dirfd, path, (struct stat *)st, flags);                         \
    }

DEFINE_FSTATAT(fstatat, exxo_fstatat, struct stat)
DEFINE_FSTATAT(fstatat64, exxo_fstatat64, struct stat64)
DEFINE_FXSTATAT(__fxstatat, exxo_fxstatat, struct stat)
DEFINE_FXSTATAT(__fxstatat64, exxo_fxstatat64, struct stat64)

static int
fs_fstat(int fd, struct stat *st)
{
    int rc = (int)syscall(SYS_fstat, fd, st);
    if (rc == 0) {
        fix_fstat(st);
    }
    return rc;
}

#define DEFINE_FSTAT(sym, cname, type)                                            \
    EXXO_EXPORT int cname(int fd, type *st) __asm__(#sym);                                    \
    int cname(int fd, type *st) { return fs_fstat(fd, (struct stat *)st); }
#define DEFINE_FXSTAT(sym, cname, type)                                           \
    EXXO_EXPORT int cname(int ver, int fd, type *st) __asm__(#sym);                           \
    int cname(int ver, int fd, type *st) { (void)ver; return fs_fstat(fd, (struct stat *)st); }

DEFINE_FSTAT(fstat, exxo_fstat, struct stat)
DEFINE_FSTAT(fstat64, exxo_fstat64, struct stat64)
DEFINE_FXSTAT(__fxstat, exxo_fxstat, struct stat)
DEFINE_FXSTAT(__fxstat64, exxo_fxstat64, struct stat64)

/* statx (glibc 2.28+, Python 3.15's os.statx): the kernel's struct, spelled out (2.17's headers lack it). */
struct exxo_statx_ts {
    int64_t tv_sec;
    uint32_t tv_nsec;
    int32_t reserved;
};
struct exxo_statx {
    uint32_t stx_mask, stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink, stx_uid, stx_gid;
    uint16_t stx_mode, pad1;
    uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
    struct exxo_statx_ts stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
    uint64_t spare[14];
};

EXXO_EXPORT int exxo_statx(int dirfd, const char *path, int flags, unsigned int mask, struct exxo_statx *sx) __asm__("statx");
int
exxo_statx(int dirfd, const char *path, int flags, unsigned int mask, struct exxo_statx *sx)
{
    struct stat st;
    int rc;
    if (!(fs_ours(at_path(dirfd, path)) && fs_stat(path, &st, &rc))) {
        return (int)syscall(SYS_statx, dirfd, path, flags, mask, sx);
    }
    if (rc != 0) {
        return rc;
    }
    memset(sx, 0, sizeof(*sx));
    sx->stx_mask = 0x7ff; /* STATX_BASIC_STATS */
    sx->stx_blksize = (uint32_t)st.st_blksize;
    sx->stx_nlink = (uint32_t)st.st_nlink;
    sx->stx_uid = st.st_uid;
    sx->stx_gid = st.st_gid;
    sx->stx_mode = (uint16_t)st.st_mode;
    sx->stx_ino = st.st_ino;
    sx->stx_size = (uint64_t)st.st_size;
    sx->stx_blocks = (uint64_t)st.st_blocks;
    sx->stx_atime.tv_sec = st.st_atim.tv_sec;
    sx->stx_atime.tv_nsec = (uint32_t)st.st_atim.tv_nsec;
    sx->stx_ctime.tv_sec = st.st_ctim.tv_sec;
    sx->stx_ctime.tv_nsec = (uint32_t)st.st_ctim.tv_nsec;
    sx->stx_mtime.tv_sec = st.st_mtim.tv_sec;
    sx->stx_mtime.tv_nsec = (uint32_t)st.st_mtim.tv_nsec;
    sx->stx_dev_major = (uint32_t)major(st.st_dev);
    sx->stx_dev_minor = (uint32_t)minor(st.st_dev);
    return 0;
}

/* access(): members are readable, directories and ELF members executable, nothing writable. */
static int
fs_access(const char *path, int amode, int *rc)
{
    fs_ref ref;
    if (!fs_resolve(path, &ref)) {
        return 0;
    }
    *rc = -1;
    if (fs_exists(&ref) != 0) {
        return 1;
    }
    if (amode & W_OK) {
        errno = EROFS;
        return 1;
    }
    if ((amode & X_OK) && !is_dir(ref.idx) && !(fs.entries[ref.idx].flags & EXXO_INDEX_EXEC)) {
        errno = EACCES;
        return 1;
    }
    *rc = 0;
    return 1;
}

typedef int (*access_fn)(const char *, int);
typedef int (*faccessat_fn)(int, const char *, int, int);

#define DEFINE_ACCESS(sym, cname)                                                 \
    EXXO_EXPORT int cname(const char *path, int amode) __asm__(#sym);                         \
    int cname(const char *path, int amode)                                        \
    {                                                                             \
        int rc;                                                                   \
        if (fs_ours(path) && fs_access(path, amode, &rc)) {                       \
            return rc;                                                            \
        }                                                                         \
        REAL(access_fn, sym);                                                     \
        return real_##sym(path, amode);                                           \
    }

DEFINE_ACCESS(access, exxo_access)
DEFINE_ACCESS(euidaccess, exxo_euidaccess)
DEFINE_ACCESS(eaccess, exxo_eaccess)

EXXO_EXPORT int exxo_faccessat(int dirfd, const char *path, int amode, int flags) __asm__("faccessat");
int
exxo_faccessat(int dirfd, const char *path, int amode, int flags)
{
    int rc;
    if (fs_ours(at_path(dirfd, path)) && fs_access(path, amode, &rc)) {
        return rc;
    }
    REAL(faccessat_fn, faccessat);
    return real_faccessat(dirfd, path, amode, flags);
}

/* readlink(): nothing inside the binary is a symbolic link. */
static int
fs_readlink(const char *path, ssize_t *rc)
{
    fs_ref ref;
    if (!fs_resolve(path, &ref)) {
        return 0;
    }
    *rc = -1;
    if (fs_exists(&ref) == 0) {
        errno = EINVAL;
    }
    return 1;
}

typedef ssize_t (*readlink_fn)(const char *, char *, size_t);
typedef ssize_t (*readlinkat_fn)(int, const char *, char *, size_t);

EXXO_EXPORT ssize_t exxo_readlink(const char *path, char *buf, size_t size) __asm__("readlink");
ssize_t
exxo_readlink(const char *path, char *buf, size_t size)
{
    ssize_t rc;
    if (fs_ours(path) && fs_readlink(path, &rc)) {
        return rc;
    }
    REAL(readlink_fn, readlink);
    return real_readlink(path, buf, size);
}

EXXO_EXPORT ssize_t exxo_readlinkat(int dirfd, const char *path, char *buf, size_t size) __asm__("readlinkat");
ssize_t
exxo_readlinkat(int dirfd, const char *path, char *buf, size_t size)
{
    ssize_t rc;
    if (fs_ours(at_path(dirfd, path)) && fs_readlink(path, &rc)) {
        return rc;
    }
    REAL(readlinkat_fn, readlinkat);
    return real_readlinkat(dirfd, path, buf, size);
}

/* realpath(): a path inside the binary is already canonical once "." and ".." are applied. */
typedef char *(*realpath_fn)(const char *, char *);

static char *
fs_realpath(const fs_ref *ref, char *resolved)
{
    if (fs_exists(ref) != 0) {
        return NULL;
    }
    size_t exe_len = fs.prefix_len - 1;
    if (exe_len + 1 + ref->len + 1 > PATH_MAX) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    char *out = resolved != NULL ? resolved : malloc(PATH_MAX);
    if (out == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    memcpy(out, fs.exe, exe_len);
    size_t n = exe_len;
    if (ref->len) {
        out[n++] = '/';
        memcpy(out + n, ref->name, ref->len);
        n += ref->len;
    }
    out[n] = 0;
    return out;
}

EXXO_EXPORT char *exxo_realpath(const char *path, char *resolved) __asm__("realpath");
char *
exxo_realpath(const char *path, char *resolved)
{
    fs_ref ref;
    if (fs_ours(path) && fs_resolve(path, &ref)) {
        return fs_realpath(&ref, resolved);
    }
    REAL(realpath_fn, realpath);
    return real_realpath(path, resolved);
}

EXXO_EXPORT char *exxo_realpath_chk(const char *path, char *resolved, size_t len) __asm__("__realpath_chk");
char *
exxo_realpath_chk(const char *path, char *resolved, size_t len)
{
    (void)len;
    return exxo_realpath(path, resolved);
}

EXXO_EXPORT char *exxo_canonicalize_file_name(const char *path) __asm__("canonicalize_file_name");
char *
exxo_canonicalize_file_name(const char *path)
{
    return exxo_realpath(path, NULL);
}

/* Extended attributes: a member has none (shutil.copy2/copystat ask for them). */
typedef ssize_t (*listxattr_fn)(const char *, char *, size_t);
typedef ssize_t (*getxattr_fn)(const char *, const char *, void *, size_t);

#define DEFINE_LISTXATTR(sym, cname)                                              \
    EXXO_EXPORT ssize_t cname(const char *path, char *list, size_t size) __asm__(#sym); \
    ssize_t cname(const char *path, char *list, size_t size)                      \
    {                                                                             \
        fs_ref ref;                                                               \
        if (fs_ours(path) && fs_resolve(path, &ref)) {                            \
            return fs_exists(&ref) == 0 ? 0 : -1;                                 \
        }                                                                         \
        REAL(listxattr_fn, sym);                                                  \
        return real_##sym(path, list, size);                                      \
    }
#define DEFINE_GETXATTR(sym, cname)                                                                   \
    EXXO_EXPORT ssize_t cname(const char *path, const char *name, void *value, size_t size) __asm__(#sym); \
    ssize_t cname(const char *path, const char *name, void *value, size_t size)                       \
    {                                                                                                 \
        fs_ref ref;                                                                                   \
        if (fs_ours(path) && fs_resolve(path, &ref)) {                                                \
            if (fs_exists(&ref) == 0) {                                                               \
                errno = ENODATA;                                                                      \
            }                                                                                         \
            return -1;                                                                                \
        }                                                                                             \
        REAL(getxattr_fn, sym);                                                                       \
        return real_##sym(path, name, value, size);                                                   \
    }

DEFINE_LISTXATTR(listxattr, exxo_listxattr)
DEFINE_LISTXATTR(llistxattr, exxo_llistxattr)
DEFINE_GETXATTR(getxattr, exxo_getxattr)
DEFINE_GETXATTR(lgetxattr, exxo_lgetxattr)

/* Changing anything inside the binary: EROFS, as on a read-only mount (not the ENOTDIR the kernel would
 * give for a path through a regular file). The path argument is the first or, for *at, the second. */
static int
fs_refuse(const char *path)
{
    fs_ref ref;
    if (!(fs_ours(path) && fs_resolve(path, &ref))) {
        return 0;
    }
    errno = EROFS;
    return 1;
}

#define DEFINE_REFUSED(sym, params, args, path)                                   \
    typedef int (*sym##_fn) params;                                               \
    EXXO_EXPORT int exxo_##sym params __asm__(#sym);                              \
    int exxo_##sym params                                                         \
    {                                                                             \
        if (fs_refuse(path)) {                                                    \
            return -1;                                                            \
        }                                                                         \
        REAL(sym##_fn, sym);                                                      \
        return real_##sym args;                                                   \
    }

DEFINE_REFUSED(mkdir, (const char *p, mode_t m), (p, m), p)
DEFINE_REFUSED(mkdirat, (int d, const char *p, mode_t m), (d, p, m), at_path(d, p))
DEFINE_REFUSED(rmdir, (const char *p), (p), p)
DEFINE_REFUSED(unlink, (const char *p), (p), p)
DEFINE_REFUSED(unlinkat, (int d, const char *p, int f), (d, p, f), at_path(d, p))
DEFINE_REFUSED(rename, (const char *a, const char *b), (a, b), fs_ours(a) ? a : b)
DEFINE_REFUSED(renameat, (int da, const char *a, int db, const char *b), (da, a, db, b),
               fs_ours(at_path(da, a)) ? a : at_path(db, b))
DEFINE_REFUSED(chmod, (const char *p, mode_t m), (p, m), p)
DEFINE_REFUSED(fchmodat, (int d, const char *p, mode_t m, int f), (d, p, m, f), at_path(d, p))
DEFINE_REFUSED(utimensat, (int d, const char *p, const struct timespec t[2], int f), (d, p, t, f), at_path(d, p))
DEFINE_REFUSED(truncate, (const char *p, off_t n), (p, n), p)
DEFINE_REFUSED(truncate64, (const char *p, off64_t n), (p, n), p)

/* ---- a working directory inside the binary ------------------------------------------------------- */

typedef int (*chdir_fn)(const char *);
typedef int (*fchdir_fn)(int);
typedef char *(*getcwd_fn)(char *, size_t);
typedef int (*execve_fn)(const char *, char *const[], char *const[]);

static void
set_vcwd(const fs_ref *ref)
{
    if (in_vfork_child()) {
        snprintf(child_cwd_env, sizeof(child_cwd_env), "EXXO_CWD=%s%s%.*s", fs.exe, ref->len ? "/" : "",
                 (int)ref->len, ref->name);
        child_cwd_pid = fs_pid();
        return;
    }
    snprintf(vcwd, sizeof(vcwd), "%s%s%.*s", fs.exe, ref->len ? "/" : "", (int)ref->len, ref->name);
    snprintf(vcwd_env, sizeof(vcwd_env), "EXXO_CWD=%s", vcwd);
    vcwd_set = 1;
}

/* A chdir() to a real directory: the working directory is no longer inside the binary. */
static void
left_vcwd(void)
{
    if (!fs.mounted) {
        return;
    }
    if (in_vfork_child()) {
        child_cwd_env[0] = 0;
        child_cwd_pid = fs_pid();
    }
    else {
        vcwd_set = 0;
    }
}

EXXO_EXPORT int exxo_chdir(const char *path) __asm__("chdir");
int
exxo_chdir(const char *path)
{
    fs_ref ref;
    REAL(chdir_fn, chdir);
    if (fs_ours(path) && fs_resolve(path, &ref)) {
        if (fs_exists(&ref) != 0) {
            return -1;
        }
        if (!is_dir(ref.idx)) {
            errno = ENOTDIR;
            return -1;
        }
        char parent[PATH_MAX];
        size_t cut = strrchr(fs.exe, '/') - fs.exe;
        memcpy(parent, fs.exe, cut ? cut : 1);
        parent[cut ? cut : 1] = 0;
        if (real_chdir(parent) != 0) { /* the kernel's: where the binary is */
            return -1;
        }
        set_vcwd(&ref);
        return 0;
    }
    int rc = real_chdir(path);
    if (rc == 0) {
        left_vcwd();
    }
    return rc;
}

EXXO_EXPORT int exxo_fchdir(int fd) __asm__("fchdir");
int
exxo_fchdir(int fd)
{
    REAL(fchdir_fn, fchdir);
    int rc = real_fchdir(fd);
    if (rc == 0) {
        left_vcwd();
    }
    return rc;
}

EXXO_EXPORT char *exxo_getcwd(char *buf, size_t size) __asm__("getcwd");
char *
exxo_getcwd(char *buf, size_t size)
{
    if (!vcwd_set) {
        REAL(getcwd_fn, getcwd);
        return real_getcwd(buf, size);
    }
    size_t n = strlen(vcwd);
    if (buf == NULL) {
        buf = malloc(size > n ? size : n + 1);
        if (buf == NULL) {
            errno = ENOMEM;
            return NULL;
        }
    }
    else if (size < n + 1) {
        errno = size == 0 ? EINVAL : ERANGE;
        return NULL;
    }
    memcpy(buf, vcwd, n + 1);
    return buf;
}

/* A program exec'ed from a working directory inside the binary inherits it as EXXO_CWD (the kernel's cwd
 * cannot be there): the binary itself, re-entered, takes it back (fs_inherit_cwd). Runs in the forked child
 * too, so no malloc: the new environment is on the stack. */
EXXO_EXPORT int exxo_execve(const char *path, char *const argv[], char *const envp[]) __asm__("execve");
int
exxo_execve(const char *path, char *const argv[], char *const envp[])
{
    REAL(execve_fn, execve);
    const char *cwd_env = vcwd_set ? vcwd_env : NULL;
    if (fs.mounted && child_cwd_pid != 0 && child_cwd_pid == fs_pid()) {
        cwd_env = child_cwd_env[0] ? child_cwd_env : NULL; /* this vfork()ed child's own chdir() */
    }
    if (cwd_env == NULL || envp == NULL) {
        return real_execve(path, argv, envp);
    }
    size_t n = 0;
    while (envp[n] != NULL) {
        n++;
    }
    char *env[n + 2];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(envp[i], "EXXO_CWD=", 9) != 0) {
            env[k++] = envp[i];
        }
    }
    env[k++] = (char *)cwd_env;
    env[k] = NULL;
    return real_execve(path, argv, env);
}

EXXO_EXPORT int exxo_execv(const char *path, char *const argv[]) __asm__("execv");
int
exxo_execv(const char *path, char *const argv[])
{
    extern char **environ;
    return exxo_execve(path, argv, environ);
}

/* At start: the working directory a parent inside this binary handed down (EXXO_CWD), if it is ours. */
static void
fs_inherit_cwd(void)
{
    const char *cwd = getenv("EXXO_CWD");
    if (cwd == NULL) {
        return;
    }
    fs_ref ref;
    if (cwd[0] == '/' && fs_ours(cwd) && fs_resolve(cwd, &ref) && fs_exists(&ref) == 0 && is_dir(ref.idx)) {
        set_vcwd(&ref);
    }
    else if (fs.mounted && strcmp(cwd, fs.exe) == 0) {
        ref.len = 0;
        set_vcwd(&ref);
    }
    unsetenv("EXXO_CWD");
}

/* ---- directories ---------------------------------------------------------------------------------- */

/* A directory stream over the index. A real glibc DIR starts with its fd (>= 0): a negative first int tells
 * ours apart without a registry. */
#define FS_DIR_MAGIC (-0x45584f)

typedef struct {
    int magic;
    int dot; /* 0: "." next, 1: ".." next, 2: members */
    uint32_t begin, pos, end;
    size_t dlen; /* length of "dir/" (0 for the root) */
    long idx;
    struct dirent64 ent;
} fs_dir;

static int
is_fs_dir(void *d)
{
    return d != NULL && *(int *)d == FS_DIR_MAGIC;
}

static fs_dir *
fs_opendir(const fs_ref *ref)
{
    if (fs_exists(ref) != 0) {
        return NULL;
    }
    if (!is_dir(ref->idx)) {
        errno = ENOTDIR;
        return NULL;
    }
    fs_dir *d = calloc(1, sizeof(fs_dir));
    if (d == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    d->magic = FS_DIR_MAGIC;
    d->idx = ref->idx;
    if (ref->len == 0) {
        d->begin = 0;
        d->end = fs.count;
        d->dlen = 0;
    }
    else {
        char key[PATH_MAX + 1];
        memcpy(key, ref->name, ref->len);
        key[ref->len] = '/';
        d->dlen = ref->len + 1;
        d->begin = lower_bound(key, d->dlen);
        key[ref->len] = '/' + 1; /* the first name after every "dir/..." */
        d->end = lower_bound(key, d->dlen);
    }
    d->pos = d->begin;
    return d;
}

static struct dirent64 *
fs_readdir(fs_dir *d)
{
    if (d->dot < 2) {
        const char *name = d->dot == 0 ? "." : "..";
        memset(&d->ent, 0, sizeof(d->ent));
        d->ent.d_ino = fs_ino(d->dot == 0 ? d->idx : FS_ROOT);
        d->ent.d_type = DT_DIR;
        d->ent.d_reclen = sizeof(d->ent);
        d->ent.d_off = ++d->dot;
        strcpy(d->ent.d_name, name);
        return &d->ent;
    }
    while (d->pos < d->end) {
        long i = (long)d->pos++;
        const fs_entry *e = &fs.entries[i];
        const char *leaf = e->name + d->dlen;
        size_t leaf_len = e->name_len - d->dlen;
        if (leaf_len == 0 || memchr(leaf, '/', leaf_len) != NULL || leaf_len >= sizeof(d->ent.d_name)) {
            continue; /* deeper down, or a name no dirent can hold */
        }
        memset(&d->ent, 0, sizeof(d->ent));
        d->ent.d_ino = fs_ino(i);
        d->ent.d_type = (e->flags & EXXO_INDEX_DIR) ? DT_DIR : DT_REG;
        d->ent.d_reclen = sizeof(d->ent);
        d->ent.d_off = (off_t)d->pos + 2;
        memcpy(d->ent.d_name, leaf, leaf_len);
        d->ent.d_name[leaf_len] = 0;
        return &d->ent;
    }
    return NULL;
}

typedef DIR *(*opendir_fn)(const char *);
typedef void *(*readdir_fn)(DIR *);
typedef int (*readdir_r_fn)(DIR *, void *, void **);
typedef int (*closedir_fn)(DIR *);
typedef int (*dirfd_fn)(DIR *);
typedef void (*rewinddir_fn)(DIR *);
typedef long (*telldir_fn)(DIR *);
typedef void (*seekdir_fn)(DIR *, long);

EXXO_EXPORT DIR *exxo_opendir(const char *path) __asm__("opendir");
DIR *
exxo_opendir(const char *path)
{
    fs_ref ref;
    if (fs.mounted && path != NULL && strcmp(path, fs.exe) == 0) {
        /* The binary itself is a file, but listing it lists its root: importlib.metadata and pkg_resources
         * list each sys.path entry, and the binary is one. */
        ref.idx = FS_ROOT;
        ref.len = 0;
        ref.trailing_slash = 0;
        return (DIR *)fs_opendir(&ref);
    }
    if (fs_ours(path) && fs_resolve(path, &ref)) {
        return (DIR *)fs_opendir(&ref);
    }
    REAL(opendir_fn, opendir);
    return real_opendir(path);
}

#define DEFINE_READDIR(sym, cname)                                                \
    EXXO_EXPORT void *cname(DIR *d) __asm__(#sym);                                            \
    void *cname(DIR *d)                                                           \
    {                                                                             \
        if (is_fs_dir(d)) {                                                       \
            return fs_readdir((fs_dir *)d);                                       \
        }                                                                         \
        REAL(readdir_fn, sym);                                                    \
        return real_##sym(d);                                                     \
    }

DEFINE_READDIR(readdir, exxo_readdir)
DEFINE_READDIR(readdir64, exxo_readdir64)

#define DEFINE_READDIR_R(sym, cname)                                              \
    EXXO_EXPORT int cname(DIR *d, void *entry, void **result) __asm__(#sym);                  \
    int cname(DIR *d, void *entry, void **result)                                 \
    {                                                                             \
        if (is_fs_dir(d)) {                                                       \
            struct dirent64 *e = fs_readdir((fs_dir *)d);                         \
            if (e != NULL) {                                                      \
                memcpy(entry, e, sizeof(*e));                                     \
            }                                                                     \
            *result = e != NULL ? entry : NULL;                                   \
            return 0;                                                             \
        }                                                                         \
        REAL(readdir_r_fn, sym);                                                  \
        return real_##sym(d, entry, result);                                      \
    }

DEFINE_READDIR_R(readdir_r, exxo_readdir_r)
DEFINE_READDIR_R(readdir64_r, exxo_readdir64_r)

EXXO_EXPORT int exxo_closedir(DIR *d) __asm__("closedir");
int
exxo_closedir(DIR *d)
{
    if (is_fs_dir(d)) {
        ((fs_dir *)d)->magic = 0;
        free(d);
        return 0;
    }
    REAL(closedir_fn, closedir);
    return real_closedir(d);
}

EXXO_EXPORT int exxo_dirfd(DIR *d) __asm__("dirfd");
int
exxo_dirfd(DIR *d)
{
    if (is_fs_dir(d)) {
        errno = ENOTSUP; /* no kernel directory behind it */
        return -1;
    }
    REAL(dirfd_fn, dirfd);
    return real_dirfd(d);
}

EXXO_EXPORT void exxo_rewinddir(DIR *d) __asm__("rewinddir");
void
exxo_rewinddir(DIR *d)
{
    if (is_fs_dir(d)) {
        ((fs_dir *)d)->dot = 0;
        ((fs_dir *)d)->pos = ((fs_dir *)d)->begin;
        return;
    }
    REAL(rewinddir_fn, rewinddir);
    real_rewinddir(d);
}

EXXO_EXPORT long exxo_telldir(DIR *d) __asm__("telldir");
long
exxo_telldir(DIR *d)
{
    if (is_fs_dir(d)) {
        fs_dir *f = (fs_dir *)d;
        return f->dot < 2 ? f->dot : (long)f->pos + 2;
    }
    REAL(telldir_fn, telldir);
    return real_telldir(d);
}

EXXO_EXPORT void exxo_seekdir(DIR *d, long loc) __asm__("seekdir");
void
exxo_seekdir(DIR *d, long loc)
{
    if (is_fs_dir(d)) {
        fs_dir *f = (fs_dir *)d;
        f->dot = loc < 2 ? (int)loc : 2;
        if (loc >= 2 && (uint64_t)(loc - 2) >= f->begin && (uint64_t)(loc - 2) <= f->end) {
            f->pos = (uint32_t)(loc - 2);
        }
        return;
    }
    REAL(seekdir_fn, seekdir);
    real_seekdir(d, loc);
}

