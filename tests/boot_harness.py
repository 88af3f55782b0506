"""A stand-in for the C launcher, so the boot code can be tested in binaries before the real runtime exists.

Two halves in one file:

- run as a script (`python3.X -I -S tests/boot_harness.py BINARY ARGS...`), it does what
  src/exxo/launcher/main.c does (docs/design.md, "Start-up"): reads the EOCD comment of BINARY, chooses app or
  interpreter mode (EXXO_PYTHON=1, removed at once), sets sys.path/sys.executable/sys.argv, executes the boot
  code object as `_exxo_boot`, calls `_start(...)`, then `run_app()` or the interpreter's -c/-m/script
  handling. Until the boot is installed it uses only built-in and frozen modules, as the launcher does. The
  bytecode in the binary must match the Python that runs this script.
- imported by the tests, it makes binaries (`builder()`): with the real exxo runtime when one is available
  (then the binary is a real exxo binary and the harness is not involved), else with a "fake runtime" = a
  `#!/bin/sh` stub that execs this script with the host's CPython (`host_python()`), followed by a runtime zip
  of its stdlib (written by the runtime's own make_stdlib_zip.py). `write_binary` treats the stub exactly as it treats
  a runtime's ELF part, so the zip, the manifest and the boot are the real thing.

EXXO_TEST_BOOT=harness|runtime forces one of the two; EXXO_TEST_RUNTIME=/path/to/bin/python3.X picks the runtime.
"""

from __future__ import annotations

import sys

# ---- the launcher half (runs in the binary's process; built-in and frozen modules only) -------------------


def _launch():  # pragma: no cover - runs in the child process
    import marshal
    import os

    argv0, args = sys.argv[1], sys.argv[2:]
    exe = os.path.realpath(argv0)
    fd = os.open(exe, os.O_RDONLY | os.O_CLOEXEC)
    size = os.fstat(fd).st_size
    tail = os.pread(fd, 96, size - 96)
    comment = tail[22:]
    if tail[:4] != b"PK\x05\x06" or comment[:6] != b"EXXO1A":
        sys.exit("boot_harness: " + exe + " is not an exxo app binary")
    boot_off, boot_size, man_off, man_size = (int(comment[7 + 17 * i:23 + 17 * i], 16) for i in range(4))
    boot = os.pread(fd, boot_size, boot_off)
    os.close(fd)
    interpreter = os.environ.get("EXXO_PYTHON") == "1"
    os.environ.pop("EXXO_PYTHON", None)  # for this process only, as the launcher's unsetenv()
    minor = str(sys.version_info[0]) + "." + str(sys.version_info[1])
    # The binary's stdlib and app first; the host's own entries after them stand in for what the runtime has
    # built in (lib-dynload's extension modules), and for the stdlib of a binary made without one.
    sys.path[:] = [exe + "/lib/python" + minor, exe] + sys.path
    sys.executable = sys._base_executable = exe
    module = type(sys)("_exxo_boot")
    module.__file__ = exe + "/__exxo__/boot.pyc"
    sys.modules["_exxo_boot"] = module
    exec(marshal.loads(boot), module.__dict__)
    module._start(exe, man_off, man_size, not interpreter)
    # A fresh __main__ without __file__, as the launcher's run_command / -c gives (this script's own module
    # lives on through its functions). multiprocessing's spawn children would re-run a __main__ with a file.
    main = type(sys)("__main__")
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    if not interpreter:
        sys.argv[:] = [argv0, *args]
        module.run_app()
    else:
        _interpreter(args)


def _interpreter(args):  # pragma: no cover - runs in the child process
    """The part of CPython's command line that re-entries use: options, then -c CODE, -m MOD or a script."""
    import os

    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] not in ("-c", "-m", "-", "--"):
        i += 2 if args[i] in ("-W", "-X", "--check-hash-based-pycs") else 1  # the options do not matter here
    rest = args[i:]
    main = sys.modules["__main__"]
    if not rest or rest[0] == "-":
        sys.argv[:] = [""]
        exec(compile(sys.stdin.read(), "<stdin>", "exec"), main.__dict__)
    elif rest[0] == "-c":
        sys.argv[:] = ["-c", *rest[2:]]
        exec(compile(rest[1], "<string>", "exec"), main.__dict__)
    elif rest[0] == "-m":
        import runpy

        sys.argv[:] = [rest[1], *rest[2:]]
        runpy._run_module_as_main(rest[1], alter_argv=True)
    else:
        import runpy

        sys.argv[:] = rest
        sys.path.insert(0, os.path.dirname(os.path.realpath(rest[0])))
        runpy.run_path(rest[0], run_name="__main__")  # the binary itself: its __main__.py runs the app


