/* exxo launcher: the C main() of every exxo runtime and binary.
 *
 * It replaces CPython's Programs/python.c at build time. The executable is
 *     [ this ELF ][ zip ]
 * and the zip's EOCD comment (74 bytes, see docs/design.md) says whether an app is appended:
 *   - no marker or kind 'R' (the bare runtime): behave exactly as python3, stdlib from <exe>/lib/python3.X;
 *   - kind 'A' with EXXO_PYTHON=1 in the environment (a re-entry: the app ran sys.executable):
 *     behave as python3 with the app on sys.path;
 *   - kind 'A' otherwise: run the app, isolated like `python -I`, sys.argv as typed.
 * For kind 'A' the boot code (marshalled, at boot_offset) is executed as module _exxo_boot before anything
 * else runs; it installs the importer over the appended zip.
 *
 * It also provides the built-in module `_exxo` with memfd_create() made by a raw syscall: a runtime linked
 * against glibc 2.17 has no memfd_create() wrapper, so os.memfd_create does not exist there.
 */
#define PY_SSIZE_T_CLEAN
#include "Python.h"
#include "marshal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zstd.h> /* libzstd, linked into every runtime: the members packed with zip method 93 */

#include "exxo_format.h" /* generated from exxo/format.py: the marker's and the index's layout */

#define EXXO_EXIT_DAMAGED 126

#ifndef SYS_memfd_create
#if defined(__aarch64__)
#define SYS_memfd_create 279
#else
#define SYS_memfd_create 319 /* x86_64 */
#endif
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#endif

typedef struct {
    char kind; /* 0: no marker, 'R': runtime, 'A': app */
    unsigned long long boot_offset, boot_size, manifest_offset, manifest_size;
    unsigned long long zip_offset; /* absolute offset of the zip's first byte */
} exxo_marker;

static char exe_path[PATH_MAX];
static int exe_is_app; /* kind 'A': exposed as _exxo.app, read by the runtime's site.py (see venv()) */

#include "exxo_crc32.c"        /* zlib's crc32(), by carry-less multiplication where the CPU has it */
#include "exxo_fsview.c"       /* the file-system view of the binary's members: state, index, mounting */
#include "exxo_fsview_calls.c" /* ... and the libc entry points it defines (open, stat, opendir...) */

/* ---- the _exxo built-in module ------------------------------------------------------------------ */

static PyObject *
exxo_memfd_create(PyObject *self, PyObject *args)
{
    const char *name;
    unsigned int flags = MFD_CLOEXEC;
    if (!PyArg_ParseTuple(args, "s|I:memfd_create", &name, &flags)) {
        return NULL;
    }
    long fd;
    Py_BEGIN_ALLOW_THREADS
    fd = syscall(SYS_memfd_create, name, flags);
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong(fd);
}

static PyObject *
exxo_crc32_py(PyObject *self, PyObject *args)
{
    Py_buffer data;
    unsigned long value = 0;
    if (!PyArg_ParseTuple(args, "y*|k:crc32", &data, &value)) {
        return NULL;
    }
    unsigned long crc;
    if (data.len > (1 << 20)) { /* long enough to let other threads run meanwhile */
        Py_BEGIN_ALLOW_THREADS
        crc = exxo_crc32(value & 0xffffffffUL, data.buf, (size_t)data.len);
        Py_END_ALLOW_THREADS
    }
    else {
        crc = exxo_crc32(value & 0xffffffffUL, data.buf, (size_t)data.len);
    }
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(crc);
}

/* One decompression context for the boot's small members (bytecode), reused under the GIL: creating one
 * costs more than inflating a typical .pyc. Large members get their own, with the GIL released. */
static ZSTD_DCtx *exxo_dctx;

