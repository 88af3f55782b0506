"""Build CPython from source into an exxo runtime directory.

    <runtime>/bin/python3.X        the executable: static CPython (exxo's launcher as main) + stdlib zip
    <runtime>/bin/python3, python  symlinks
    <runtime>/include/python3.X/   headers, so sdists compile against this runtime in an exxo venv
    <runtime>/lib/python3.X/os.py  landmark only: makes sys.prefix the runtime dir (include/ found)
    <runtime>/lib/python3.X/config-3.X-x86_64-linux-gnu/Makefile
    <runtime>/runtime.json         version, ABI, toolchain, glibc floor, components (SBOM)

The steps are plain functions over a `Build` so `bootstrap.py` can report stages between them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from exxo import __version__
from exxo import format as fmt
from exxo.errors import BuildError
from exxo.progress import Reporter
from exxo.runtime import sources
from exxo.runtime.elfhide import hide_archive_symbols

PACKAGE = resources.files("exxo")


def launcher_source() -> bytes:
    return (PACKAGE / "launcher" / "main.c").read_bytes()


def write_launcher(programs: Path) -> None:
    """The launcher as CPython's Programs/python.c, with the file it includes and the format's constants."""
    (programs / "python.c").write_bytes(launcher_source())
    for part in ("crc32.c", "fsview.c", "fsview_calls.c"):  # #included by main.c
        (programs / f"exxo_{part}").write_bytes((PACKAGE / "launcher" / part).read_bytes())
    (programs / "exxo_format.h").write_text(fmt.c_header())


def stdlib_script() -> Path:
    return Path(str(PACKAGE / "runtime" / "make_stdlib_zip.py"))


def module_table(minor: str) -> tuple[list[str], dict[str, str]]:
    """(built-in modules, excluded modules with reasons) for a minor version such as '3.13'."""
    data = tomllib.loads((PACKAGE / "runtime" / "modules.toml").read_text())
    own = data.get(minor, {})
    absent = set(own.get("absent", []))  # modules of [common] this version does not have
    builtin = [m for m in data["common"]["builtin"] if m not in absent] + list(own.get("builtin", []))
    excluded = {m: why for m, why in data["common"]["excluded"].items() if m not in absent}
    return builtin, excluded | dict(own.get("excluded", {}))


def check_module_table(srcdir: Path, minor: str) -> None:
    """Fail loudly when Setup.stdlib.in and modules.toml disagree (a version added or dropped a module)."""
    text = (srcdir / "Modules" / "Setup.stdlib.in").read_text()
    # A commented-out line (`#@MODULE__CTYPES_TRUE@_ctypes ...`) is a module 3.11 still builds with setup.py.
    in_source = set(re.findall(r"^#?@MODULE_[A-Z0-9_]+_TRUE@([A-Za-z0-9_]+)", text, re.M))
    builtin, excluded = module_table(minor)
    table = set(builtin) | set(excluded)
    unknown, gone = sorted(in_source - table), sorted(table - in_source)
    if unknown or gone:
        raise BuildError(
            f"CPython {minor}'s Modules/Setup.stdlib.in and exxo's modules.toml disagree: "
            f"not in the table: {', '.join(unknown) or '-'}; in the table but not in the source: "
            f"{', '.join(gone) or '-'}",
            hint="add each new module to [\"" + minor + "\"] builtin (or excluded, with the reason) in "
            "src/exxo/runtime/modules.toml",
        )


@dataclass
class Build:
    version: str  # full release, e.g. "3.13.15"
    tarball: Path
    workdir: Path  # scratch space, deleted after a successful build
    outdir: Path  # the runtime directory being assembled (renamed into place by bootstrap)
    jobs: int
    reporter: Reporter
    env: dict[str, str] = field(default_factory=dict)  # toolchain + deps variables for configure
    configure_args: list[str] = field(default_factory=list)
    link_libs: list[str] = field(default_factory=list)
    wrapper_dir: Path | None = None  # toolchain wrappers; their paths are scrubbed from sysconfig
    source_date_epoch: int = 0
    optimize: str = "pgo-lto"  # or "plain" (-O3 only: the reference `make bench` measures the gain against)
    meta: dict[str, Any] = field(default_factory=dict)
    # Cross-compiling (`exxo bootstrap --target aarch64`): configure's --host, the same version's runtime
    # for the build machine (--with-build-python: it also byte-compiles the stdlib), and the argv prefix that
    # runs a target program here (qemu-user).
    host: str = ""
    build_python: str = ""
    emulator: list[str] = field(default_factory=list)
    strip: str = "strip"  # binutils for the target (the build machine's strip reads its own processor's ELF only)

    @property
    def multiarch(self) -> str:
        return self.host or "x86_64-linux-gnu"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def srcdir(self) -> Path:
        return self.workdir / f"Python-{self.version}"


def extract(b: Build) -> None:
    sources.extract(b.tarball, b.workdir)
    if not b.srcdir.is_dir():
        raise BuildError(f"{b.tarball} does not contain Python-{b.version}/",
                         hint="pass the official Python-X.Y.Z.tar.xz (or Debian's .orig tarball of it)")
    check_module_table(b.srcdir, b.minor)


def patch(b: Build, python_for_regen: str) -> None:
    """Our launcher as main(); more modules frozen so start-up never opens the stdlib zip.

    Frozen in addition to CPython's own list: the `encodings` package (imported by every start) and
    `linecache` (3.13 registers `-c` code with it at start). Measured: without them `-I -S -c pass` reads the
    zip's directory through zipimport, +11 ms (1.24x a stock build).
    """
    write_launcher(b.srcdir / "Programs")
    freeze = b.srcdir / "Tools" / ("scripts" if b.minor == "3.11" else "build") / "freeze_modules.py"
    text = freeze.read_text()
    if "#'<encodings.*>'," not in text:
        raise BuildError(f"{freeze} changed: cannot enable freezing of the encodings package",
                         hint="update exxo.runtime.cpython.patch for this CPython version")
    freeze.write_text(text.replace("#'<encodings.*>',", "'<encodings.*>',\n        'linecache',"))
    patch_ensurepip(b.srcdir)
    patch_venv_scripts(b.srcdir)
    patch_site(b.srcdir)
    patch_zipimport(b.srcdir)
    if b.minor == "3.11":
        patch_getpath_311(b.srcdir)
        patch_configure_311(b.srcdir)
        write_setup_local_311(b)
    b.reporter.run([python_for_regen, str(freeze)], cwd=b.srcdir, what="regenerating the frozen-module list")


def _replace_once(path: Path, text: str, old: str, new: str, fix: str) -> str:
    if text.count(old) != 1:
        raise BuildError(f"{path} changed: cannot apply exxo's patch ({old.strip()!r} not found once)",
                         hint=f"update exxo.runtime.cpython.{fix} for this CPython version")
    return text.replace(old, new)


def patch_getpath_311(srcdir: Path) -> None:
    """3.11's getpath ignores PyConfig.stdlib_dir, which the launcher sets to `<exe>/lib/python3.11` (the zip
    inside the executable): backport 3.12's rule (an explicitly set stdlib_dir is kept and goes on sys.path),
    so the interpreter finds its stdlib wherever the file is copied."""
    path = srcdir / "Modules" / "getpath.py"
    text = path.read_text()
    edits = [
        ("stdlib_dir = None\nplatstdlib_dir = None\n",
         "stdlib_dir = config.get('stdlib_dir')  # exxo: backport of 3.12\n"
         "stdlib_dir_was_set_in_config = bool(stdlib_dir)\nplatstdlib_dir = None\n"),
        ("        # Always use the build prefix for stdlib\n        if build_stdlib_prefix:\n"
         "            stdlib_dir = joinpath(build_stdlib_prefix, 'Lib')\n        else:\n"
         "            stdlib_dir = joinpath(build_prefix, 'Lib')\n",
         "        if not stdlib_dir_was_set_in_config:\n            if build_stdlib_prefix:\n"
         "                stdlib_dir = joinpath(build_stdlib_prefix, 'Lib')\n            else:\n"
         "                stdlib_dir = joinpath(build_prefix, 'Lib')\n"),
        ("        # Reset the standard library directory if it was already set\n        stdlib_dir = None\n",
         "        if not stdlib_dir_was_set_in_config:\n            stdlib_dir = None\n"),
        ("                prefix = library_dir\n                stdlib_dir = joinpath(prefix, STDLIB_SUBDIR)\n",
         "                prefix = library_dir\n                if not stdlib_dir_was_set_in_config:\n"
         "                    stdlib_dir = joinpath(prefix, STDLIB_SUBDIR)\n"),
        ("        if prefix:\n            stdlib_dir = joinpath(prefix, STDLIB_SUBDIR)\n",
         "        if prefix and not stdlib_dir_was_set_in_config:\n"
         "            stdlib_dir = joinpath(prefix, STDLIB_SUBDIR)\n"),
    ]
    for old, new in edits:
        text = _replace_once(path, text, old, new, "patch_getpath_311")
    path.write_text(text)


def patch_configure_311(srcdir: Path) -> None:
    """3.11's configure uses Modules/Setup.stdlib (the configured module list) only for WebAssembly; on Linux
    setup.py builds every stdlib module as a shared library. Use it everywhere, as 3.12 does, so that
    MODULE_BUILDTYPE=static links them into the executable."""
    path = srcdir / "configure"
    text = _replace_once(path, path.read_text(), "  *) :\n    MODULES_SETUP_STDLIB=\n ;;\n",
                         "  *) :\n    MODULES_SETUP_STDLIB=Modules/Setup.stdlib\n ;;\n", "patch_configure_311")
    path.write_text(text)


def write_setup_local_311(b: Build) -> None:
    """3.11 builds _ctypes, _curses, _curses_panel and readline with setup.py, as shared libraries: list them
    in Modules/Setup.local so makesetup links them into the executable like every other module, with the
    flags setup.py would have found (our static libffi, ncursesw and libedit); _dbm is disabled (see
    modules.toml). setup.py skips modules that a Setup file names."""
    e = b.env
    ffi_defines = "-DHAVE_FFI_PREP_CIF_VAR=1 -DHAVE_FFI_PREP_CLOSURE_LOC=1 -DHAVE_FFI_CLOSURE_ALLOC=1"
    ctypes_src = " ".join(f"_ctypes/{n}.c" for n in ("_ctypes", "callbacks", "callproc", "stgdict", "cfield"))
    # makesetup copies any line with a `=` as a make variable, so flags with values go in variables.
    lines = [
        "# Written by exxo (exxo.runtime.cpython.write_setup_local_311): built in, not by setup.py.",
        f"EXXO_CTYPES_CFLAGS={ffi_defines} {e['LIBFFI_CFLAGS']}",
        f"EXXO_CTYPES_LIBS={e['LIBFFI_LIBS']} -ldl",
        # GNU readline's marker for its modern typedefs (rl_compdisp_func_t...), which libedit has too: without
        # it 3.11's readline.c uses the old `VFunction`, gone from libedit (3.13 tests the typedef instead).
        f"EXXO_READLINE_CFLAGS=-D_RL_FUNCTION_TYPEDEF {e['LIBEDIT_CFLAGS']}",
        f"EXXO_READLINE_LIBS={e['LIBEDIT_LIBS']}",
        f"EXXO_CURSES_CFLAGS=-DHAVE_NCURSESW=1 {e['CURSES_CFLAGS']}",
        f"EXXO_CURSES_LIBS={e['CURSES_LIBS']}",
        f"EXXO_PANEL_LIBS={e['PANEL_LIBS']} {e['CURSES_LIBS']}",
        "*static*",
        f"_ctypes {ctypes_src} $(EXXO_CTYPES_CFLAGS) $(EXXO_CTYPES_LIBS)",
        "readline readline.c $(EXXO_READLINE_CFLAGS) $(EXXO_READLINE_LIBS)",
        "_curses _cursesmodule.c $(EXXO_CURSES_CFLAGS) $(EXXO_CURSES_LIBS)",
        "_curses_panel _curses_panel.c $(EXXO_CURSES_CFLAGS) $(EXXO_PANEL_LIBS)",
        "*disabled*",
        "_dbm",
    ]
    (b.srcdir / "Modules" / "Setup.local").write_text("\n".join(lines) + "\n")


def patch_ensurepip(srcdir: Path) -> None:
    """ensurepip names its temp copy of the pip wheel after `resources.as_file()`'s path, which is a random temp
    name when the stdlib is a zip ('tmpab12pip-26.2-py3-none-any.whl'): pip then rejects it and `python -m venv`
    fails. Use the wheel's real name (CPython's own code works only with a stdlib on disk)."""
    path = srcdir / "Lib" / "ensurepip" / "__init__.py"
    text = path.read_text()
    old_tmp = "tmp_wheel_path = tmpdir_path / bundled_wheel_path.name"
    old_ver = "wheel_name = bundled_wheel_path.name"
    if old_tmp not in text:
        return  # other versions (3.11) copy the wheel under its own name already
    helper = (
        "\n\ndef _exxo_wheel_name(path):\n"
        "    # exxo: a zipped stdlib makes as_file() return a temp name; keep the wheel's own name.\n"
        "    name = path.name\n"
        "    return name if name.startswith('pip-') else name[name.index('pip-'):]\n"
    )
    text = text.replace(old_tmp, "tmp_wheel_path = tmpdir_path / _exxo_wheel_name(bundled_wheel_path)")
    text = text.replace(old_ver, "wheel_name = _exxo_wheel_name(bundled_wheel_path)")
    text = text.replace("\n\ndef _get_pip_whl_path_ctx():", helper + "\n\ndef _get_pip_whl_path_ctx():", 1)
    path.write_text(text)


def patch_site(srcdir: Path) -> None:
    """In an app binary (the launcher's `_exxo.app`), `site` must not treat a pyvenv.cfg next to the binary
    (or one directory up) as the binary's venv: that would redirect sys.prefix and run that directory's .pth
    files in every re-entry child. The binary is its own prefix; its site-packages is added by exxo's boot
    once the binary's importer is in place, so `site` adds no prefix site-packages of its own either. The
    bare runtime (the python of `exxo venv` environments) keeps CPython's behaviour."""
    path = srcdir / "Lib" / "site.py"
    anchor = "def venv(known_paths):\n    global PREFIXES, ENABLE_USER_SITE\n"
    text = _replace_once(path, path.read_text(), anchor, anchor + (
        "    try:  # exxo: an app binary is its own prefix (see exxo.runtime.cpython.patch_site)\n"
        "        import _exxo\n"
        "    except ImportError:\n"
        "        _exxo = None\n"
        "    if getattr(_exxo, 'app', 0):\n"
        "        PREFIXES = []\n"
        "        return known_paths\n"), "patch_site")
    path.write_text(text)


def patch_venv_scripts(srcdir: Path) -> None:
    """`python -m venv` installs bin/activate* by os.walk()ing venv/scripts/, which finds nothing when the
    stdlib is a zip: copy the scripts out of the zip first, then install them as CPython does."""
    path = srcdir / "Lib" / "venv" / "__init__.py"
    text = path.read_text()
    anchor = "        path = os.path.join(path, 'scripts')\n"
    if anchor not in text:
        raise BuildError(f"{path} changed: cannot patch venv's script installation",
                         hint="update exxo.runtime.cpython.patch_venv_scripts for this CPython version")
    text = text.replace(anchor, anchor + (
        "        if not os.path.isdir(path):  # exxo: the stdlib is a zip inside the executable\n"
        "            import importlib.resources, tempfile\n"
        "            with tempfile.TemporaryDirectory() as tmp:\n"
        "                def copy(node, dest):\n"
        "                    for child in node.iterdir():\n"
        "                        if child.is_dir():\n"
        "                            os.makedirs(os.path.join(dest, child.name), exist_ok=True)\n"
        "                            copy(child, os.path.join(dest, child.name))\n"
        "                        else:\n"
        "                            with open(os.path.join(dest, child.name), 'wb') as f:\n"
        "                                f.write(child.read_bytes())\n"
        "                copy(importlib.resources.files('venv') / 'scripts', tmp)\n"
        "                self.install_scripts(context, tmp)\n"
        "            return\n"), 1)
    path.write_text(text)


def hide_dep_symbols(lib_dirs: list[Path], reporter: Reporter) -> None:
    for lib_dir in lib_dirs:
        stamp = lib_dir / ".exxo-hidden"
        if stamp.exists():
            continue
        for archive in sorted(lib_dir.glob("*.a")):
            n = hide_archive_symbols(archive, archive)
            reporter.log(f"hid {n} symbols in {archive}")
        stamp.write_text("symbols hidden\n")


def configure(b: Build) -> None:
    env = {
        # CPython keeps its own optimisation flags (-O3...): the toolchain's CFLAGS are for the libraries.
        **{k: v for k, v in b.env.items() if k != "CFLAGS"},
        # zig makes __DATE__/__TIME__ an error; SOURCE_DATE_EPOCH pins their values.
        "CFLAGS": "-Wno-error=date-time",
        "MODULE_BUILDTYPE": "static",  # every stdlib extension module built in
        "py_cv_module__tkinter": "n/a",
        "py_cv_module__gdbm": "n/a",
        "py_cv_module__dbm": "n/a",
        # The launcher decompresses members with the zlib and libzstd linked in (not in sysconfig's flags).
        "LIBS": " ".join([*b.link_libs, b.env["LIBZSTD_LIBS"]]),
        "CFLAGS_NODIST": f"{b.env.get('CFLAGS_NODIST', '')} {b.env['ZLIB_CFLAGS']} {b.env['LIBZSTD_CFLAGS']}".strip(),
        "SOURCE_DATE_EPOCH": str(b.source_date_epoch),
    }
    args = [
        "./configure",
        f"--prefix=/opt/exxo/python{b.minor}",  # placeholder: sys.prefix is computed at run time
        "--disable-shared",
        "--disable-test-modules",
        "--with-ensurepip=no",
        "--without-system-expat",
        "--with-readline=editline",
        *b.configure_args,
    ]
    if b.minor in ("3.11", "3.12", "3.13", "3.14"):
        args.append("--without-system-libmpdec")
    if b.minor == "3.11":
        # 3.11's configure reads no LIBEDIT_*/CURSES_* variables: its readline (HAVE_RL_*) and curses
        # (HAVE_CURSES_*) probes use plain CPPFLAGS/LDFLAGS. The modules themselves come from Setup.local.
        cflags = f"{b.env['LIBEDIT_CFLAGS']} {b.env['CURSES_CFLAGS']}".split()
        ldirs = [w for w in f"{b.env['LIBEDIT_LIBS']} {b.env['CURSES_LIBS']}".split() if w.startswith("-L")]
        env["CPPFLAGS"] = " ".join(dict.fromkeys(cflags))
        env["LDFLAGS"] = " ".join(dict.fromkeys(ldirs))
        env["py_cv_module__crypt"] = env["py_cv_module_nis"] = "n/a"  # excluded (modules.toml says why)
        # Example modules that --disable-test-modules leaves on in 3.11 (3.12+ turns them off).
        env["py_cv_module_xxlimited"] = env["py_cv_module_xxlimited_35"] = "n/a"
    if b.host:
        args += ["--build=x86_64-linux-gnu", f"--host={b.host}", f"--with-build-python={b.build_python}"]
        env.update(CROSS_ANSWERS)
    b.reporter.run(args, cwd=b.srcdir, env=env, what="configure")
    if b.minor == "3.14":
        drop_clang_ceval_flag(b.srcdir)


def drop_clang_ceval_flag(srcdir: Path) -> None:
    """3.14's configure asks a test program whether the compiler is clang 22 (gh-148284) and then adds the
    clang-only `-finline-max-stacksize=512` to ceval.c's flags. Its test programs are compiled and linked in
    one step, which the gcc-cc wrapper hands to zig's clang, while ceval.c itself is compiled by gcc, which
    rejects the flag: take it out (the clang workaround does not concern gcc)."""
    for path in (srcdir / "Makefile.pre", srcdir / "Makefile"):  # Makefile is regenerated from Makefile.pre
        lines = path.read_text().split("\n")
        for i, line in enumerate(lines):
            if line.startswith("CFLAGS_CEVAL="):
                lines[i] = line.replace("-finline-max-stacksize=512", "").rstrip()
        path.write_text("\n".join(lines))


# What configure cannot find out without running a program for the target (a cross build): the answers for
# Linux with glibc, as a native build there finds them.
CROSS_ANSWERS = {
    "ac_cv_file__dev_ptmx": "yes", "ac_cv_file__dev_ptc": "no", "ac_cv_buggy_getaddrinfo": "no",
    "ac_cv_computed_gotos": "yes", "ac_cv_working_tzset": "yes", "ac_cv_pthread_system_supported": "yes",
    "ac_cv_posix_semaphores_enabled": "yes", "ac_cv_broken_sem_getvalue": "no", "ac_cv_broken_poll": "no",
    "ac_cv_broken_nice": "no", "ac_cv_broken_mbstowcs": "no", "ac_cv_aligned_required": "no",
    "ac_cv_wchar_t_signed": "no", "ac_cv_x87_double_rounding": "no", "ac_cv_rshift_extends_sign": "yes",
}

OPTIMIZE = ("pgo-lto", "plain")
# gcc's PGO, as CPython's own `--enable-optimizations` sets it for gcc (configure cannot be asked: the gcc-cc
# wrapper compiles with gcc but answers `--version` as zig's clang). Atomic counters: the training task runs
# threads, and racy counters make a profile gcc then rejects as inconsistent.
# -g0 overrides CPython's -g (the runtime is stripped): DWARF would be streamed through LTO for nothing.
PGO_GENERATE = "-g0 -fprofile-generate -fprofile-update=atomic"
PGO_USE = "-g0 -fprofile-use -fprofile-correction -Wno-missing-profile"
# The training task, CPython's own (`make profile-opt`'s PROFILE_TASK): ~45 test modules chosen for PGO.
TRAINING = ["-m", "test", "--pgo", "--timeout=1200"]


def compile_(b: Build) -> None:
    """`make`; for the default "pgo-lto" build, CPython's profile-opt sequence spelled out for gcc + zig:
    an instrumented build, the training task, then the rebuild with the profile and LTO (gcclink.py)."""
    env = {"SOURCE_DATE_EPOCH": str(b.source_date_epoch), "EXXO_LTO_JOBS": str(b.jobs)}
    make = ["make", f"-j{b.jobs}"]
    if b.optimize == "pgo-lto":
        b.reporter.run([*make, f"CFLAGS_NODIST={PGO_GENERATE}", "LDFLAGS_NODIST=-fprofile-generate"],
                       cwd=b.srcdir, env=env, what="make (instrumented for PGO)")
        train(b)
        # Objects and binaries go, the .gcda profiles stay (CPython's own target for this step).
        b.reporter.run(["make", "clean-retain-profile"], cwd=b.srcdir, env=env, what="make clean-retain-profile")
        # Fat LTO objects: machine code too, so the build's helper programs link without LTO (gcclink.py).
        lto = f"-flto={b.jobs} -ffat-lto-objects"
        make += [f"CFLAGS_NODIST={PGO_USE} {lto}", f"LDFLAGS_NODIST=-flto={b.jobs}"]
    elif b.optimize != "plain":
        raise BuildError(f"unknown runtime optimisation {b.optimize!r}", hint=f"one of: {', '.join(OPTIMIZE)}")
    b.reporter.run(make, cwd=b.srcdir, env=env, what="make")
    if not (b.srcdir / "python").is_file():
        raise BuildError("make finished without producing ./python", log_tail="")


def train(b: Build) -> None:
    """Run the instrumented interpreter on the training task; failing tests do not spoil the profile (CPython's
    own `run_profile_task` ignores the exit status too)."""
    started = time.time() - 2  # file times may be coarser than the clock
    try:
        b.reporter.run(["./python", *TRAINING], cwd=b.srcdir, what="PGO training task")
    except BuildError as exc:
        b.reporter.log(f"training task: {exc} (ignored: the profile is what counts)")
    # The build itself runs ./python (sysconfig data...), so .gcda files exist before the task: look for the
    # interpreter loop's profile, written (merged) at the task's exit.
    ceval = [p for p in b.srcdir.glob("Python/ceval*.gcda") if p.stat().st_mtime >= started]
    if not ceval:
        raise BuildError("the PGO training task wrote no profile for the interpreter loop (Python/ceval.gcda)",
                         hint="see the log: the instrumented interpreter did not run")


def _sysconfigdata(b: Build) -> Path:
    found = sorted((b.srcdir / "build").glob("lib.*/_sysconfigdata_*.py"))
    if not found:
        raise BuildError("the build produced no _sysconfigdata file")
    return found[0]


def _scrub(text: str, b: Build) -> str:
    """Replace the toolchain's wrapper paths by plain `cc`/`c++`/`ar`: the user's machine compiles sdists."""
    if b.wrapper_dir is None:
        return text
    for tool, plain in (("gcc-cc", "cc"), ("c++", "c++"), ("cc", "cc"), ("ar", "ar"), ("ranlib", "ranlib")):
        text = text.replace(f"{b.wrapper_dir}/{tool}", plain)
    return text


def install(b: Build) -> Path:
    """Assemble the runtime dir; returns the unstripped ELF for validation."""
    out = b.outdir
    minor = b.minor
    stage = b.workdir / "stage"
    b.reporter.run(["make", "inclinstall", f"DESTDIR={stage}"], cwd=b.srcdir, what="installing headers")
    prefix = stage / f"opt/exxo/python{minor}"
    (out / "bin").mkdir(parents=True)
    shutil.copytree(prefix / "include", out / "include")
    libdir = out / "lib" / f"python{minor}"
    config_dir = libdir / f"config-{minor}-{b.multiarch}"
    config_dir.mkdir(parents=True)
    (config_dir / "Makefile").write_text(_scrub((b.srcdir / "Makefile").read_text(), b))
    shutil.copy2(b.srcdir / "Lib" / "os.py", libdir / "os.py")  # getpath landmark: sys.prefix = runtime dir

    sysconfigdata = _sysconfigdata(b)
    scrubbed = b.workdir / sysconfigdata.name
    scrubbed.write_text(_scrub(sysconfigdata.read_text(), b))
    zip_path = b.workdir / "stdlib.zip"
    byte_compiler = b.build_python or str(b.srcdir / "python")  # bytecode does not depend on the processor
    b.reporter.run([byte_compiler, "-I", str(stdlib_script()), str(b.srcdir / "Lib"), str(scrubbed),
                    str(zip_path)], cwd=b.srcdir, what="byte-compiling the stdlib")

    elf = b.workdir / "python.elf"
    shutil.copy2(b.srcdir / "python", elf)
    stripped = b.workdir / "python.stripped"
    b.reporter.run([b.strip, "--strip-all", "-o", str(stripped), str(elf)], what="strip")
    exe = out / "bin" / f"python{minor}"
    with open(exe, "wb") as f:
        f.write(stripped.read_bytes())
        f.write(zip_path.read_bytes())
    exe.chmod(0o755)
    for alias in ("python3", "python"):
        (out / "bin" / alias).symlink_to(exe.name)
    return elf


def write_metadata(b: Build, report_max_glibc: str, exported: int) -> dict[str, Any]:
    builtin, excluded = module_table(b.minor)
    soabi = subprocess.run(
        [*b.emulator, str(b.outdir / "bin" / f"python{b.minor}"), "-I", "-c",
         "import sys, sysconfig; print(sysconfig.get_config_var('SOABI')); print(sys.version)"],
        capture_output=True, text=True, check=True).stdout.splitlines()
    meta = {
        "format": 1,
        "exxo_version": __version__,
        "python_version": b.version,
        "soabi": soabi[0],
        "sys_version": soabi[1],
        "glibc_max": report_max_glibc,
        "exported_symbols": exported,
        "builtin_modules": builtin,
        "excluded_modules": excluded,
        "stdlib_left_out": "test suites, idlelib, tkinter, turtle/turtledemo, __phello__ (see make_stdlib_zip.py)",
        **b.meta,
    }
    (b.outdir / "runtime.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def python_for_regen() -> str:
    """Any Python >= 3.10 runs CPython's freeze_modules.py; the one running exxo will do."""
    import sys

    return os.environ.get("EXXO_PYTHON_FOR_REGEN", sys.executable)


ZIPIMPORT_INDEX = """
def _read_directory(archive):
    # exxo: the runtime's stdlib zip carries zipimport's directory for it, marshalled at build time
    # (make_stdlib_zip.py), located by the EXXO1R marker (the zip comment). Parsing the ~600 entries here in
    # Python cost ~30M instructions (~8 ms) in every process that imports from the stdlib zip.
    files = _exxo_read_index(archive)
    return _exxo_read_directory(archive) if files is None else files


def _exxo_read_index(archive):
    try:
        fp = _io.open_code(archive)
    except OSError:
        return None
    with fp:
        try:
            end = fp.seek(0, 2)
            if end < 96:
                return None
            fp.seek(end - 96)
            tail = fp.read(96)  # EOCD (22 bytes) + the 74-byte marker comment
            if tail[:4] != b'PK\\x05\\x06' or tail[22:28] != b'EXXO1R':
                return None
            offset, size = int(tail[@OFF@], 16), int(tail[@SIZE@], 16)
            if not size:
                return None
            start = end - 96 - _unpack_uint32(tail[12:16]) - _unpack_uint32(tail[16:20])
            fp.seek(start + offset)
            data = fp.read(size)
        except (OSError, ValueError):
            return None
    files = {}
    join = _bootstrap_external._path_join
    for name, t in marshal.loads(data):
        if t is not None:
            t = (join(archive, name), t[0], t[1], t[2], t[3] + start, t[4], t[5], t[6])
        files[name] = t
    return files


def _exxo_read_directory(archive):
"""


def patch_zipimport(srcdir: Path) -> None:
    """zipimport reads the stdlib zip's directory from a marshalled index instead of parsing it in Python
    (see ZIPIMPORT_INDEX); any other zip, or a runtime zip without the index, takes CPython's own path."""
    path = srcdir / "Lib" / "zipimport.py"
    text = path.read_text()
    anchor = "\ndef _read_directory(archive):\n"
    if text.count(anchor) != 1:
        raise BuildError(f"{path} changed: cannot add exxo's stdlib index to zipimport",
                         hint="update exxo.runtime.cpython.patch_zipimport for this CPython version")
    # The marker's manifest fields, located by exxo.format (the R marker's stdlib-index offset and size).
    at = [fmt.EOCD_SIZE + f for f in fmt.FIELD_AT[2:]]
    code = (ZIPIMPORT_INDEX.replace("@OFF@", f"{at[0]}:{at[0] + 16}").replace("@SIZE@", f"{at[1]}:{at[1] + 16}")
            .replace("end < 96", f"end < {fmt.TAIL_SIZE}").replace("end - 96", f"end - {fmt.TAIL_SIZE}")
            .replace("read(96)", f"read({fmt.TAIL_SIZE})"))
    path.write_text(text.replace(anchor, code, 1))

