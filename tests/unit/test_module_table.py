"""modules.toml per version, and the check against a source tree's Modules/Setup.stdlib.in."""

from __future__ import annotations

from pathlib import Path

import pytest

from exxo.errors import BuildError
from exxo.runtime.cpython import check_module_table, module_table


def test_absent_modules_leave_the_table() -> None:
    b313, e313 = module_table("3.13")
    b314, _ = module_table("3.14")
    b311, e311 = module_table("3.11")
    assert {"_datetime", "_opcode", "_contextvars"} <= set(b313)
    assert not {"_datetime", "_opcode", "_contextvars"} & set(b314)  # Setup.bootstrap.in since 3.14
    assert {"_zstd", "_hmac", "_remote_debugging"} <= set(b314)
    assert {"_sha256", "_sha512", "audioop"} <= set(b311) and "_sha2" not in b311
    assert "xxsubtype" in e313 and "xxsubtype" not in e311
    assert {"_crypt", "nis"} <= set(e311)
    for builtin, excluded in ((b313, e313), (b311, e311), (b314, module_table("3.14")[1])):
        assert len(builtin) == len(set(builtin)) and not set(builtin) & set(excluded)


def _tree(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "Modules").mkdir(parents=True)
    (tmp_path / "Modules" / "Setup.stdlib.in").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_commented_setup_py_modules_count_and_new_modules_fail(tmp_path: Path) -> None:
    builtin, excluded = module_table("3.11")
    lines = [f"@MODULE_{m.upper()}_TRUE@{m} x.c" for m in [*builtin, *excluded]
             if m not in ("_ctypes", "readline")]
    lines += ["#@MODULE__CTYPES_TRUE@_ctypes _ctypes/_ctypes.c", "#@MODULE_READLINE_TRUE@readline readline.c"]
    check_module_table(_tree(tmp_path / "ok", lines), "3.11")  # 3.11's setup.py modules are commented out
    with pytest.raises(BuildError, match="not in the table: _newmod"):
        check_module_table(_tree(tmp_path / "new", [*lines, "@MODULE__NEWMOD_TRUE@_newmod n.c"]), "3.11")
