"""elfhide: symbols of a real static archive become hidden, and still link."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from exxo.runtime.elfhide import hide_archive_symbols


def dynamic_symbols(path: Path) -> set[str]:
    """The names the executable exports: its .dynsym entries that are defined in it."""
    with open(path, "rb") as f:
        section = ELFFile(f).get_section_by_name(".dynsym")
        assert isinstance(section, SymbolTableSection)
        return {s.name for s in section.iter_symbols() if s["st_shndx"] != "SHN_UNDEF"}


def visibility(obj: bytes, name: str) -> str:
    section = ELFFile(io.BytesIO(obj)).get_section_by_name(".symtab")
    assert isinstance(section, SymbolTableSection)
    (symbol,) = section.get_symbol_by_name(name)
    return str(symbol["st_other"]["visibility"])


def test_hidden_symbols_link_but_are_not_exported(tmp_path: Path) -> None:
    (tmp_path / "lib.c").write_text("int lib_answer(void) { return 42; }\n")
    (tmp_path / "main.c").write_text("int lib_answer(void);\nint app_visible(void) { return 1; }\n"
                                     "int main(void) { return lib_answer() == 42 && app_visible() ? 0 : 1; }\n")
    subprocess.run(["gcc", "-c", "-fPIC", "lib.c", "-o", "lib.o"], cwd=tmp_path, check=True)
    subprocess.run(["ar", "rcs", "liblib.a", "lib.o"], cwd=tmp_path, check=True)
    assert hide_archive_symbols(tmp_path / "liblib.a", tmp_path / "hidden.a") == 1
    subprocess.run(["ar", "x", str(tmp_path / "hidden.a"), "lib.o"], cwd=tmp_path, check=True)
    assert visibility((tmp_path / "lib.o").read_bytes(), "lib_answer") == "STV_HIDDEN"

    for archive, exe in (("liblib.a", "plain"), ("hidden.a", "main")):
        subprocess.run(["gcc", "main.c", "-o", exe, "-Wl,-export-dynamic", archive], cwd=tmp_path, check=True)
        assert subprocess.run([str(tmp_path / exe)]).returncode == 0
    # -export-dynamic exports every global symbol of the program, the library's too unless it is hidden.
    assert {"lib_answer", "app_visible"} <= dynamic_symbols(tmp_path / "plain")
    exported = dynamic_symbols(tmp_path / "main")
    assert "app_visible" in exported and "lib_answer" not in exported