if __name__ == "__main__":
    _launch()
    sys.exit(0)


# ---- the test half ---------------------------------------------------------------------------------------

import hashlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from exxo import archive, common  # noqa: E402

HERE = Path(__file__).resolve()
MAKE_STDLIB_ZIP = HERE.parents[1] / "src" / "exxo" / "runtime" / "make_stdlib_zip.py"


def cache_root() -> Path:
    return common.cache_root() / "test-harness"


def host_python() -> str:
    """The CPython the harness runs binaries with: EXXO_TEST_HOST_PYTHON, else a python3.X on PATH of the
    runtime's version (EXXO_TEST_PYTHON, 3.13), else the base interpreter of the one running the tests (on a
    fresh machine the system's python3, which .venv was made from).

    The same minor version as the runtime is preferred because a 3.11 host prints an uncaught exception's
    traceback in C, without the source lines the boot makes readable from the binary (3.13 prints it with the
    traceback module): test_exit_codes_and_tracebacks needs 3.13+ under the harness.
    """
    given = os.environ.get("EXXO_TEST_HOST_PYTHON")
    if given:
        return given
    same = shutil.which("python" + os.environ.get("EXXO_TEST_PYTHON", "3.13"))
    if same:  # maybe a pyenv shim or a symlink: the interpreter itself (the stub execs it on every run)
        found = subprocess.run([same, "-S", "-c", "import sys; print(sys._base_executable)"],
                               capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return getattr(sys, "_base_executable", sys.executable)


def fake_runtime(python: str | None = None) -> Path:
    """The stub + the stdlib zip of `python` (default: host_python()), made once per (python, harness path,
    stdlib writer), cached."""
    python = python or host_python()
    key = hashlib.sha256(python.encode() + str(HERE).encode() + MAKE_STDLIB_ZIP.read_bytes()).hexdigest()[:16]
    final = cache_root() / key / "runtime"
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    libdir, sysconfig_name = subprocess.run(
        [python, "-I", "-S", "-c",
         "import sysconfig; print(sysconfig.get_path('stdlib')); print(sysconfig._get_sysconfigdata_name())"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    tmp_zip = final.parent / f"stdlib.{os.getpid()}.zip"
    subprocess.run([python, "-I", "-S", str(MAKE_STDLIB_ZIP), libdir, f"{libdir}/{sysconfig_name}.py",
                    str(tmp_zip)], check=True, capture_output=True)
    stub = f"#!/bin/sh\nexec '{python}' -I -S '{HERE}' \"$0\" \"$@\"\n".encode()
    common.atomic_write(final, stub + tmp_zip.read_bytes(), 0o755)
    tmp_zip.unlink()
    return final


def real_runtime() -> Path | None:
    """The cached real exxo runtime's executable, if one is built (never builds one here). EXXO_TEST_RUNTIME
    names one explicitly (e.g. an older build while the current recipe's is not built yet)."""
    given = os.environ.get("EXXO_TEST_RUNTIME")
    if given:
        return Path(given)
    from exxo.runtime.bootstrap import find_runtime

    found = find_runtime(os.environ.get("EXXO_TEST_PYTHON", "3.13"))
    return found.python if found is not None else None


class Builder:
    """Makes binaries for the tests: `build(path, members, "pkg.mod:func")` -> an executable binary."""

    def __init__(self, runtime_exe: Path, python: Path, kind: str) -> None:
        self.runtime_exe = runtime_exe
        self.python = python  # compiles the boot code and the app's bytecode (the runtime's version)
        self.kind = kind  # "runtime" | "harness"
        self._boot: tuple[bytes, dict[str, bytes]] | None = None
        self.tag = subprocess.run([str(python), "-I", "-S", "-c", "import sys; print(sys.implementation.cache_tag)"],
                                  capture_output=True, text=True, check=True).stdout.strip()
        self.minor = "3." + self.tag.removeprefix("cpython-3")

    def boot(self) -> tuple[bytes, dict[str, bytes]]:
        if self._boot is None:
            self._boot = archive.compile_boot(self.python)
        return self._boot

    def build(self, out: Path, members: Sequence[archive.Member], entry: str, native: str = "memfd",
              source_only: Sequence[str] = (), bytecode_only: Sequence[str] = ()) -> Path:
        """`entry` is "module:attr" or "module" (run as __main__). Every .py gets its runtime-compiled pyc except
        those in `source_only`; the .py of those in `bytecode_only` is left out (only the pyc ships)."""
        module, _, attr = entry.partition(":")
        boot, boot_modules = self.boot()
        info = {"version": self.minor + ".0", "minor": self.minor, "tag": "cp" + self.tag.removeprefix("cpython-")}
        compiled = self.compile_pycs([m for m in members if m.name not in source_only])
        final = [m for m in compiled if m.name not in bytecode_only]
        final += [m for m in members if m.name in source_only]
        return archive.write_binary(out, self.runtime_exe, final,
                                    {"module": module, "attr": attr or None, "name": out.name}, native, info, boot,
                                    boot_modules).path

    def compile_pycs(self, members: Sequence[archive.Member]) -> list[archive.Member]:
        """`members` plus `__pycache__/*.cpython-3X.pyc` for every .py, compiled by the runtime's Python."""
        import marshal

        sources = {m.name: m.data for m in members if m.name.endswith(".py")}
        if not sources:
            return list(members)
        script = (
            "import importlib._bootstrap_external as be, importlib.util as u, marshal, sys\n"
            "src = marshal.loads(sys.stdin.buffer.read()); out = {}\n"
            "for name, data in src.items():\n"
            "    try:\n"
            "        code = compile(data, '/build/site-packages/' + name, 'exec', dont_inherit=True)\n"
            "    except SyntaxError:\n"
            "        continue\n"
            "    out[name] = be._code_to_hash_pyc(code, u.source_hash(data), checked=False)\n"
            "sys.stdout.buffer.write(marshal.dumps(out))\n"
        )
        proc = subprocess.run([str(self.python), "-I", "-S", "-c", script], input=marshal.dumps(sources),
                              capture_output=True, check=True)
        out = list(members)
        for name, data in marshal.loads(proc.stdout).items():
            parent, _, leaf = name.rpartition("/")
            out.append(archive.Member(f"{parent + '/' if parent else ''}__pycache__/{leaf[:-3]}.{self.tag}.pyc", data))
        return out


_BUILDER: Builder | None = None


def builder() -> Builder:
    """The real runtime when it is built, else the harness on the host's CPython (host_python()); with
    EXXO_TEST_BOOT=runtime, the real runtime, built now if it is not cached."""
    global _BUILDER
    if _BUILDER is None:
        forced = os.environ.get("EXXO_TEST_BOOT")
        real = real_runtime() if forced != "harness" else None
        if real is not None:
            _BUILDER = Builder(real, real, "runtime")
        elif forced != "runtime":
            _BUILDER = Builder(fake_runtime(), Path(host_python()), "harness")
        else:
            from exxo.runtime.bootstrap import ensure_runtime

            rt = ensure_runtime(os.environ.get("EXXO_TEST_PYTHON", "3.13"))
            _BUILDER = Builder(rt.python, rt.python, "runtime")
    return _BUILDER


def members_from_dir(root: Path, prefix: str = "") -> list[archive.Member]:
    """Every file under `root` as members (e.g. a `pip install --target` directory), without bytecode caches."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and "__pycache__/" not in rel and not rel.endswith(".pyc"):
            out.append(archive.Member(prefix + rel, path.read_bytes()))
    return out


def pip_target(python: Path, requirements: Sequence[str]) -> Path:
    """`pip install --target` of binary wheels for `python`'s ABI, cached per (CPython version, requirements)."""
    tag = subprocess.run([str(python), "-I", "-S", "-c", "import sys; print('%d%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    key = hashlib.sha256(("\0".join(sorted(requirements)) + "\0cp" + tag).encode()).hexdigest()[:16]
    final = cache_root() / "targets" / key
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{key}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    # The host's pip, told the target's tags (the runtime may have no pip, and an old pip cannot run on 3.13).
    platforms = ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "linux_x86_64"]
    platforms += [f"manylinux_2_{n}_x86_64" for n in range(5, 37)]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-compile", "--only-binary", ":all:",
                    "--python-version", tag, "--implementation", "cp", "--abi", f"cp{tag}", "--abi", "abi3",
                    "--abi", "none", *(x for p in platforms for x in ("--platform", p)), "--target", str(tmp),
                    *requirements], check=True, capture_output=True)
    os.replace(tmp, final)
    return final
