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


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and proc.stderr.startswith(("exxo: error", "exxo: [", "----")), proc.stderr


# ---- `exxo build` refuses the venv before any runtime is needed ------------------------------------------


def test_no_venv(tmp_path: Path) -> None:
    proc = exxo("build", cwd=tmp_path)
    assert proc.returncode == 4 and "no exxo venv" in proc.stderr and "exxo venv /tmp/env" in proc.stderr
    no_traceback(proc)


def test_venv_does_not_exist(tmp_path: Path) -> None:
    proc = exxo("build", "--venv", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 4 and "does not exist" in proc.stderr and "exxo venv DIR" in proc.stderr


def test_not_a_virtualenv(tmp_path: Path) -> None:
    proc = exxo("build", cwd=tmp_path, env={"VIRTUAL_ENV": str(tmp_path)})
    assert proc.returncode == 4 and "not a virtualenv (no pyvenv.cfg)" in proc.stderr


def test_plain_venv(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
    proc = exxo("build", "--venv", str(tmp_path / "env"), cwd=tmp_path)
    assert proc.returncode == 4 and "not an exxo venv" in proc.stderr and "exxo venv DIR" in proc.stderr
    no_traceback(proc)


def test_exxo_venv_whose_runtime_is_gone(tmp_path: Path) -> None:
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(tmp_path / "deleted-runtime" / "bin" / "python3.13")
    (env / "pyvenv.cfg").write_text(f"home = {tmp_path}/deleted-runtime/bin\nexxo = 0.1.0\nexxo-python = 3.13.15\n"
                                    f"exxo-runtime = {tmp_path}/deleted-runtime\n")
    proc = exxo("build", "--venv", str(env), cwd=tmp_path)
    assert proc.returncode == 4 and "lost its interpreter" in proc.stderr and "--clear" in proc.stderr


def test_usage_errors(tmp_path: Path) -> None:
    both = exxo("build", "--main", "a:b", "--entry", "x", cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    assert exxo("build", "--native", "disk", cwd=tmp_path).returncode == 2


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
