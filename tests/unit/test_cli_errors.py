"""Error paths of the CLI: clear messages, documented exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def exxo(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | (env or {})
    return subprocess.run([sys.executable, "-m", "exxo", *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env)


def test_build_without_venv(tmp_path: Path) -> None:
    proc = exxo("build", cwd=tmp_path)
    assert proc.returncode == 4
    assert "no exxo venv" in proc.stderr and "exxo venv" in proc.stderr and "Traceback" not in proc.stderr


def test_build_with_plain_venv(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
    proc = exxo("build", "--venv", str(tmp_path / "env"), cwd=tmp_path)
    assert proc.returncode == 4
    assert "not an exxo venv" in proc.stderr


def test_bootstrap_unknown_version() -> None:
    proc = exxo("bootstrap", "-p", "2.7")
    assert proc.returncode == 4 and "not in exxo's pinned table" in proc.stderr


def test_usage_error_exit_code() -> None:
    assert exxo("frobnicate").returncode == 2


def test_reference_doc_is_current() -> None:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(root / "tools" / "gen-reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
