"""Every error of `exxo build` about the project, with an exxo venv: the message, the hint and the exit code
(3 build failed, 4 bad input). Those refused before any runtime is needed (no venv, a plain venv, usage):
tests/unit/test_cli_errors.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers import exxo, fixture


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and proc.stderr.startswith(("exxo: error", "exxo: [", "----")), proc.stderr


# ---- the project (an exxo venv needed) ----------------------------------------------------------------


runtime = pytest.mark.runtime


@runtime
def test_not_a_project(exxo_venv: Path, tmp_path: Path) -> None:
    proc = exxo("build", "-s", tmp_path, "--venv", exxo_venv)
    assert proc.returncode == 4 and "not a Python project" in proc.stderr and "-s SRC" in proc.stderr
    missing = exxo("build", "-s", tmp_path / "nope", "--venv", exxo_venv)
    assert missing.returncode == 4 and "does not exist" in missing.stderr


@runtime
def test_pip_cannot_build_the_project(exxo_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "setup.py").write_text("raise SystemExit('this setup.py is broken on purpose')\n")
    proc = exxo("build", "-s", tmp_path, "--venv", exxo_venv)
    assert proc.returncode == 3
    assert "broken on purpose" in proc.stderr  # pip's own output, from the log's tail
    assert "pip building and installing" in proc.stderr and "pip install ." in proc.stderr


@runtime
def test_requirement_pip_cannot_install(exxo_venv: Path, tmp_path: Path) -> None:
    src = fixture("cli-pure", tmp_path)
    text = (src / "pyproject.toml").read_text()
    dep = f"ghost @ file://{tmp_path}/no-such-dir"
    (src / "pyproject.toml").write_text(text.replace('requires-python = ">=3.11"',
                                                     f'requires-python = ">=3.11"\ndependencies = ["{dep}"]'))
    proc = exxo("build", "-s", src, "--venv", exxo_venv)
    assert proc.returncode == 3 and "requirements of cli-pure" in proc.stderr and "ghost" in proc.stderr
    no_traceback(proc)


@runtime
def test_entry_point_errors(exxo_venv: Path, tmp_path: Path) -> None:
    two = fixture("two-scripts", tmp_path)
    proc = exxo("build", "-s", two, "--venv", exxo_venv)
    assert proc.returncode == 4 and "2 console scripts" in proc.stderr
    assert "--entry two-server" in proc.stderr and "--entry two_admin" in proc.stderr
    unknown = exxo("build", "-s", two, "--venv", exxo_venv, "--entry", "three")
    assert unknown.returncode == 4 and "no console script named 'three'" in unknown.stderr
    assert "two-server, two_admin" in unknown.stderr
    bad_main = exxo("build", "-s", two, "--venv", exxo_venv, "--main", "two-server")
    assert bad_main.returncode == 4 and "is not MODULE:FUNCTION" in bad_main.stderr
    none = exxo("build", "-s", fixture("no-scripts", tmp_path), "--venv", exxo_venv)
    assert none.returncode == 4 and "declares no console script" in none.stderr
    assert "[project.scripts]" in none.stderr and "--main MODULE:FUNCTION" in none.stderr
    for p in (proc, unknown, bad_main, none):
        no_traceback(p)


@runtime
@pytest.mark.parametrize(("config", "message"), [
    ('python = "3.12"', "python = '3.12', but the venv"),
    ('compress = "yes"', "must be true or false"),
    ('native = "disk"', "is not memfd or cache"),
    ('entrypoint = "x"', "unknown key(s) in [tool.exxo]"),
])
def test_bad_config(exxo_venv: Path, tmp_path: Path, config: str, message: str) -> None:
    src = fixture("cli-pure", tmp_path)
    with open(src / "pyproject.toml", "a") as f:
        f.write(f"\n[tool.exxo]\n{config}\n")
    proc = exxo("build", "-s", src, "--venv", exxo_venv)
    assert proc.returncode == 4 and message in proc.stderr, proc.stderr
    no_traceback(proc)


@runtime
def test_compress_without_upx_says_what_to_do(exxo_venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = exxo("build", "-s", fixture("cli-pure", tmp_path), "--venv", exxo_venv, "-c", "-o", out,
                env={"EXXO_UPX": "", "PATH": "/nonexistent"})
    assert proc.returncode == 3 and "upx is not installed" in proc.stderr
    assert "apt-get install upx-ucl" in proc.stderr and "tools/build-upx.sh" in proc.stderr
    assert not out.exists()  # refused before building anything
