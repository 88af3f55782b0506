"""The gcc-cc wrapper's PGO/LTO link step (exxo.runtime.gcclink): what zig's link is given."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from exxo.runtime import gcclink


def test_gcc_flags_never_reach_zig_and_an_instrumented_link_gets_libgcov() -> None:
    args = ["-fprofile-generate", "-o", "python", "a.o", "-lm"]
    assert gcclink.zig_args(args, "/gcc/libgcov.a") == ["-o", "python", "a.o", "-lm", "/gcc/libgcov.a"]
    lto = ["-flto=2", "-ffat-lto-objects", "-fuse-linker-plugin", "-o", "x", "a.o"]
    assert gcclink.zig_args(lto, "/gcc/libgcov.a") == ["-o", "x", "a.o"]


def test_only_the_interpreter_is_merged(tmp_path: Path) -> None:
    obj = tmp_path / "a.o"
    obj.write_bytes(b"\x7fELF ... .gnu.lto_main ...")
    args = ["-flto=2", "-o", str(tmp_path / "_freeze_module"), str(obj)]
    assert gcclink.lto_merge(args, "2") == args  # fat objects: linked as they are
    plain = ["-o", str(tmp_path / "python"), str(obj)]
    assert gcclink.lto_merge(plain, "2") == plain  # no -flto on the link: no LTO


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc with its LTO plugin")
def test_lto_merge_inlines_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.c").write_text("int helper(int);\nint run(int n){int s=0;for(int i=0;i<n;i++)s+=helper(i);"
                                  "return s;}\n")
    (tmp_path / "b.c").write_text("int helper(int x){return 3*x+1;}\n")
    for name in ("a", "b"):
        subprocess.run(["gcc", "-O2", "-fPIC", "-flto", "-ffat-lto-objects", "-c", f"{name}.c"], cwd=tmp_path,
                       check=True)
    args = ["-flto=1", "-shared", "-o", str(tmp_path / "python"), str(tmp_path / "a.o"), str(tmp_path / "b.o"), "-lc"]
    out = gcclink.lto_merge(args, "1")
    merged = str(tmp_path / "python.lto.o")
    assert out == ["-flto=1", "-shared", "-o", str(tmp_path / "python"), merged, "-lc"]
    dis = subprocess.run(["objdump", "-d", merged], capture_output=True, text=True, check=True).stdout
    run_body = dis.split("<run>:", 1)[1].split("\n\n", 1)[0]
    assert "helper" not in run_body  # inlined across the two files
    assert ".gnu.lto_" not in subprocess.run(["objdump", "-h", merged], capture_output=True, text=True,
                                              check=True).stdout  # an ordinary object: zig can link it


def test_lto_codegen_matches_the_compiles():
    """The link-time optimisation generates the same kind of code as the wrapper's compiles (non-PIC, extern
    data through the GOT): gcclink.py repeats toolchain.GCC_CODEGEN, since it runs without exxo importable."""
    from exxo.runtime import toolchain

    assert set(toolchain.GCC_CODEGEN) <= set(gcclink.LTO_CODEGEN)
    assert "-fPIC" not in gcclink.LTO_CODEGEN