static PyObject *
exxo_zstd_decompress(PyObject *self, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*n:zstd_decompress", &data, &size)) {
        return NULL;
    }
    PyObject *out = size >= 0 ? PyBytes_FromStringAndSize(NULL, size) : NULL;
    if (out == NULL) {
        PyBuffer_Release(&data);
        return size >= 0 ? NULL : PyErr_Format(PyExc_ValueError, "negative size");
    }
    size_t got;
    if (data.len > (1 << 20)) {
        Py_BEGIN_ALLOW_THREADS
        got = ZSTD_decompress(PyBytes_AS_STRING(out), (size_t)size, data.buf, (size_t)data.len);
        Py_END_ALLOW_THREADS
    }
    else {
        if (exxo_dctx == NULL && (exxo_dctx = ZSTD_createDCtx()) == NULL) {
            PyBuffer_Release(&data);
            Py_DECREF(out);
            return PyErr_NoMemory();
        }
        got = ZSTD_decompressDCtx(exxo_dctx, PyBytes_AS_STRING(out), (size_t)size, data.buf, (size_t)data.len);
    }
    PyBuffer_Release(&data);
    if (ZSTD_isError(got) || got != (size_t)size) {
        Py_DECREF(out);
        return PyErr_Format(PyExc_ValueError, "not a zstd frame of %zd bytes (%s)", size,
                            ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size");
    }
    return out;
}

