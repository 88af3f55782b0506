"""Bundled libraries are the ones the dynamic loader would pick in site-packages, in both native modes (issue 12,
item 9): a wheel that ships identical copies of one library under two file names with one SONAME
(`dup.libs/libfoo-1a2b3c.so` and `dup.libs/libfoo.so`), and a library that needs `libfoo.so` through its
RUNPATH `$ORIGIN/../dup.libs`. Resolving that name by SONAME picked the other copy, which the loader never looks
for: cache mode failed to load. The same tree works from a plain directory on disk (the fair check)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.boot_harness import Builder, members_from_dir

FOO_C = "int foo(void) { return 41; }\n"
CONSUMER_C = "int foo(void);\nint consume(void) { return foo() + 1; }\n"
APP = """import ctypes, os


def main():
    lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), "libconsumer.so"))
    print("consume", lib.consume())
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site-packages directory with the two copies and the library that needs one of them."""
    if shutil.which("gcc") is None:
        pytest.fail("needs gcc (build-essential, installed by `make test`)")
    src = tmp_path_factory.mktemp("src")
    (src / "foo.c").write_text(FOO_C)
    (src / "consumer.c").write_text(CONSUMER_C)
    sp = tmp_path_factory.mktemp("site-packages")
    (sp / "dup").mkdir()
    (sp / "dup.libs").mkdir()
    (sp / "dup" / "__init__.py").write_text(APP)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(src / "libfoo.so"), "-Wl,-soname,libfoo.so",
                    str(src / "foo.c")], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(sp / "dup" / "libconsumer.so"), str(src / "consumer.c"),
                    f"-L{src}", "-lfoo", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../dup.libs"], check=True)
    shutil.copy(src / "libfoo.so", sp / "dup.libs" / "libfoo-1a2b3c.so")  # sorts first: the SONAME's first match
    shutil.copy(src / "libfoo.so", sp / "dup.libs" / "libfoo.so")
    return sp


def test_the_tree_works_from_disk(tree: Path) -> None:
    proc = subprocess.run(["/usr/bin/python3", "-c", "import dup; dup.main()"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "consume 42\n"), proc.stderr


@pytest.mark.parametrize("mode", ["memfd", "cache"])
def test_both_modes_load_the_copy_the_loader_would(b: Builder, tree: Path, tmp_path: Path, mode: str) -> None:
    members = members_from_dir(tree, f"lib/python{b.minor}/site-packages/")
    binary = b.build(tmp_path / "app", members, "dup:main", native=mode)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([str(binary)], capture_output=True, text=True, env=env | {"EXXO_NATIVE": mode},
                          timeout=120)
    assert (proc.returncode, proc.stdout) == (0, "consume 42\n"), proc.stderr
    if mode == "cache":  # the loader followed RUNPATH to the file of the name it was given
        written = sorted(p.name for p in (tmp_path / "cache").rglob("*.so"))
        assert "libfoo.so" in written and os.path.getsize(tree / "dup.libs" / "libfoo.so") > 0
