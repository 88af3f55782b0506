"""elfhide: symbols of a real static archive become hidden, and still link."""

from __future__ import annotations

import subprocess
from pathlib import Path

from exxo.runtime.elfhide import hide_archive_symbols


def test_hidden_symbols_link_but_are_not_exported(tmp_path: Path) -> None:
    (tmp_path / "lib.c").write_text("int lib_answer(void) { return 42; }\n")
    (tmp_path / "main.c").write_text("int lib_answer(void);\nint main(void) { return lib_answer() == 42 ? 0 : 1; }\n")
    subprocess.run(["gcc", "-c", "-fPIC", "lib.c", "-o", "lib.o"], cwd=tmp_path, check=True)
    subprocess.run(["ar", "rcs", "liblib.a", "lib.o"], cwd=tmp_path, check=True)
    assert hide_archive_symbols(tmp_path / "liblib.a", tmp_path / "liblib.a") == 1
    subprocess.run(["gcc", "main.c", "-o", "main", "-Wl,-export-dynamic", "-L.", "-llib"], cwd=tmp_path, check=True)
    assert subprocess.run([str(tmp_path / "main")]).returncode == 0
    dynsym = subprocess.run(["objdump", "-T", str(tmp_path / "main")], capture_output=True, text=True).stdout
    assert "lib_answer" not in dynsym
    assert "main" in dynsym  # -export-dynamic still exports the program's own symbols