static PyMethodDef exxo_methods[] = {
    {"memfd_create", exxo_memfd_create, METH_VARARGS,
     "memfd_create(name, flags=MFD_CLOEXEC) -> fd, by raw syscall (works on any glibc)."},
    {"crc32", exxo_crc32_py, METH_VARARGS,
     "crc32(data, value=0) -> zlib.crc32(data, value), computed by carry-less multiplication where the CPU "
     "has it."},
    {"zstd_decompress", exxo_zstd_decompress, METH_VARARGS,
     "zstd_decompress(data, size) -> bytes: the one zstd frame `data`, which must decompress to `size` bytes "
     "(else ValueError)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef exxo_module = {
    PyModuleDef_HEAD_INIT, "_exxo", "exxo launcher helpers", -1, exxo_methods,
};

static PyObject *
PyInit__exxo(void)
{
    PyObject *module = PyModule_Create(&exxo_module);
    if (module != NULL && PyModule_AddIntConstant(module, "app", exe_is_app) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

/* ---- reading the executable --------------------------------------------------------------------- */

static int
parse_hex16(const char *p, unsigned long long *out)
{
    unsigned long long v = 0;
    for (int i = 0; i < 16; i++) {
        char c = p[i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return -1;
        v = (v << 4) | (unsigned long long)d;
    }
    *out = v;
    return 0;
}

/* Fills *m from the tail of the file; returns 0 (m->kind == 0 when there is no marker). */
static int
read_marker(const char *path, exxo_marker *m)
{
    unsigned char buf[EXXO_EOCD_SIZE + EXXO_COMMENT_SIZE];
    memset(m, 0, sizeof(*m));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(buf)) {
        close(fd);
        return 0;
    }
    ssize_t n = pread(fd, buf, sizeof(buf), st.st_size - (off_t)sizeof(buf));
    close(fd);
    if (n != (ssize_t)sizeof(buf)) {
        return 0;
    }
    const char *c = (const char *)buf + EXXO_EOCD_SIZE;
    if (memcmp(buf, "PK\005\006", 4) != 0 || buf[20] != EXXO_COMMENT_SIZE || buf[21] != 0 ||
        memcmp(c, EXXO_MAGIC, 5) != 0) {
        return 0;
    }
    if ((c[5] != 'R' && c[5] != 'A') || parse_hex16(c + EXXO_FIELD_AT_0, &m->boot_offset) ||
        parse_hex16(c + EXXO_FIELD_AT_1, &m->boot_size) || parse_hex16(c + EXXO_FIELD_AT_2, &m->manifest_offset) ||
        parse_hex16(c + EXXO_FIELD_AT_3, &m->manifest_size)) {
        return -1;
    }
    m->kind = c[5];
    if (m->kind == 'R' && (m->boot_offset != 0 || m->boot_size != 0)) {
        return -1; /* a runtime's marker has no boot code: an app binary whose kind byte was damaged */
    }
    /* Both parts lie inside the zip's members, before the central directory: compared by subtraction, so
     * huge values cannot wrap around. */
    unsigned long long cd_size = (unsigned long long)buf[12] | (unsigned long long)buf[13] << 8 |
                                 (unsigned long long)buf[14] << 16 | (unsigned long long)buf[15] << 24;
    unsigned long long cd_offset = (unsigned long long)buf[16] | (unsigned long long)buf[17] << 8 |
                                   (unsigned long long)buf[18] << 16 | (unsigned long long)buf[19] << 24;
    unsigned long long file_size = (unsigned long long)st.st_size, tail = sizeof(buf);
    if (cd_size + cd_offset > file_size - tail) {
        return -1;
    }
    unsigned long long zip_at = file_size - tail - cd_size - cd_offset, members_end = file_size - tail - cd_size;
    m->zip_offset = zip_at;
    if (m->kind == 'A' &&
        (m->boot_size == 0 || m->boot_offset < zip_at || m->boot_offset > members_end ||
         m->boot_size > members_end - m->boot_offset || m->manifest_size == 0 || m->manifest_offset < zip_at ||
         m->manifest_offset > members_end || m->manifest_size > members_end - m->manifest_offset)) {
        return -1;
    }
    return 0;
}

/* True when bytes follow the ELF image (its section/program header ranges) although no exxo trailer was
 * found: an exxo binary whose end was cut off (even by one byte of its zip). CPython's own build-tree python
 * has nothing appended. */
static int
has_orphan_payload(const char *path)
{
    unsigned char eh[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    struct stat st;
    int orphan = 0;
    if (fstat(fd, &st) == 0 && pread(fd, eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
        memcmp(eh, "\177ELF", 4) == 0 && eh[4] == 2 /* ELFCLASS64 */) {
        unsigned long long phoff, shoff, end;
        unsigned short phentsize, phnum, shentsize, shnum;
        memcpy(&phoff, eh + 0x20, 8);
        memcpy(&shoff, eh + 0x28, 8);
        memcpy(&phentsize, eh + 0x36, 2);
        memcpy(&phnum, eh + 0x38, 2);
        memcpy(&shentsize, eh + 0x3A, 2);
        memcpy(&shnum, eh + 0x3C, 2);
        end = shoff + (unsigned long long)shentsize * shnum;
        for (unsigned short i = 0; i < phnum && phentsize >= 56; i++) {
            unsigned char ph[56];
            unsigned long long off, filesz;
            if (pread(fd, ph, sizeof(ph), (off_t)(phoff + (unsigned long long)i * phentsize)) != 56) {
                break;
            }
            memcpy(&off, ph + 8, 8);
            memcpy(&filesz, ph + 32, 8);
            if (off + filesz > end) {
                end = off + filesz;
            }
        }
        /* Any byte past the ELF image: the runtime in CPython's own build tree has none, every exxo file has
         * a zip there, so a file without a marker but with trailing bytes was cut short. */
        orphan = (unsigned long long)st.st_size > end;
    }
    close(fd);
    return orphan;
}

/* The absolute path of the running executable, even when started through a symlink or PATH. */
static int
find_exe(const char *argv0)
{
    if (realpath("/proc/self/exe", exe_path) != NULL) {
        return 0;
    }
    /* /proc not mounted: resolve argv[0] ourselves. */
    if (argv0 && strchr(argv0, '/')) {
        return realpath(argv0, exe_path) != NULL ? 0 : -1;
    }
    const char *path = getenv("PATH");
    if (!argv0 || !path) {
        return -1;
    }
    char candidate[PATH_MAX];
    while (*path) {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len + strlen(argv0) + 2 < sizeof(candidate)) {
            memcpy(candidate, len ? path : ".", len ? len : 1);
            size_t k = len ? len : 1;
            candidate[k] = '/';
            strcpy(candidate + k + 1, argv0);
            if (access(candidate, X_OK) == 0 && realpath(candidate, exe_path) != NULL) {
                return 0;
            }
        }
        if (!end) break;
        path = end + 1;
    }
    return -1;
}

static void
damaged(const char *what)
{
    fprintf(stderr, "exxo: %s: %s; the file is damaged or truncated. Rebuild it with `exxo build`.\n",
            exe_path, what);
    exit(EXXO_EXIT_DAMAGED);
}

/* Executes the boot code as module _exxo_boot and calls _exxo_boot._start(...). */
static int
run_boot(const exxo_marker *m, int app_mode)
{
    int fd = open(exe_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        damaged("cannot reopen the executable to read its boot code");
    }
    char *buf = PyMem_RawMalloc(m->boot_size);
    if (buf == NULL) {
        close(fd);
        damaged("out of memory reading the boot code");
    }
    ssize_t n = pread(fd, buf, m->boot_size, (off_t)m->boot_offset);
    close(fd);
    if (n != (ssize_t)m->boot_size) {
        PyMem_RawFree(buf);
        damaged("cannot read the boot code");
    }
    if (!fs_member_intact(EXXO_BOOT_NAME, buf, (size_t)n, m->boot_offset)) {
        PyMem_RawFree(buf);
        damaged("its boot code does not match its checksum"); /* unmarshalling damaged code could crash */
    }
    PyObject *code = PyMarshal_ReadObjectFromString(buf, (Py_ssize_t)m->boot_size);
    PyMem_RawFree(buf);
    if (code == NULL || !PyCode_Check(code)) {
        PyErr_Clear();
        damaged("the boot code is not valid bytecode for this runtime");
    }
    PyObject *module = PyImport_AddModule("_exxo_boot"); /* borrowed, registered in sys.modules */
    if (module == NULL) {
        goto error;
    }
    PyObject *dict = PyModule_GetDict(module);
    PyObject *file = PyUnicode_FromFormat("%s/__exxo__/boot.pyc", exe_path);
    if (file == NULL || PyDict_SetItemString(dict, "__file__", file) < 0 ||
        PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) < 0) {
        Py_XDECREF(file);
        goto error;
    }
    Py_DECREF(file);
    PyObject *res = PyEval_EvalCode(code, dict, dict);
    Py_DECREF(code);
    code = NULL;
    if (res == NULL) {
        goto error;
    }
    Py_DECREF(res);
    res = PyObject_CallMethod(module, "_start", "sKKi", exe_path, m->manifest_offset, m->manifest_size,
                              app_mode);
    if (res == NULL) {
        goto error;
    }
    Py_DECREF(res);
    return 0;
error:
    Py_XDECREF(code);
    fprintf(stderr, "exxo: %s: the boot code failed:\n", exe_path);
    PyErr_Print();
    return -1;
}

/* TLS on any distro: OpenSSL only looks in its compiled-in directory (Debian's /usr/lib/ssl). When that
 * has no CA bundle and the user set neither SSL_CERT_FILE nor SSL_CERT_DIR, point SSL_CERT_FILE at the
 * first well-known bundle of this system. A few access() calls; nothing happens when none exists (the boot
 * code then explains the verification error). */
static const char *const CA_BUNDLES[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Alpine, Gentoo, Arch */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* RHEL, CentOS, Fedora, Amazon Linux */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
    "/etc/ssl/ca-bundle.pem",                            /* SUSE */
    "/etc/pki/tls/cacert.pem",                           /* OpenELEC */
    "/etc/ssl/cert.pem",                                 /* Alpine, BSD-style */
    NULL,
};

static void
probe_ca_bundle(void)
{
    if (getenv("SSL_CERT_FILE") != NULL || getenv("SSL_CERT_DIR") != NULL ||
        access("/usr/lib/ssl/cert.pem", R_OK) == 0) {
        return;
    }
    for (int i = 0; CA_BUNDLES[i] != NULL; i++) {
        if (access(CA_BUNDLES[i], R_OK) == 0) {
            setenv("SSL_CERT_FILE", CA_BUNDLES[i], 0);
            return;
        }
    }
}

static void
set_wide(PyConfig *config, wchar_t **field, const char *value)
{
    PyStatus status = PyConfig_SetBytesString(config, field, value);
    if (PyStatus_Exception(status)) {
        PyConfig_Clear(config);
        Py_ExitStatusException(status);
    }
}

static void
check(PyStatus status, PyConfig *config)
{
    if (PyStatus_Exception(status)) {
        PyConfig_Clear(config);
        Py_ExitStatusException(status);
    }
}

int
main(int argc, char **argv)
{
    exxo_marker marker;
    memset(&marker, 0, sizeof(marker));
    int have_exe = find_exe(argc > 0 ? argv[0] : NULL) == 0;
    if (have_exe && read_marker(exe_path, &marker) != 0) {
        damaged("its exxo trailer is corrupt");
    }
    if (have_exe && marker.kind == 0 && has_orphan_payload(exe_path)) {
        damaged("its appended zip has no exxo trailer (the end of the file is missing)");
    }

    int app = marker.kind == 'A';
    exe_is_app = app;
    if (app && fs_mount(exe_path, marker.manifest_offset, marker.zip_offset) != 0) {
        damaged("its member index is unreadable or does not match its checksum");
    }
    if (app && !fs_local_member_intact(fs.fd, EXXO_MANIFEST_NAME, marker.manifest_offset, marker.manifest_size)) {
        damaged("its manifest does not match its checksum");
    }
    if (app) {
        fs_inherit_cwd();
    }
    const char *reenter = getenv("EXXO_PYTHON");
    int interpreter = !app || (reenter != NULL && strcmp(reenter, "1") == 0);
    if (reenter != NULL) {
        unsetenv("EXXO_PYTHON"); /* for this process only: grandchildren must not inherit it */
    }

    probe_ca_bundle();

    if (PyImport_AppendInittab("_exxo", PyInit__exxo) < 0) {
        fprintf(stderr, "exxo: cannot register the _exxo module\n");
        return 1;
    }

    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    /* The stdlib lives in the executable, not in a prefix on disk: getpath's landmark search finds no
     * lib/python3.X/os.py next to a copied binary, which is expected, so it must not warn. */
    config.pathconfig_warnings = 0;
    check(PyConfig_SetBytesArgv(&config, argc, argv), &config);

    /* Without a marker (CPython's own build tree during `make`) the stock search path is right. */
    if (have_exe && marker.kind != 0) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/lib/python%d.%d", exe_path, PY_MAJOR_VERSION, PY_MINOR_VERSION);
        if (app && !interpreter) {
            /* App mode: exactly the stdlib and the app, nothing from the environment. */
            wchar_t *wpath = Py_DecodeLocale(path, NULL);
            wchar_t *wexe = Py_DecodeLocale(exe_path, NULL);
            if (wpath == NULL || wexe == NULL) {
                fprintf(stderr, "exxo: cannot decode the executable path\n");
                return 1;
            }
            config.module_search_paths_set = 1;
            check(PyWideStringList_Append(&config.module_search_paths, wpath), &config);
            check(PyWideStringList_Append(&config.module_search_paths, wexe), &config);
            PyMem_RawFree(wpath);
            PyMem_RawFree(wexe);
        }
        else {
            /* Interpreter: CPython's own path calculation (PYTHONPATH, -E/-I, venvs), with the stdlib
             * directory being the zip inside this executable. The boot adds the app for kind A. */
            set_wide(&config, &config.stdlib_dir, path);
            if (app) {
                /* A re-entry child is the python of the app's venv: no user site, as in a venv. */
                config.user_site_directory = 0;
            }
        }
        if (app) {
            set_wide(&config, &config.executable, exe_path);
            /* The binary is its own prefix. A home given here is also what makes getpath ignore
             * PYTHONHOME, a pyvenv.cfg and a ._pth file next to the binary (any of them would redirect
             * the stdlib or replace sys.path); site.py's venv() does the same for an app (runtime patch). */
            set_wide(&config, &config.home, exe_path);
        }
    }

    if (app && !interpreter) {
        /* App mode: `python -I -S`, sys.argv exactly as typed, the boot runs the entry point. */
        config.parse_argv = 0;
        config.isolated = 1;
        config.use_environment = 0;
        config.user_site_directory = 0;
        config.safe_path = 1;
        config.site_import = 0;
        set_wide(&config, &config.run_command, "import _exxo_boot; _exxo_boot.run_app()\n");
    }

    check(Py_InitializeFromConfig(&config), &config);
    PyConfig_Clear(&config);

    if (app && run_boot(&marker, !interpreter) != 0) {
        Py_Finalize();
        return EXXO_EXIT_DAMAGED;
    }
    return Py_RunMain();
}
