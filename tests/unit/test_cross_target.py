"""Cross targets (aarch64): names and keys, the refusal of another processor's native code, the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from exxo.archive import Member
from exxo.build import check_native_target
from exxo.errors import BuildError, InputError
from exxo.runtime import bootstrap, deps, sources, toolchain

PY313 = sources.resolve("3.13")


def elf(machine: int) -> bytes:
    return b"\x7fELF" + bytes(14) + machine.to_bytes(2, "little") + bytes(44)


def test_aarch64_runtime_has_its_own_dir_and_key() -> None:
    x86, arm = bootstrap.runtime_dir(PY313), bootstrap.runtime_dir(PY313, "aarch64")
    assert x86.name == f"cpython-3.13.15-{bootstrap.recipe_hash(PY313)}"
    assert arm.name == f"cpython-3.13.15-aarch64-{bootstrap.recipe_hash(PY313, 'aarch64')}"
    assert bootstrap.recipe_hash(PY313) != bootstrap.recipe_hash(PY313, "aarch64")
    inputs = bootstrap.recipe_inputs(PY313, "aarch64")
    assert any(line.startswith("target aarch64-linux-gnu.2.17 cpu generic") for line in inputs)
    assert not any(line.startswith(("gcc ", "env EXXO_RUNTIME_OPT=")) for line in inputs)  # not used there
    assert any(line.startswith("target x86_64-linux-gnu.2.17") for line in bootstrap.recipe_inputs(PY313))


def test_library_keys_differ_by_target(tmp_path: Path) -> None:
    x86 = toolchain.zig_toolchain(tmp_path / "x86")
    try:
        arm = toolchain.zig_toolchain(tmp_path / "arm", target="aarch64")
    except BuildError as exc:  # no cross libgcc.a here
        pytest.skip(str(exc))
    assert arm.cross and not x86.cross and arm.host_args() == ["--build=x86_64-linux-gnu", "--host=aarch64-linux-gnu"]
    for name in deps.RECIPES:
        assert deps.recipe_hash(name, x86) != deps.recipe_hash(name, arm)
    assert "aarch64-linux-gnu.2.17" in (tmp_path / "arm" / "cc").read_text()


def test_target_names() -> None:
    assert toolchain.check_target("arm64") == "aarch64" and toolchain.check_target("amd64") == "x86_64"
    with pytest.raises(BuildError, match="unknown target 'riscv64'") as err:
        toolchain.check_target("riscv64")
    assert "x86_64, aarch64" in (err.value.hint or "")


def test_foreign_native_code_is_refused_by_name() -> None:
    members = [Member("lib/python3.13/site-packages/a.py", b"x = 1\n"),
               Member("lib/python3.13/site-packages/fast.cpython-313-x86_64-linux-gnu.so", elf(62)),
               Member("lib/python3.13/site-packages/ok.so", elf(183))]
    check_native_target(members[::2], "aarch64")  # pure Python and aarch64 code: fine
    with pytest.raises(InputError, match=r"fast\.cpython-313-x86_64-linux-gnu\.so \(x86_64\)") as err:
        check_native_target(members, "aarch64")
    assert "ok.so" not in str(err.value)
