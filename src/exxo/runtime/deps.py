"""Third-party C libraries of the runtime, built static (-fPIC) from their pinned sources with the toolchain.

Each library gets its own prefix, cached by a hash of its source, its recipe, its dependencies and the
toolchain:

    $XDG_CACHE_HOME/exxo/deps/<name>-<hash>/{include,lib}

built in a temp dir and renamed into place (an interrupted build leaves nothing half-built behind; a prefix
without its `.complete` stamp is never used). `build_deps` returns the variables CPython's configure takes
for each (ZLIB_CFLAGS/ZLIB_LIBS, ...), `--with-openssl=`, and the components for an SBOM.
Expat and mpdecimal are CPython's bundled copies (`--without-system-expat/libmpdec`).

Two libraries build at a time (each with `make -jN`): configure scripts are serial and slow with zig, so a
second lane keeps both cores busy. Each library's commands go to its own log (`<main log>-<name>.log`), so a
failure shows that library's output only.

`python -m exxo.runtime.deps [--jobs N] [--check]` builds them all and prints the configure variables.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from exxo import common
from exxo.errors import BuildError
from exxo.progress import Reporter
from exxo.runtime import sources
from exxo.runtime.toolchain import Toolchain

RECIPE_VERSION = "2"  # bump when a recipe changes in a way its hashed inputs would not show

# What CPython's _sqlite3 and Django use, as Debian builds it (FTS3/4/5, R*Tree, JSON (built in since 3.38),
# math functions, column metadata...). The HAVE_* are what SQLite's configure finds on glibc, all present in
# glibc 2.17 (the amalgamation is compiled here without its configure's header, so they are spelled out).
SQLITE_DEFINES = (
    "-DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS4 "
    "-DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_GEOPOLY -DSQLITE_ENABLE_MATH_FUNCTIONS "
    "-DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_UNLOCK_NOTIFY "
    "-DSQLITE_ENABLE_STMTVTAB -DSQLITE_MAX_VARIABLE_NUMBER=250000 -DSQLITE_USE_URI=1 "
    "-DHAVE_FDATASYNC=1 -DHAVE_GMTIME_R=1 -DHAVE_LOCALTIME_R=1 -DHAVE_USLEEP=1 -DHAVE_STRCHRNUL=1 "
    "-DHAVE_ISNAN=1 -DHAVE_UTIME=1 -DHAVE_POSIX_FALLOCATE=1 -DHAVE_MALLOC_H=1 -DHAVE_MALLOC_USABLE_SIZE=1"
)
# Terminal descriptions: Debian/Ubuntu (/etc, /lib, /usr/share), RHEL/Fedora/SUSE/Alpine (/usr/share),
# Arch/others (/usr/lib), Solaris-style (/usr/share/lib). $TERMINFO and ~/.terminfo still come first.
TERMINFO_DIRS = "/etc/terminfo:/lib/terminfo:/usr/share/terminfo:/usr/lib/terminfo:/usr/share/lib/terminfo"
# Lean but complete for _ssl/_hashlib: no CLI, no tests/docs, no loadable modules (providers built in), and
# nothing CPython never calls (engines: deprecated, unused by 3.11+; QUIC). openssldir is Debian's; elsewhere
# the launcher points SSL_CERT_FILE at the system's bundle (see launcher/main.c probe_ca_bundle).
OPENSSL_OPTIONS = ("no-shared", "no-tests", "no-docs", "no-apps", "no-module", "no-dso", "no-engine", "no-quic",
                   "--libdir=lib", "--openssldir=/usr/lib/ssl")


@dataclass
class Ctx:
    tc: Toolchain
    src: Path  # extracted source dir
    prefix: Path  # install prefix (a temp dir renamed into the cache afterwards)
    jobs: int
    rep: Reporter  # this library's own log
    dep_prefixes: dict[str, Path]

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.tc.env(), **extra}

    def run(self, argv: list[str], what: str, **extra_env: str) -> None:
        self.rep.run(argv, cwd=self.src, env=self.env(**extra_env), what=what)

    def make(self, what: str, *targets: str, **extra_env: str) -> None:
        self.run(["make", f"-j{self.jobs}", *targets], what, **extra_env)

    def autoconf(self, what: str, *args: str, **extra_env: str) -> None:
        self.run(["./configure", f"--prefix={self.prefix}", f"--libdir={self.prefix}/lib", "--disable-shared",
                  "--enable-static", "--disable-dependency-tracking", *args, *self.tc.host_args()],
                 f"{what}: configure", **extra_env)

    def install(self, files: dict[str, str]) -> None:
        """Copy built files (source-relative path -> prefix-relative path) into the prefix."""
        for src, dest in files.items():
            target = self.prefix / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.src / src, target)


def _zlib(c: Ctx) -> None:
    c.run(["./configure", "--static", f"--prefix={c.prefix}"], "zlib: configure")
    c.make("zlib: make", "libz.a")
    c.run(["make", "install"], "zlib: install")


def _bzip2(c: Ctx) -> None:
    env = c.tc.env()
    c.make("bzip2: make", "libbz2.a", f"CC={env['CC']}", f"AR={env['AR']}", f"RANLIB={env['RANLIB']}",
           f"CFLAGS={env['CFLAGS']} -D_FILE_OFFSET_BITS=64")
    c.install({"libbz2.a": "lib/libbz2.a", "bzlib.h": "include/bzlib.h"})


def _xz(c: Ctx) -> None:
    c.autoconf("xz", "--disable-xz", "--disable-xzdec", "--disable-lzmadec", "--disable-lzmainfo",
               "--disable-lzma-links", "--disable-scripts", "--disable-doc", "--disable-nls")
    c.make("xz: make", "-C", "src/liblzma")
    c.run(["make", "-C", "src/liblzma", "install"], "xz: install")


def _libffi(c: Ctx) -> None:
    # clang (zig) makes implicit declarations errors, which some of libffi 3.4.4's configure probes have.
    # Static trampolines are off: they need memfd_create or a temp file mapped executable at run time.
    c.autoconf("libffi", "--disable-docs", "--disable-multi-os-directory", "--disable-exec-static-tramp",
               CFLAGS=c.tc.env()["CFLAGS"] + " -Wno-error=implicit-function-declaration")
    c.make("libffi: make")
    c.run(["make", "install"], "libffi: install")


def _openssl(c: Ctx) -> None:
    c.run(["perl", "./Configure", "linux-x86_64", *OPENSSL_OPTIONS, f"--prefix={c.prefix}",
           *c.tc.env()["CFLAGS"].split(), "-Wa,--noexecstack"], "openssl: Configure")
    c.make("openssl: make", "build_libs")  # libcrypto.a + libssl.a only (no apps, no tests)
    c.run(["make", "install_dev"], "openssl: install")  # headers + libraries, no docs


def _openssl_cross(c: Ctx) -> None:
    # As _openssl, for another processor: OpenSSL's own target name (its assembly for that processor).
    c.run(["perl", "./Configure", f"linux-{c.tc.target}", *OPENSSL_OPTIONS, f"--prefix={c.prefix}",
           *c.tc.env()["CFLAGS"].split(), "-Wa,--noexecstack"], "openssl: Configure")
    c.make("openssl: make", "build_libs")
    c.run(["make", "install_dev"], "openssl: install")


def _sqlite(c: Ctx) -> None:
    # The amalgamation (one sqlite3.c) is generated by the build machine's gcc and tclsh (host tools: lemon,
    # mkkeywordhash), then compiled by ours with the defines above.
    c.rep.run(["./configure", "--disable-tcl", "CC=gcc"], cwd=c.src, env={"PKG_CONFIG_LIBDIR": ""},
              what="sqlite: configure (amalgamation tools)")
    c.rep.run(["make", "sqlite3.c"], cwd=c.src, what="sqlite: generate the amalgamation")
    env = c.tc.env()
    c.run([env["CC"], *env["CFLAGS"].split(), *SQLITE_DEFINES.split(), "-c", "sqlite3.c", "-o", "sqlite3.o"],
          "sqlite: compile")
    (c.prefix / "lib").mkdir(parents=True)
    c.run([env["AR"], "rcs", str(c.prefix / "lib" / "libsqlite3.a"), "sqlite3.o"], "sqlite: archive")
    c.install({"sqlite3.h": "include/sqlite3.h", "sqlite3ext.h": "include/sqlite3ext.h"})


def _ncurses(c: Ctx) -> None:
    # Wide-character ncurses only, no programs and no terminfo database (the system's is read at run time).
    c.run(["./configure", f"--prefix={c.prefix}", f"--libdir={c.prefix}/lib", "--enable-widec", "--without-shared",
           "--without-cxx", "--without-cxx-binding", "--without-ada", "--without-progs", "--without-tests",
           "--without-manpages", "--without-debug", "--without-gpm", "--disable-db-install", "--without-pkg-config",
           f"--with-terminfo-dirs={TERMINFO_DIRS}", "--with-default-terminfo-dir=/usr/share/terminfo",
           "--with-build-cc=gcc", "--enable-overwrite"], "ncurses: configure")
    c.make("ncurses: make", "libs")
    c.run(["make", "install.libs", "install.includes"], "ncurses: install")
    lib = c.prefix / "lib"
    for alias in ("libncurses.a", "libcurses.a", "libtinfo.a", "libtermcap.a"):  # for libedit's configure
        if not (lib / alias).exists():
            (lib / alias).symlink_to("libncursesw.a")


def _ncurses_cross(c: Ctx) -> None:
    # As _ncurses with configure's --host; its generators (make_hash, make_keys) are built by the build
    # machine's gcc (--with-build-cc), and no tic runs (no terminfo database is installed).
    c.run(["./configure", f"--prefix={c.prefix}", f"--libdir={c.prefix}/lib", "--enable-widec", "--without-shared",
           "--without-cxx", "--without-cxx-binding", "--without-ada", "--without-progs", "--without-tests",
           "--without-manpages", "--without-debug", "--without-gpm", "--disable-db-install", "--without-pkg-config",
           f"--with-terminfo-dirs={TERMINFO_DIRS}", "--with-default-terminfo-dir=/usr/share/terminfo",
           "--with-build-cc=gcc", "--enable-overwrite", *c.tc.host_args()], "ncurses: configure")
    c.make("ncurses: make", "libs")
    c.run(["make", "install.libs", "install.includes"], "ncurses: install")
    lib = c.prefix / "lib"
    for alias in ("libncurses.a", "libcurses.a", "libtinfo.a", "libtermcap.a"):
        if not (lib / alias).exists():
            (lib / alias).symlink_to("libncursesw.a")


def _libedit(c: Ctx) -> None:
    nc = c.dep_prefixes["ncurses"]
    c.autoconf("libedit", "--disable-examples",
               CPPFLAGS=f"-I{nc}/include -I{nc}/include/ncursesw", LDFLAGS=f"-L{nc}/lib", LIBS="-lncursesw")
    c.make("libedit: make")
    c.run(["make", "install"], "libedit: install")


def _libuuid(c: Ctx) -> None:
    # util-linux's configure with everything but libuuid switched off; only libuuid.la is made.
    c.autoconf("util-linux", "--disable-all-programs", "--enable-libuuid", "--without-python", "--disable-nls",
               "--disable-bash-completion", "--without-systemd", "--without-udev", "--disable-asciidoc",
               "--without-tinfo", "--without-ncursesw", "--disable-makeinstall-chown", "--disable-liblastlog2")
    c.make("libuuid: make", "libuuid.la")
    c.install({".libs/libuuid.a": "lib/libuuid.a", "libuuid/src/uuid.h": "include/uuid/uuid.h"})


def _zstd(c: Ctx) -> None:
    # Multi-threaded like Debian's, so compression.zstd's nb_workers works (CPython >= 3.14).
    env = c.tc.env()
    c.make("zstd: make", "-C", "lib", "libzstd.a-mt", f"CC={env['CC']}", f"AR={env['AR']}",
           f"CFLAGS={env['CFLAGS']}")
    c.install({"lib/libzstd.a": "lib/libzstd.a", "lib/zstd.h": "include/zstd.h", "lib/zdict.h": "include/zdict.h",
               "lib/zstd_errors.h": "include/zstd_errors.h"})


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str  # key in sources.LIBRARIES
    build: Callable[[Ctx], None]
    needs: tuple[str, ...] = ()
    knobs: str = ""  # recipe constants that change the result (part of the cache key)
    archives: tuple[str, ...] = ()  # lib/*.a that a complete prefix has
    cross: Callable[[Ctx], None] | None = None  # the recipe when cross-compiling, if `build` cannot be

    def build_for(self, tc: Toolchain) -> Callable[[Ctx], None]:
        return self.cross if tc.cross and self.cross is not None else self.build


# Longest first: OpenSSL (make -j) is about half of the CPU time; SQLite's one big sqlite3.c compile (a
# single process) runs beside it, and the configure-heavy rest fills the second lane.
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe("openssl", "openssl", _openssl, knobs=" ".join(OPENSSL_OPTIONS), archives=("libssl.a", "libcrypto.a"),
               cross=_openssl_cross),
        Recipe("sqlite", "sqlite", _sqlite, knobs=SQLITE_DEFINES, archives=("libsqlite3.a",)),
        Recipe("ncurses", "ncurses", _ncurses, knobs=TERMINFO_DIRS, archives=("libncursesw.a", "libpanelw.a"),
               cross=_ncurses_cross),
        Recipe("libedit", "libedit", _libedit, needs=("ncurses",), archives=("libedit.a",)),
        Recipe("libuuid", "util-linux", _libuuid, archives=("libuuid.a",)),
        Recipe("xz", "xz", _xz, archives=("liblzma.a",)),
        Recipe("zstd", "zstd", _zstd, archives=("libzstd.a",)),
        Recipe("libffi", "libffi", _libffi, archives=("libffi.a",)),
        Recipe("zlib", "zlib", _zlib, archives=("libz.a",)),
        Recipe("bzip2", "bzip2", _bzip2, archives=("libbz2.a",)),
    ]
}


@dataclass
class Deps:
    prefixes: dict[str, Path]  # recipe name -> its prefix (include/, lib/)
    configure_env: dict[str, str]  # ZLIB_CFLAGS, ZLIB_LIBS, ... for CPython's configure
    configure_args: list[str]  # --with-openssl=PREFIX ...
    components: list[dict[str, str]] = field(default_factory=list)  # name, version, license, sha256 (SBOM)
    seconds: dict[str, float] = field(default_factory=dict)  # build time of each library built now (cached: absent)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # its CPU time (measured with one lane only)


def _code_text(fn: Callable[[Ctx], None]) -> bytes:
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):  # no source on disk (e.g. a bytecode-only install): the code object itself
        return marshal.dumps(fn.__code__.co_code) + repr(fn.__code__.co_consts).encode()


def recipe_hash(name: str, tc: Toolchain) -> str:
    """Hash of what determines the built library: source, recipe code and knobs, dependencies, toolchain."""
    r = RECIPES[name]
    source = sources.LIBRARIES[r.source]
    h = hashlib.sha256()
    h.update(f"{RECIPE_VERSION}:{name}:{source.version}:{','.join(source.sha256s)}\n".encode())
    h.update(f"{tc.name}:{tc.target_glibc}:{tc.env()['CFLAGS']}\n{r.knobs}\n".encode())
    h.update(_code_text(r.build_for(tc)))
    for dep in r.needs:
        h.update(f"\nneeds {dep}-{recipe_hash(dep, tc)}".encode())
    return h.hexdigest()[:12]


def prefix_path(name: str, tc: Toolchain, cache_root: Path) -> Path:
    return cache_root / "deps" / f"{name}-{recipe_hash(name, tc)}"


def _complete(prefix: Path, r: Recipe) -> bool:
    return (prefix / ".complete").is_file() and all((prefix / "lib" / a).is_file() for a in r.archives)


def _build_one(name: str, tc: Toolchain, jobs: int, rep: Reporter, cache_root: Path,
               done: dict[str, Path]) -> tuple[Path, float | None]:
    """Build one library into its cached prefix; returns (prefix, seconds or None when it was cached)."""
    r = RECIPES[name]
    final = prefix_path(name, tc, cache_root)
    if _complete(final, r):
        return final, None
    source = sources.LIBRARIES[r.source]
    tarball = sources.fetch(source, None, rep)
    final.parent.mkdir(parents=True, exist_ok=True)
    log = rep.log_path.with_name(f"{rep.log_path.stem}-{name}.log")
    started = time.monotonic()
    rep.info(f"building {name} {source.version} (log: {log})")
    work = Path(tempfile.mkdtemp(prefix=f".{name}-work-", dir=final.parent))
    prefix = Path(tempfile.mkdtemp(prefix=f".{name}-new-", dir=final.parent))
    try:
        with Reporter(log, quiet=True) as own:
            sources.extract(tarball, work)
            (srcdir,) = [p for p in work.iterdir() if p.is_dir()]
            r.build_for(tc)(Ctx(tc, srcdir, prefix, jobs, own, dict(done)))
        missing = [a for a in r.archives if not (prefix / "lib" / a).is_file()]
        if missing:
            raise BuildError(f"{name}: the build produced no {', '.join(missing)}", hint=f"see {log}")
        (prefix / ".complete").write_text(f"{name} {source.version}\n")
        try:
            prefix.rename(final)
        except OSError:  # another exxo finished the same prefix meanwhile (or left an incomplete one)
            if not _complete(final, r):
                shutil.rmtree(final, ignore_errors=True)
                prefix.rename(final)
        seconds = time.monotonic() - started
        rep.info(f"built {name} {source.version} in {seconds:.0f}s")
        return final, seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(prefix, ignore_errors=True)


def build_deps(tc: Toolchain, jobs: int, rep: Reporter, cache_root: Path, python: str | None = None,
               lanes: int | None = None) -> Deps:
    """Build (or find) every library CPython `python` links (all of them when None) and describe them."""
    wanted = {s.name for s in sources.libraries_for(python)}
    names = [n for n, r in RECIPES.items() if r.source in wanted]
    lanes = lanes or (2 if jobs >= 2 else 1)
    _clean_stale(cache_root / "deps")
    done: dict[str, Path] = {}
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def one(name: str) -> None:
        with lock:
            ready = dict(done)
        before = _cpu()
        path, secs = _build_one(name, tc, jobs, rep, cache_root, ready)
        with lock:
            done[name] = path
            if secs is not None:
                seconds[name] = secs
                if lanes == 1:  # rusage of children is per process: exact only when one library builds at a time
                    cpu[name] = _cpu() - before

    pending = list(names)
    running: dict[Future[None], str] = {}
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        while pending or running:
            if not errors:  # after a failure, let the running builds end but start nothing new
                for name in list(pending):
                    if len(running) >= lanes:
                        break
                    if all(dep in done for dep in RECIPES[name].needs):
                        pending.remove(name)
                        running[pool.submit(one, name)] = name
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                del running[fut]
                exc = fut.exception()
                if exc is not None:
                    errors.append(exc)
    if errors:
        raise errors[0]
    deps = describe(done, seconds)
    deps.cpu_seconds = cpu
    return deps


def _cpu() -> float:
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _clean_stale(deps_dir: Path, max_age: float = 24 * 3600) -> None:
    """Remove the temp dirs of builds that were killed (a running build touches its dirs all the time)."""
    if not deps_dir.is_dir():
        return
    now = time.time()
    for p in deps_dir.glob(".*-*-*"):
        try:
            if ("-work-" in p.name or "-new-" in p.name) and now - p.stat().st_mtime > max_age:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def describe(done: dict[str, Path], seconds: dict[str, float] | None = None) -> Deps:
    """The configure variables, arguments and SBOM components for built prefixes."""
    p = {k: str(v) for k, v in done.items()}
    nc = p["ncurses"]
    curses_cflags = f"-I{nc}/include/ncursesw -I{nc}/include -DNCURSES_WIDECHAR=1"
    env = {
        "ZLIB_CFLAGS": f"-I{p['zlib']}/include", "ZLIB_LIBS": f"-L{p['zlib']}/lib -lz",
        "BZIP2_CFLAGS": f"-I{p['bzip2']}/include", "BZIP2_LIBS": f"-L{p['bzip2']}/lib -lbz2",
        "LIBLZMA_CFLAGS": f"-I{p['xz']}/include", "LIBLZMA_LIBS": f"-L{p['xz']}/lib -llzma -lpthread",
        "LIBFFI_CFLAGS": f"-I{p['libffi']}/include", "LIBFFI_LIBS": f"-L{p['libffi']}/lib -lffi",
        "LIBSQLITE3_CFLAGS": f"-I{p['sqlite']}/include",
        # glibc 2.17 keeps dlopen (load_extension) and the pthread calls in their own libraries.
        "LIBSQLITE3_LIBS": f"-L{p['sqlite']}/lib -lsqlite3 -lm -ldl -lpthread",
        # As libuuid's pkg-config says: CPython then includes <uuid.h>.
        "LIBUUID_CFLAGS": f"-I{p['libuuid']}/include/uuid", "LIBUUID_LIBS": f"-L{p['libuuid']}/lib -luuid",
        "CURSES_CFLAGS": curses_cflags, "CURSES_LIBS": f"-L{nc}/lib -lncursesw",
        "PANEL_CFLAGS": curses_cflags, "PANEL_LIBS": f"-L{nc}/lib -lpanelw",
        # CPython 3.13's configure reads LIBEDIT_* with --with-readline=editline (LIBREADLINE_* for readline).
        "LIBEDIT_CFLAGS": f"-I{p['libedit']}/include -I{nc}/include",
        "LIBEDIT_LIBS": f"-L{p['libedit']}/lib -ledit -L{nc}/lib -lncursesw",
    }
    if "zstd" in p:  # the launcher (every version), CPython >= 3.14's _zstd
        env["LIBZSTD_CFLAGS"] = f"-I{p['zstd']}/include"
        env["LIBZSTD_LIBS"] = f"-L{p['zstd']}/lib -lzstd -lpthread"
    args = [f"--with-openssl={p['openssl']}", "--with-openssl-rpath=no"]
    components = [
        {"name": s.name, "version": s.version, "license": s.license, "sha256": s.sha256s[0]}
        for s in (sources.LIBRARIES[RECIPES[n].source] for n in RECIPES if n in done)
    ] + [{"name": "expat", "version": "bundled with CPython", "license": "MIT", "sha256": ""},
         {"name": "mpdecimal", "version": "bundled with CPython", "license": "BSD-2-Clause", "sha256": ""}]
    return Deps(dict(done), env, args, components, dict(seconds or {}))


# -- the check and the driver -------------------------------------------------------------------------------

SMOKE_C = r"""
#include <bzlib.h>
#include <curses.h>
#include <editline/readline.h>
#include <ffi.h>
#include <lzma.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <panel.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <term.h>
#include <uuid.h>
#include <zlib.h>
#ifdef WITH_ZSTD
#include <zstd.h>
#endif
#define CHECK(cond) do { if (!(cond)) { printf("FAILED: %s\n", #cond); return 1; } } while (0)
static int add(int a, int b) { return a + b; }
int main(int argc, char **argv) {
    static const char text[] = "exxo exxo exxo exxo exxo exxo exxo exxo";
    unsigned char out[256], back[256], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    CHECK(ctx != NULL);
    CHECK(EVP_Digest(text, 4, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
    sqlite3 *db; char *err = NULL;
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE VIRTUAL TABLE t USING fts5(x); CREATE VIRTUAL TABLE r USING rtree(id, a, b);"
                       "SELECT json_extract('{\"a\": 1}', '$.a'), log2(8.0);", NULL, NULL, &err) == SQLITE_OK);
    printf("sqlite %s\n", sqlite3_libversion());
    uLongf zn = sizeof out, zb = sizeof back;
    CHECK(compress(out, &zn, (const Bytef *)text, sizeof text) == Z_OK);
    CHECK(uncompress(back, &zb, out, zn) == Z_OK && zb == sizeof text && !memcmp(back, text, zb));
    unsigned int bn = sizeof out, bb = sizeof back;
    CHECK(BZ2_bzBuffToBuffCompress((char *)out, &bn, (char *)text, sizeof text, 9, 0, 0) == BZ_OK);
    CHECK(BZ2_bzBuffToBuffDecompress((char *)back, &bb, (char *)out, bn, 0, 0) == BZ_OK && bb == sizeof text);
    size_t ln = 0, lp = 0, lo = 0;
    CHECK(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, (const uint8_t *)text, sizeof text, out, &ln,
                                  sizeof out) == LZMA_OK);
    uint64_t memlimit = UINT64_MAX;
    CHECK(lzma_stream_buffer_decode(&memlimit, 0, NULL, out, &lp, ln, back, &lo, sizeof back) == LZMA_OK
          && lo == sizeof text);
    ffi_cif cif; ffi_type *types[2] = {&ffi_type_sint, &ffi_type_sint};
    int a = 40, b = 2; void *values[2] = {&a, &b}; ffi_arg result = 0;
    CHECK(ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint, types) == FFI_OK);
    ffi_call(&cif, FFI_FN(add), &result, values);
    CHECK((int)result == 42);
    uuid_t u; char us[37];
    uuid_generate(u); uuid_unparse(u, us);
    CHECK(strlen(us) == 36);
    using_history(); add_history("exxo"); CHECK(history_length == 1);
    int terr = 0;
    printf("%s, terminfo xterm: %s\n", curses_version(),
           setupterm("xterm", 1, &terr) == OK ? "found" : "not found");
    CHECK((void *)new_panel != NULL);
