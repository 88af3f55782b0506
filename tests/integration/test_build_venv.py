"""`exxo venv`: a standard venv on the runtime (activate scripts, pip, sdists), the existing-ENVDIR rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from exxo import archive
from exxo.runtime.bootstrap import Runtime
from exxo.runtime.selfhost import write_runtime
from exxo.venv import create, read_cfg
from tests.integration.helpers import exxo, fixture


@pytest.mark.runtime
def test_a_standard_venv_on_the_runtime(exxo_venv: Path, runtime: Runtime) -> None:
    cfg = read_cfg(exxo_venv)
    assert cfg["exxo-python"] == runtime.version and cfg["exxo"] and cfg["exxo-runtime"] == str(runtime.dir)
    assert (exxo_venv / "bin" / "python").resolve() == runtime.python.resolve()
    for script in ("activate", "activate.fish", "activate.csh", "Activate.ps1", "pip"):
        assert (exxo_venv / "bin" / script).is_file(), script
    # activate works in a shell: the venv's python and pip come first on PATH
    shell = subprocess.run(["bash", "-c", f". {exxo_venv}/bin/activate && command -v python && "
                            "python -c 'import sys; print(sys.prefix)' && pip --version"],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert shell.returncode == 0, shell.stderr
    lines = shell.stdout.splitlines()
    assert lines[0] == f"{exxo_venv}/bin/python" and lines[1] == str(exxo_venv)
    assert lines[2].startswith("pip ") and str(exxo_venv) in lines[2]


@pytest.mark.runtime
def test_again_is_a_no_op(exxo_venv: Path, runtime: Runtime) -> None:
    before = (exxo_venv / "pyvenv.cfg").read_text()
    again = exxo("venv", exxo_venv)
    assert again.returncode == 0 and f"already an exxo venv for CPython {runtime.version}" in again.stdout
    assert (exxo_venv / "pyvenv.cfg").read_text() == before


@pytest.mark.runtime
def test_clear_replaces_a_non_empty_directory(runtime: Runtime, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "file").write_text("x")
    refused = exxo("venv", other)
    assert refused.returncode == 4
    assert "a non-empty directory, not a virtualenv" in refused.stderr and "--clear" in refused.stderr
    assert (other / "file").exists()
    cleared = exxo("venv", other, "--clear")
    assert cleared.returncode == 0, cleared.stderr
    assert not (other / "file").exists() and (other / "bin" / "python").exists()
    assert read_cfg(other)["exxo-python"] == runtime.version


def test_refusals_need_no_runtime(tmp_path: Path) -> None:
    # each is refused before any runtime is looked up or built
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = exxo("venv", afile)
    assert proc.returncode == 4 and "not a directory" in proc.stderr and afile.read_text() == "x"
    older = tmp_path / "older"
    older.mkdir()
    (older / "pyvenv.cfg").write_text("home = /x\nexxo = 0.1.0\nexxo-python = 3.11.2\n")
    proc = exxo("venv", older, "-p", "3.13")
    assert proc.returncode == 4 and "an exxo venv for CPython 3.11.2, not 3.13" in proc.stderr
    assert f"exxo venv {older} -p 3.13 --clear" in proc.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "pyvenv.cfg").write_text("home = /usr/bin\n")
    proc = exxo("venv", plain)
    assert proc.returncode == 4 and "a virtualenv not made by exxo" in proc.stderr
    proc = exxo("venv", ".", "--clear", cwd=plain)
    assert proc.returncode == 4 and "refusing to --clear" in proc.stderr and (plain / "pyvenv.cfg").exists()
    assert "Traceback" not in proc.stderr


def test_version_from_pyproject_and_unknown_versions(tmp_path: Path) -> None:
    proc = exxo("venv", tmp_path / "env", "-p", "2.7")
    assert proc.returncode == 4 and "not in exxo's pinned table" in proc.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.exxo]\npython = "2.7"\n')
    proc = exxo("venv", tmp_path / "env", cwd=tmp_path)  # no -p: [tool.exxo] python is used
    assert proc.returncode == 4 and "2.7" in proc.stderr and not (tmp_path / "env").exists()


@pytest.mark.runtime
def test_pip_from_pypi_when_the_runtime_has_no_ensurepip_wheel(runtime: Runtime, tmp_path: Path) -> None:
    # A copy of the runtime whose stdlib zip lacks ensurepip's bundled wheel (a hand-built or trimmed runtime).
    trimmed = tmp_path / "runtime"
    shutil.copytree(runtime.dir, trimmed, symlinks=True)
    elf, stdlib_zip = archive.split_runtime(runtime.python)
    assert stdlib_zip is not None
    stdlib = {n: stdlib_zip.read(n) for n in stdlib_zip.namelist()
              if not n.endswith("/") and "ensurepip/_bundled/" not in n}
    write_runtime(trimmed / "bin" / runtime.python.name, elf, stdlib)
    env = create(tmp_path / "env", Runtime(trimmed, runtime.version))
    pip = subprocess.run([str(env / "bin" / "pip"), "--version"], capture_output=True, text=True)
    assert pip.returncode == 0 and str(env) in pip.stdout, pip.stderr
    assert (env / "bin" / "activate").is_file()


@pytest.mark.runtime
def test_sdist_with_c_extension_builds_in_the_venv(exxo_venv: Path, tmp_path: Path) -> None:
    # compiled with the runtime's sysconfig (compiler flags, headers under the runtime dir)
    src = fixture("cext-sdist", tmp_path)  # a copy: setuptools writes build/ into the source tree
    proc = subprocess.run([str(exxo_venv / "bin" / "pip"), "install", "--target", str(tmp_path / "t"), str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = subprocess.run([str(exxo_venv / "bin" / "python"), "-c", "import cext_app._fast as f; print(f.add(1, 2))"],
                         capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path / "t")})
    assert ran.stdout == "3\n", ran.stderr
