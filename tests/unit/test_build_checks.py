"""The member checks of `exxo build` at unit level: the 4 GiB check on a real 4 GiB buffer that costs no memory
(a sparse file mapped with mmap); tests/integration/test_build_checks.py builds with a real 4 GiB file (slow)."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest

from exxo.archive import Member
from exxo.checks import SIZE_LIMIT, check_members, defines, site_relative
from exxo.errors import EXIT_INPUT, InputError


def test_a_member_of_4_gib_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(SIZE_LIMIT + 1)  # 4 GiB: one byte more than the zip's 32-bit size field holds
    with open(big, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        with pytest.raises(InputError) as info:
            check_members([Member("pkg/small.txt", b"x"), Member("pkg/data/big.bin", data)])  # type: ignore[arg-type]
    assert info.value.exit_code == EXIT_INPUT
    assert "pkg/data/big.bin is 4.0 GiB: an exxo binary cannot hold a file of 4 GiB or more" in info.value.message
    assert 'exclude = ["pkg/data/big.bin"]' in (info.value.hint or "")


def test_the_largest_member_that_fits_passes(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(SIZE_LIMIT)
    with open(big, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        check_members([Member("pkg/big.bin", data)])  # type: ignore[arg-type]


@pytest.mark.parametrize(("source", "expected"), [
    ("def main(): pass", True),
    ("x = 1", False),
    ("if True:\n    def main(): pass", True),
    ("try:\n    from a import main\nexcept ImportError:\n    main = None", True),
    ("for main in []: pass", True),
    ("def f():\n    def main(): pass", False),  # not at module level
    ("main: int = 3", True),
    ("from x import *", None),  # cannot be told without running it
    ("def __getattr__(name): pass", None),
    ("globals()['main'] = print", None),
    ("def f():\n    global main\n    main = 1", None),
    ("def f(:", None),
])
def test_defines(source: str, expected: bool | None) -> None:
    assert defines(source, "main") is expected


def test_names_under_the_site_packages_prefix() -> None:
    assert site_relative("lib/python3.13/site-packages/pkg/mod.py") == "pkg/mod.py"
    assert site_relative("pkg/mod.py") == "pkg/mod.py"
    assert site_relative("lib/python3.13/json/__init__.pyc") == "lib/python3.13/json/__init__.pyc"
    with pytest.raises(InputError) as info:
        check_members([Member("lib/python3.13/site-packages/pkg/caf\udce9.txt", b"")])
    assert info.value.message.startswith("the file name b'pkg/caf\\xe9.txt' in site-packages is not UTF-8")
