"""`exxo bootstrap`: build (or find) the runtime for a CPython version, cached per user.

    $XDG_CACHE_HOME/exxo/runtimes/cpython-<version>-<recipe hash>/

The runtime is assembled in a temp dir beside its final place and renamed into place only once it has
been validated, so a crash or Ctrl-C never leaves a half runtime. A second call finds it and returns at once.
The recipe hash covers everything that changes the result (`recipe_inputs`): the source's sha256, the library
pins, the toolchain (zig's and gcc's versions, target, flags), the environment knobs, the launcher's files and
the recipe code. A change to any of them builds a new runtime; a stale one is never served.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from exxo import format as fmt
from exxo.common import GLIBC_FLOOR, cache_root
from exxo.progress import Reporter
from exxo.runtime import cpython, sources, toolchain, validate

# The recipe code whose text decides the runtime's bytes (the orchestration in this file does not, and the
# library pins of sources.py are hashed by value, so a comment there does not rebuild every runtime). Every
# file of launcher/ counts too, whatever its name (`recipe_files`), and the format module (the launcher is
# compiled with the header it generates, make_stdlib_zip writes its marker).
RECIPE_FILES = ["format.py", "runtime/cpython.py", "runtime/make_stdlib_zip.py", "runtime/modules.toml",
                "runtime/elfhide.py", "runtime/deps.py", "runtime/toolchain.py", "runtime/gcclink.py"]
# Environment variables the build reads, with the value each has when unset.
# EXXO_RUNTIME_OPT: "pgo-lto" (the default runtime) or "plain" (`exxo bootstrap --plain`: the -O3-only build
# that `make bench` measures PGO+LTO's gain against where no distribution interpreter of the release exists).
KNOBS = {"EXXO_GLIBC_CAP": GLIBC_FLOOR, "SOURCE_DATE_EPOCH": "1700000000", "EXXO_RUNTIME_OPT": "pgo-lto"}


@dataclass(frozen=True)
class Runtime:
    dir: Path
    version: str  # full release, e.g. "3.13.15"

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    @property
    def python(self) -> Path:
        return self.dir / "bin" / f"python{self.minor}"

    def metadata(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.dir / "runtime.json").read_text())
        return data


def knob(name: str) -> str:
    return os.environ.get(name) or KNOBS[name]


@functools.cache
def gcc_version() -> str:
    """The gcc that compiles CPython (toolchain.py's gcc-cc wrapper), asked once: the first line of
    `gcc --version` names the distribution's build too ("gcc (Debian 12.2.0-14) 12.2.0")."""
    try:
        out = subprocess.run(["gcc", "--version"], capture_output=True, text=True)
    except OSError:
        return "none"  # the build itself then fails with the hint to install gcc
    return (out.stdout.splitlines() or ["none"])[0].strip() if out.returncode == 0 else "none"


def zig_version() -> str:
    """The zig that builds the runtime: the installed `ziglang`'s version, else the one exxo's metadata pins.

    An exxo binary leaves the toolchain out ([tool.exxo] exclude): with the pin it still finds the runtimes
    that the same exxo, installed with its toolchain, built.
    """
    installed = toolchain.zig_version()
    if installed != "unknown":
        return installed
    try:
        requires = metadata.requires("exxo") or []
    except metadata.PackageNotFoundError:
        return installed
    pins = [m.group(1) for r in requires if (m := re.fullmatch(r"ziglang\s*==\s*([\w.]+)", r.split(";")[0].strip()))]
    return pins[0] if pins else installed


def recipe_files() -> list[str]:
    """RECIPE_FILES and every file under launcher/ (sorted), relative to the exxo package."""
    launcher = resources.files("exxo") / "launcher"
    found = sorted(f"launcher/{f.name}" for f in launcher.iterdir() if f.is_file() and not f.name.startswith("."))
    return found + RECIPE_FILES


def recipe_inputs(source: sources.Source, target: str = toolchain.HOST_ARCH) -> list[str]:
    """One line per input that changes the runtime's bytes (files as their sha256): what recipe_hash hashes."""
    from exxo.runtime import deps  # imported when needed: ~40 ms (concurrent.futures, inspect) off `exxo --help`

    lines = [f"source {source.version} {','.join(source.sha256s)}"]
    lines += [f"library {s.name} {s.version} {','.join(s.sha256s)}" for s in sources.libraries_for(source.version)]
    lines += [f"library-recipe {deps.RECIPE_VERSION}", f"zig {zig_version()}", f"gcc {gcc_version()}",
              f"target {toolchain.TARGET} cpu {toolchain.CPU} cflags {toolchain.CFLAGS}"]
    lines += [f"env {name}={knob(name)}" for name in sorted(KNOBS)]
    if target != toolchain.HOST_ARCH:  # a cross build: zig compiles CPython too, plain -O3 (no PGO/LTO)
        lines[-len(KNOBS) - 1] = (f"target {toolchain.cross_target(target)} cpu {toolchain.CROSS[target]['cpu']} "
                                  f"cflags {toolchain.CFLAGS} cross")
        lines = [line for line in lines if not line.startswith(("env EXXO_RUNTIME_OPT=", "gcc "))]
    pkg = resources.files("exxo")
    lines += [f"file {rel} {hashlib.sha256((pkg / rel).read_bytes()).hexdigest()}" for rel in recipe_files()]
    return lines


def recipe_hash(source: sources.Source, target: str = toolchain.HOST_ARCH) -> str:
    return hashlib.sha256("\n".join(recipe_inputs(source, target)).encode()).hexdigest()[:16]


def runtime_dir(source: sources.Source, target: str = toolchain.HOST_ARCH) -> Path:
    """cpython-<version>-<hash>; another processor's runtime has the target in its name too
    (cpython-3.13.15-aarch64-<hash>), so the two coexist."""
    arch = "" if target == toolchain.HOST_ARCH else f"{target}-"
    return cache_root() / "runtimes" / f"cpython-{source.version}-{arch}{recipe_hash(source, target)}"


def build_python(version: str) -> Runtime:
    """The build machine's runtime of `version`, which a cross build runs (configure's --with-build-python,
    the stdlib's bytecode): this exxo's own when cached, else any cached x86-64 runtime of that release
    (newest first: the interpreter's recipe does not change what it compiles), else an error saying what to
    bootstrap. EXXO_BUILD_PYTHON names one explicitly."""
    source = sources.resolve(version)
    explicit = os.environ.get("EXXO_BUILD_PYTHON")
    if explicit:
        return Runtime(Path(explicit).resolve().parent.parent, source.version)
    own = find_runtime(source.version)
    if own is not None:
        return own
    pattern = f"cpython-{source.version}-*"
    found = [d for d in (cache_root() / "runtimes").glob(pattern)
             if (d / "runtime.json").is_file() and not any(f"-{t}-" in d.name for t in toolchain.CROSS)
             and "-selfhosted-" not in d.name and not d.name.startswith(".")]
    if not found:
        from exxo.errors import BuildError

        raise BuildError(f"cross-building CPython {source.version} needs the x86-64 runtime of the same release "
                         "(it runs the build's Python steps)",
                         hint=f"build it first:\n  exxo bootstrap -p {source.version}")
    newest = max(found, key=lambda d: (d / "runtime.json").stat().st_mtime)
    return Runtime(newest, source.version)


def self_hosted_runtime(version: str) -> Runtime | None:
    """Inside a self-hosted exxo binary (built with embed-runtime): its own runtime, written out once.

    The executable is this binary's ELF part plus its stdlib members in a fresh zip; include/ and the rest come
    from the `__exxo__/runtime/` members. No compiler and no download needed.
    """
    import sys

    boot = sys.modules.get("_exxo_boot")
    index = getattr(boot, "INDEX", None)
    if boot is None or not index or "__exxo__/runtime/runtime.json" not in index:
        return None
    meta = json.loads(boot.read_member("__exxo__/runtime/runtime.json"))
    full = str(meta["python_version"])
    if version not in (full, ".".join(full.split(".")[:2])):
        return None
    final = cache_root() / "runtimes" / f"cpython-{full}-selfhosted-{boot.MANIFEST['build_id'][:16]}"
    if (final / "runtime.json").is_file():
        return Runtime(final, full)
    from exxo.runtime.selfhost import write_runtime

    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".new-selfhosted-", dir=final.parent))
    try:
        prefix, embed = "lib/python" + ".".join(full.split(".")[:2]) + "/", fmt.RUNTIME_EMBED
        for name, entry in index.items():
            if name.startswith(embed) and not entry[fmt.F_IS_DIR]:
                dest = staging / name[len(embed):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(boot.read_member(name))
        elf = Path(sys.executable).read_bytes()[: boot.BASE]
        stdlib = {n: boot.read_member(n) for n, e in index.items() if n.startswith(prefix) and not e[fmt.F_IS_DIR]}
        minor = ".".join(full.split(".")[:2])
        (staging / "bin").mkdir(exist_ok=True)
        write_runtime(staging / "bin" / f"python{minor}", elf, stdlib)
        for alias in ("python3", "python"):
            (staging / "bin" / alias).symlink_to(f"python{minor}")
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Runtime(final, full)


def find_runtime(version: str, target: str = toolchain.HOST_ARCH) -> Runtime | None:
    """The cached runtime for `version` ("3.13" or "3.13.15"), without building."""
    own = self_hosted_runtime(version) if target == toolchain.HOST_ARCH else None
    if own is not None:
        return own
    source = sources.resolve(version)
    path = runtime_dir(source, target)
    if (path / "runtime.json").is_file():
        return Runtime(path, source.version)
    return None


def ensure_runtime(
    version: str = "3.13",
    reporter: Reporter | None = None,
    *,
    source_override: str | None = None,
    jobs: int | None = None,
    force: bool = False,
    target: str = toolchain.HOST_ARCH,
) -> Runtime:
    """Return the runtime for `version`, building it first when it is not cached (or `force`)."""
    target = toolchain.check_target(target)
    own = None if force or target != toolchain.HOST_ARCH else self_hosted_runtime(version)
    if own is not None:
        return own
    source = sources.resolve(version)
    final = runtime_dir(source, target)
    if (final / "runtime.json").is_file() and not force:
        return Runtime(final, source.version)
    own_reporter = reporter is None
    root = cache_root()
    arch = "" if target == toolchain.HOST_ARCH else f"{target}-"
    log_path = root / "logs" / f"bootstrap-cpython-{source.version}-{arch}{time.strftime('%Y%m%d-%H%M%S')}.log"
    rep = reporter or Reporter(log_path)
    try:
        return _build(source, final, rep, source_override, jobs or os.cpu_count() or 2, target)
    finally:
        if own_reporter:
            rep.close()


def _build(source: sources.Source, final: Path, rep: Reporter, source_override: str | None,
           jobs: int, target: str = toolchain.HOST_ARCH) -> Runtime:
    from exxo.runtime import deps

    cross = target != toolchain.HOST_ARCH
    host_python = build_python(source.version) if cross else None
    emulator = toolchain.emulator(target) if cross else []  # fails early when qemu-user is missing

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build-{source.version}-", dir=final.parent))
    staging = Path(tempfile.mkdtemp(prefix=f".new-{final.name}-", dir=final.parent))
    staging.rmdir()  # cpython.install creates it
    started = time.monotonic()
    try:
        rep.stage(f"download/verify CPython {source.version} source")
        tarball = sources.fetch(source, source_override, rep)

        rep.stage("toolchain")
        tc = toolchain.zig_toolchain(work / "toolchain", rep, target=target)

        rep.stage("third-party libraries (OpenSSL, SQLite, libffi, xz, bzip2, zlib, zstd, ncurses, libedit, uuid)")
        built = deps.build_deps(tc, jobs, rep, cache_root(), python=source.version)
        libraries_seconds = time.monotonic() - started
        cpython.hide_dep_symbols([Path(p) / "lib" for p in built.prefixes.values()], rep)

        b = cpython.Build(
            version=source.version, tarball=tarball, workdir=work, outdir=staging, jobs=jobs, reporter=rep,
            env={**tc.env(cpython=True), **built.configure_env},
            configure_args=list(built.configure_args),
            link_libs=tc.link_libs(), wrapper_dir=tc.wrapper_dir,
            source_date_epoch=int(knob("SOURCE_DATE_EPOCH")), optimize="plain" if cross else knob("EXXO_RUNTIME_OPT"),
            meta={"toolchain": tc.name, "optimize": "plain" if cross else knob("EXXO_RUNTIME_OPT"),
                  "components": built.components, "target": target,
                  "source": {"file": tarball.name, "sha256": source.sha256s[0] if source.sha256s else None}},
        )
        if cross:
            assert host_python is not None
            b.host, b.build_python = toolchain.CROSS[target]["triple"], str(host_python.python)
            b.emulator, b.strip = emulator, toolchain.cross_strip(target)
            rep.log(f"cross build for {target}: build Python {host_python.python}, run by {' '.join(emulator)}")
        rep.stage("extract and patch")
        cpython.extract(b)
        cpython.patch(b, cpython.python_for_regen())
        rep.stage("configure")
        cpython.configure(b)
        rep.stage(f"compile (make -j{jobs})")
        cpython.compile_(b)
        rep.stage("install (stdlib zip, headers)")
        elf = cpython.install(b)

        rep.stage("validate")
        modules, _excluded = cpython.module_table(b.minor)
        alone = work / "alone"
        alone.mkdir()
        shutil.copy2(staging / "bin" / f"python{b.minor}", alone / "python3")  # no lib/ beside it
        report = validate.validate(elf, alone / "python3", modules, knob("EXXO_GLIBC_CAP"),
                                   machine=toolchain.CROSS[target]["machine"] if cross else "EM_X86_64",
                                   emulator=emulator)
        rep.log(f"validator: NEEDED={report.needed} max GLIBC_{report.max_glibc}, {report.exported} exports")
        # The bootstrap's wall time (make bench reports it): libraries ~0 s when they came from the cache.
        b.meta["build_seconds"] = {"libraries": round(libraries_seconds),
                                   "total": round(time.monotonic() - started), "jobs": jobs}
        cpython.write_metadata(b, report.max_glibc, report.exported)

        if final.exists():  # --force: move the old one aside, then replace
            old = final.with_name(final.name + f".old-{os.getpid()}")
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        staging.rename(final)
        rep.info(f"runtime CPython {source.version} ready in {time.monotonic() - started:.0f}s: "
                 f"{final} (needs GLIBC_{report.max_glibc} at most)")
        shutil.rmtree(work, ignore_errors=True)
        return Runtime(final, source.version)
    except BaseException:
        # Nothing half-built stays behind: the staging dir and the scratch space go, the log stays.
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
        raise