#ifdef WITH_ZSTD
    size_t zs = ZSTD_compress(out, sizeof out, text, sizeof text, 3);
    CHECK(!ZSTD_isError(zs) && ZSTD_decompress(back, sizeof back, out, zs) == sizeof text);
#endif
    volatile double tiny = ldexp(1.0, -1065);
    volatile unsigned __int128 n = ((unsigned __int128)argc << 100) + 12345, d = (unsigned __int128)argc * 7 + 3;
    CHECK(log2(tiny) == -1065.0);  /* glibc's log2, not compiler_rt's */
    CHECK((n / d) * d + n % d == n);  /* an __int128 helper from libgcc.a */
    printf("all libraries OK\n");
    (void)argv;
    return 0;
}
"""

SMOKE_LIBS = ["ssl", "crypto", "sqlite3", "z", "lzma", "bz2", "ffi", "uuid", "edit", "panelw", "ncursesw"]


def max_glibc(binary: Path) -> str:
    """The highest GLIBC_x.y version `binary` needs (objdump -T)."""
    import re
    import subprocess

    out = subprocess.run(["objdump", "-T", str(binary)], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out)}
    return ".".join(map(str, max(versions))) if versions else "none"


def smoke_test(deps: Deps, tc: Toolchain, workdir: Path, rep: Reporter) -> tuple[str, str]:
    """Link one C program against every library with the toolchain and run it: (its output, max GLIBC)."""
    import subprocess

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "smoke.c").write_text(SMOKE_C)
    exe = workdir / "smoke"
    flags, libs = [], list(SMOKE_LIBS)
    for prefix in deps.prefixes.values():
        flags += [f"-I{prefix}/include", f"-L{prefix}/lib"]
    nc = deps.prefixes["ncurses"]
    flags += [f"-I{nc}/include/ncursesw", f"-I{deps.prefixes['libuuid']}/include/uuid", "-DNCURSES_WIDECHAR=1"]
    if "zstd" in deps.prefixes:
        flags.append("-DWITH_ZSTD")
        libs.append("zstd")
    rep.run([tc.env()["CC"], "-O2", "-o", str(exe), str(workdir / "smoke.c"), *flags,
             *[f"-l{lib}" for lib in libs], "-lm", "-ldl", "-lpthread", *tc.link_libs()],
            cwd=workdir, env=tc.env(), what="smoke test: link")
    from exxo.runtime.toolchain import emulator

    proc = subprocess.run([*emulator(tc.target), str(exe)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"the smoke test program failed (exit {proc.returncode})", log_tail=proc.stdout + proc.stderr)
    glibc = max_glibc(exe)
    if glibc != "none" and tuple(map(int, glibc.split("."))) > tuple(map(int, tc.target_glibc.split("."))):
        raise BuildError(f"the smoke test program needs GLIBC_{glibc}, above GLIBC_{tc.target_glibc}")
    return proc.stdout, glibc


def main(argv: list[str] | None = None) -> int:
    """`python -m exxo.runtime.deps`: build every library (cached) and print CPython's configure variables."""
    import argparse
    import shlex
    import sys

    from exxo.errors import ExxoError

    parser = argparse.ArgumentParser(prog="python -m exxo.runtime.deps", description=main.__doc__)
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--python", default=None, help="only what this CPython version links (default: all)")
    parser.add_argument("--cache-root", type=Path, default=None, help="default: $XDG_CACHE_HOME/exxo")
    parser.add_argument("--lanes", type=int, default=None,
                        help="libraries built at once (default 2; 1 also measures each one's CPU time)")
    parser.add_argument("--check", action="store_true", help="then link and run a C program using every library")
    parser.add_argument("--target", default="x86_64", help="the processor to build for (x86_64, aarch64)")
    args = parser.parse_args(argv)
    root: Path = args.cache_root or common.cache_root()
    from exxo.runtime.toolchain import zig_toolchain

    log = root / "logs" / f"deps-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        with Reporter(log) as rep, tempfile.TemporaryDirectory(prefix="exxo-deps-") as tmp:
            tc = zig_toolchain(Path(tmp) / "toolchain", rep, target=args.target)
            started = time.monotonic()
            cpu_before = _cpu()
            deps = build_deps(tc, args.jobs, rep, root, python=args.python, lanes=args.lanes)
            total, cpu_total = time.monotonic() - started, _cpu() - cpu_before
            for name, path in deps.prefixes.items():
                secs, cpu = deps.seconds.get(name), deps.cpu_seconds.get(name)
                print(f"# {name:8} {'cached' if secs is None else f'{secs:5.0f}s'}"
                      f"{'' if cpu is None else f' {cpu:5.0f} CPU-s'}  {path}")
            print(f"# total {total:.0f}s wall, {cpu_total:.0f} CPU-s (jobs {args.jobs})")
            for key, value in deps.configure_env.items():
                print(f"{key}={shlex.quote(value)}")
            print("# configure args: " + " ".join(deps.configure_args))
            if args.check:
                output, glibc = smoke_test(deps, tc, Path(tmp) / "smoke", rep)
                print("".join(f"# {line}\n" for line in output.splitlines()) + f"# max GLIBC_{glibc}")
    except ExxoError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
