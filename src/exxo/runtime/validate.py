"""The ELF validator, run on every runtime `exxo bootstrap` builds (and by the tests).

Fails the build when the executable
- is not for the processor it was built for (x86-64, or aarch64 when cross-built),
- needs a shared library outside glibc's own set,
- exports a dynamic symbol that is not Python's C API (OpenSSL, SQLite, libffi... must stay private),
- lacks a C-API symbol that manylinux extensions use,
- needs a glibc symbol version above the cap (default 2.17, the manylinux2014 baseline),
- defines libm/libc functions itself (zig's compiler_rt shadowing glibc's `log2`: wrong results),
- or cannot import a built-in module of the table.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection
from packaging.version import Version

from exxo import probes
from exxo.common import GLIBC_FLOOR
from exxo.errors import ValidationError

ALLOWED_NEEDED = {
    "libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2", "librt.so.1",
    "libutil.so.1", "libcrypt.so.1", "ld-linux-aarch64.so.1",
}
# Symbols every executable may export besides the C API (linker-made markers).
_LINKER_SYMBOLS = {"_init", "_fini", "_start", "__bss_start", "_end", "_edata", "__data_start", "data_start",
                   "_IO_stdin_used", "__dso_handle", "__libc_csu_init", "__libc_csu_fini", "main"}
# The launcher's file-system view (launcher/fsview.c) defines these libc entry points so that paths inside the
# binary work for every caller; they must be exported (that is how wheels' code reaches them) and nothing
# else of libc may be. tests/unit/test_fsview_symbols.py checks this list against fsview.c.
FSVIEW_EXPORTS = frozenset({
    "open", "open64", "openat", "openat64", "__open_2", "__open64_2", "__openat_2", "__openat64_2",
    "creat", "creat64", "fopen", "fopen64",
    "stat", "stat64", "lstat", "lstat64", "fstatat", "fstatat64", "fstat", "fstat64", "statx",
    "__xstat", "__xstat64", "__lxstat", "__lxstat64", "__fxstat", "__fxstat64", "__fxstatat", "__fxstatat64",
    "access", "faccessat", "euidaccess", "eaccess", "readlink", "readlinkat",
    "realpath", "__realpath_chk", "canonicalize_file_name",
    "opendir", "readdir", "readdir64", "readdir_r", "readdir64_r", "closedir", "dirfd", "rewinddir",
    "telldir", "seekdir", "listxattr", "llistxattr", "getxattr", "lgetxattr",
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "chmod", "fchmodat", "utimensat",
    "truncate", "truncate64", "chdir", "fchdir", "getcwd", "execve", "execv",
})
R_X86_64_COPY = 5
R_COPY = {"EM_X86_64": R_X86_64_COPY, "EM_AARCH64": 1024}  # R_AARCH64_COPY
_CAPI = re.compile(r"^_?(Py|PY)")
# A sample of the C API that real wheels import; all must be exported.
REQUIRED_EXPORTS = ["Py_Initialize", "PyModule_Create2", "PyModule_FromDefAndSpec2", "PyType_Ready",
                    "PyArg_ParseTuple", "PyArg_ParseTupleAndKeywords", "_Py_NoneStruct", "PyExc_TypeError",
                    "PyLong_FromLong", "PyUnicode_FromString", "PyErr_SetString", "PyGILState_Ensure",
                    "_Py_Dealloc", "PyCapsule_Import", "PyObject_GetAttrString", "Py_BuildValue"]
# libm/libc functions that zig's compiler_rt also defines; they must come from glibc.
SHADOW_CHECK = ["log2", "log", "log10", "exp", "exp2", "sin", "cos", "tan", "sqrt", "fma", "fmod", "floor",
                "ceil", "round", "trunc", "memcpy", "memmove", "memset", "memcmp", "strlen"]


@dataclass
class Report:
    path: Path
    needed: list[str] = field(default_factory=list)
    max_glibc: str = "0"
    exported: int = 0
    problems: list[str] = field(default_factory=list)


def _copy_relocated(elf: ELFFile) -> set[str]:
    copy_type = R_COPY.get(elf["e_machine"], R_X86_64_COPY)
    """glibc's data objects the executable holds copies of (R_X86_64_COPY: stdout, stderr, environ...):
    reported as such rather than as foreign exports."""
    rela, dynsym = elf.get_section_by_name(".rela.dyn"), elf.get_section_by_name(".dynsym")
    if not isinstance(rela, RelocationSection) or not isinstance(dynsym, SymbolTableSection):
        return set()
    return {dynsym.get_symbol(r["r_info_sym"]).name for r in rela.iter_relocations()
            if r["r_info_type"] == copy_type}


def inspect_elf(path: Path, glibc_cap: str = GLIBC_FLOOR, machine: str = "EM_X86_64") -> Report:
    report = Report(path)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        if elf["e_machine"] != machine:
            report.problems.append(f"the executable is for {elf['e_machine']}, not {machine}")
        versions: set[str] = set()
        local_defs: set[str] = set()
        copied = _copy_relocated(elf)
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                report.needed = [t.needed for t in section.iter_tags()  # type: ignore[attr-defined]
                                 if t.entry.d_tag == "DT_NEEDED"]
            elif isinstance(section, GNUVerNeedSection):
                for _verneed, aux_iter in section.iter_versions():
                    versions.update(aux.name for aux in aux_iter)
            elif isinstance(section, SymbolTableSection) and section.name == ".dynsym":
                exported = [s.name for s in section.iter_symbols()
                            if s.name and s["st_shndx"] != "SHN_UNDEF"
                            and s["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")]
                report.exported = len(exported)
                foreign = sorted(n for n in exported if not _CAPI.match(n) and n not in _LINKER_SYMBOLS
                                 and n not in copied and n not in FSVIEW_EXPORTS)
                if copied:
                    report.problems.append(
                        f"copy relocations of glibc data ({', '.join(sorted(copied))}): the executable's copy of "
                        "`environ` is not glibc's (os.environ comes out empty); compile with -fPIC")
                if foreign:
                    families = sorted({re.split(r"_", n.lstrip("_"))[0] + "_*" for n in foreign})
                    report.problems.append(
                        f"{len(foreign)} non-Python symbols are exported ({', '.join(families[:12])}); "
                        f"e.g. {', '.join(foreign[:5])}")
                missing = sorted((set(REQUIRED_EXPORTS) | FSVIEW_EXPORTS) - set(exported))
                if missing:
                    report.problems.append(f"C-API symbols not exported: {', '.join(missing)}")
            elif isinstance(section, SymbolTableSection) and section.name == ".symtab":
                local_defs = {s.name for s in section.iter_symbols()
                              if s.name in SHADOW_CHECK and s["st_shndx"] != "SHN_UNDEF"
                              and s["st_info"]["type"] == "STT_FUNC"}
    glibc = sorted((v for v in versions if v.startswith("GLIBC_") and v[6:7].isdigit()),
                   key=lambda v: Version(v[6:]))
    report.max_glibc = glibc[-1][6:] if glibc else "0"
    outside = sorted(set(report.needed) - ALLOWED_NEEDED)
    if outside:
        report.problems.append(f"needs shared libraries outside glibc: {', '.join(outside)}")
    if Version(report.max_glibc) > Version(glibc_cap):
        report.problems.append(f"needs GLIBC_{report.max_glibc}, above the cap GLIBC_{glibc_cap}")
    if local_defs:
        report.problems.append(
            f"defines libm/libc functions itself ({', '.join(sorted(local_defs))}): the toolchain's "
            "compiler runtime shadows glibc's (wrong math results)")
    return report


def check_imports(python: Path, modules: list[str], emulator: list[str] | None = None) -> list[str]:
    """Import each built-in module in the runtime copied alone (under `emulator`, e.g. qemu-user, for another
    processor's); return the problems."""
    proc = subprocess.run([*(emulator or []), *probes.command(python, "check_imports", *modules)],
                          capture_output=True, text=True, timeout=600 if emulator else 120,
                          env={"PATH": "/usr/bin:/bin", "EXXO_VALIDATE": "environ"})
    if proc.returncode != 0:
        return [f"the runtime failed to start: {proc.stderr.strip()[-800:]}"]
    return [f"built-in module missing or broken: {line}" for line in proc.stdout.splitlines() if line]


def validate(elf_path: Path, python: Path | None, modules: list[str], glibc_cap: str = GLIBC_FLOOR,
             machine: str = "EM_X86_64", emulator: list[str] | None = None) -> Report:
    """Raise ValidationError listing every problem; return the report when there is none."""
    report = inspect_elf(elf_path, glibc_cap, machine)
    if python is not None:
        report.problems.extend(check_imports(python, modules, emulator))
    if report.problems:
        raise ValidationError(
            f"the runtime {elf_path} failed validation:\n  - " + "\n  - ".join(report.problems),
            hint="this is a bug in exxo's runtime recipe; please report it with the build log",
        )
    return report
