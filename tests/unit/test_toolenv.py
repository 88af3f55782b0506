"""`exxo build REQ...`: what keys the private venv, and the pip command line it is made with (no pip run)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from exxo import toolenv
from exxo.errors import InputError
from exxo.runtime.bootstrap import Runtime


def args(**given: object) -> argparse.Namespace:
    base: dict[str, object] = {"requirements": [], "requirement": None, "constraint": None, "index_url": None,
                               "find_links": None, "no_index": False}
    return argparse.Namespace(**(base | given))


def test_pip_args_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "req.txt").write_text("httpie\n")
    (tmp_path / "c.txt").write_text("requests<3\n")
    (tmp_path / "wheels").mkdir()
    request = toolenv.PipRequest.from_args(args(requirements=["black[d]>=24"], requirement=["req.txt"],
                                                constraint=["c.txt"], index_url="https://example.invalid/simple",
                                                find_links=["wheels"], no_index=True))
    assert request.pip_args() == ["black[d]>=24", "-r", str(tmp_path / "req.txt"), "-c", str(tmp_path / "c.txt"),
                                  "--index-url", "https://example.invalid/simple",
                                  "--find-links", str(tmp_path / "wheels"), "--no-index"]


def test_missing_requirement_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="-r .*nope.txt: no such file"):
        toolenv.PipRequest.from_args(args(requirement=[str(tmp_path / "nope.txt")]))


def test_key_follows_what_decides_the_install(tmp_path: Path) -> None:
    runtime = Runtime(tmp_path / "cpython-3.13.15-0123456789abcdef", "3.13.15")
    req = tmp_path / "req.txt"
    req.write_text("httpie\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()

    def key(**given: object) -> str:
        return toolenv.PipRequest.from_args(args(**given)).key(runtime)

    base = key(requirements=["httpie"])
    assert base == key(requirements=["httpie"])  # stable: the same command line reuses the venv
    assert base != key(requirements=["httpie==3.2.4"]) != key(requirements=["httpie"], no_index=True)
    assert key(requirements=["httpie"]) != toolenv.PipRequest(["httpie"]).key(Runtime(tmp_path / "other", "3.13.15"))
    with_file = key(requirement=[str(req)])
    req.write_text("httpie==3.2.4\n")
    assert key(requirement=[str(req)]) != with_file  # the file's contents count, not only its name
    linked = key(requirements=["httpie"], find_links=[str(wheels)])
    (wheels / "httpie-3.2.4-py3-none-any.whl").write_bytes(b"")
    assert key(requirements=["httpie"], find_links=[str(wheels)]) != linked  # a new wheel in the wheelhouse


def test_names_given_on_the_command_line() -> None:
    assert toolenv.named_in_arguments(["HTTPie", "black[d]>=24", "./dist/x.whl", "Zope.Interface"]) == \
        ["httpie", "black", "zope-interface"]
