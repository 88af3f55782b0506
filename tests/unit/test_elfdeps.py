"""exxo.elfdeps: each bundled DT_NEEDED name resolved as the dynamic loader would in site-packages."""

from __future__ import annotations

from typing import Any

from exxo.elfdeps import resolve_needed


def lib(soname: str | None = None, needed: tuple[str, ...] = (), runpath: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"soname": soname, "needed": list(needed), "runpath": list(runpath)}


def test_runpath_by_file_name_wins_over_an_identical_copy_with_that_soname() -> None:
    facts = {"d.libs/libfoo-1a2b.so": lib("libfoo.so"), "d.libs/libfoo.so": lib("libfoo.so"),
             "d/ext.so": lib(needed=("libfoo.so", "libc.so.6"), runpath=("$ORIGIN/../d.libs",))}
    resolve_needed(facts)
    assert facts["d/ext.so"]["deps"] == {"libfoo.so": "d.libs/libfoo.so"}  # libc is not bundled


def test_without_a_runpath_hit_a_library_loaded_under_that_soname_then_a_file_of_that_name() -> None:
    facts = {"a/libbar-9.so": lib("libbar.so.1"), "b/libbar.so.1": lib("libbar-other.so"),
             "c/libbaz.so": lib(None), "x/ext.so": lib(needed=("libbar.so.1", "libbaz.so"), runpath=("/usr/lib",)),
             "y/${ORIGIN}.so": lib(needed=("libbaz.so",), runpath=("${ORIGIN}/../c",))}
    resolve_needed(facts)
    assert facts["x/ext.so"]["deps"] == {"libbar.so.1": "a/libbar-9.so", "libbaz.so": "c/libbaz.so"}
    assert facts["y/${ORIGIN}.so"]["deps"] == {"libbaz.so": "c/libbaz.so"}


def test_never_itself_and_paths_are_left_to_the_loader() -> None:
    facts = {"p/libself.so": lib("libself.so", needed=("libself.so", "/opt/lib/libq.so"))}
    resolve_needed(facts)
    assert facts["p/libself.so"]["deps"] == {}
