"""Multi-call binaries (`--all-scripts`) and the `python` names, from a wheel built here (offline).

The wheel has three console scripts and ships its own SBOM (PEP 770, `.dist-info/sboms/`); it is built by
`exxo build WHEEL --all-scripts --no-index` (requirements mode, no project), once for the module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import FIXTURES, exxo, run_clean

pytestmark = [pytest.mark.runtime, pytest.mark.slow]

SCRIPTS = {"tri-one": "tri.cli:one", "tri-two": "tri.cli:two", "tri-three": "tri.cli:three"}
CLI = '''import sys


def _say(name):
    print(name, sys.argv[1:])
    return 0


def one():
    return _say("one")


def two():
    return _say("two")


def three():
    return _say("three")
'''
EMBEDDED_SBOM = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []}


def make_wheel(dest: Path) -> Path:
    """tri-1.0-py3-none-any.whl by hand: a package, three console scripts, an SBOM under .dist-info/sboms/."""
    files = {
        "tri/__init__.py": "",
        "tri/cli.py": CLI,
        "tri-1.0.dist-info/METADATA": "Metadata-Version: 2.4\nName: tri\nVersion: 1.0\nLicense-Expression: MIT\n",
        "tri-1.0.dist-info/WHEEL":
            "Wheel-Version: 1.0\nGenerator: exxo-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "tri-1.0.dist-info/entry_points.txt":
            "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in SCRIPTS.items()),
        "tri-1.0.dist-info/sboms/tri.cdx.json": json.dumps(EMBEDDED_SBOM),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("tri-1.0.dist-info/RECORD,,")
    wheel = dest / "tri-1.0-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("tri-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.fixture(scope="module")
def multi(runtime: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("multicall")
    wheel = make_wheel(tmp / "wheels")
    out = tmp / "bin"
    proc = exxo("build", wheel, "--all-scripts", "--entry", "tri-one", "--no-index", "-o", f"{out}/", "--sbom",
                "-p", PYTHON_VERSION)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "answers to 3 scripts" in proc.stdout
    return out


def test_each_script_through_its_symlink(multi: Path) -> None:
    assert (multi / "tri-one").is_file() and not (multi / "tri-one").is_symlink()
    for name in ("tri-two", "tri-three"):
        assert os.readlink(multi / name) == "tri-one"  # relative, beside the binary
    for name in SCRIPTS:
        proc = run_clean(multi / name, "a", "b")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{name.removeprefix('tri-')} ['a', 'b']\n"
    # a copy under another script's name, and a hard link, dispatch the same; an unknown name gets the default
    copy = multi.parent / "copies"
    copy.mkdir(exist_ok=True)
    (copy / "tri-three").write_bytes((multi / "tri-one").read_bytes())
    (copy / "tri-three").chmod(0o755)
    os.link(multi / "tri-one", copy / "tri-two")
    (copy / "renamed").write_bytes((multi / "tri-one").read_bytes())
    (copy / "renamed").chmod(0o755)
    assert run_clean(copy / "tri-three").stdout == "three []\n"
    assert run_clean(copy / "tri-two").stdout == "two []\n"
    assert run_clean(copy / "renamed").stdout == "one []\n"


def test_inspect_lists_the_scripts(multi: Path) -> None:
    info = json.loads(exxo("inspect", "--json", multi / "tri-one").stdout)
    assert info["scripts"] == ["tri-one", "tri-three", "tri-two", "python", "python3", f"python{PYTHON_VERSION}"]
    assert "answers to  tri-one, tri-three, tri-two, python" in exxo("inspect", multi / "tri-one").stdout


MP_SCRIPT = '''import multiprocessing as mp
import sys


def square(x):
    import tri.cli
    return x * x


if __name__ == "__main__":
    mp.set_start_method("spawn")
    with mp.Pool(2) as pool:
        print(pool.map(square, range(5)), sys.argv[1:])
'''


@pytest.mark.parametrize("name", ["python", "python3", f"python{PYTHON_VERSION}"])
def test_as_python(multi: Path, name: str) -> None:
    python = multi / name
    if not python.exists():
        python.symlink_to("tri-one")
    proc = run_clean(python, "-c", "import sys, tri.cli; print(sys.argv, tri.cli.__name__)", "x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "['-c', 'x'] tri.cli\n"
    if name != "python3":
        return
    proc = run_clean(python, "-m", "json.tool", env={}, cwd=multi)
    tool = subprocess.run(["env", "-i", str(python), "-m", "json.tool"], input='{"a": [1]}', capture_output=True,
                          text=True, cwd=multi)
    assert tool.returncode == 0, tool.stderr
    assert json.loads(tool.stdout) == {"a": [1]}
    script = multi.parent / "mp_script.py"
    script.write_text(MP_SCRIPT)
    proc = run_clean(python, str(script), "arg")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[0, 1, 4, 9, 16] ['arg']\n"
    stdin = subprocess.run(["env", "-i", str(python), "-"], input="import tri.cli, sys; print(sys.argv)\n",
                           capture_output=True, text=True, cwd=multi)
    assert stdin.returncode == 0 and stdin.stdout == "['-']\n", stdin.stderr
    # CPython's own flags are parsed too (-I, -X, an exit code from -c)
    proc = run_clean(python, "-I", "-X", "utf8", "-c", "import sys; sys.exit(sys.flags.isolated + 6)")
    assert proc.returncode == 7, proc.stderr


def test_sbom_links_the_wheels_own_sbom(multi: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = (multi / "tri-one.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    tri = next(c for c in doc["components"] if c["name"] == "tri")
    assert tri["purl"] == "pkg:pypi/tri@1.0" and tri["licenses"] == [{"license": {"id": "MIT"}}]
    site = f"lib/python{PYTHON_VERSION}/site-packages/"
    [link] = tri["externalReferences"]
    assert link["type"] == "bom" and link["url"] == site + "tri-1.0.dist-info/sboms/tri.cdx.json"
    files = {f["name"] for f in tri["components"]}
    assert site + "tri/cli.py" in files and any(f.endswith(".pyc") for f in files)
    assert [p["value"] for p in doc["metadata"]["component"]["properties"] if p["name"] == "exxo:script"] == \
        sorted(SCRIPTS)
    assert exxo("inspect", "--sbom", multi / "tri-one").stdout == text


def test_project_with_scripts_all(exxo_venv: Path, tmp_path: Path) -> None:
    # [tool.exxo] scripts = "all" in a project with two scripts, neither named like it: --entry picks the default
    src = tmp_path / "two-scripts"
    shutil.copytree(FIXTURES / "two-scripts", src)
    with open(src / "pyproject.toml", "a") as f:
        f.write('\n[tool.exxo]\nscripts = "all"\nentry = "two-server"\n')
    proc = exxo("build", "-s", src, "--venv", exxo_venv, "-o", f"{tmp_path / 'bin'}/")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.readlink(tmp_path / "bin" / "two_admin") == "two-server"
    assert run_clean(tmp_path / "bin" / "two_admin").stdout == "admin\n"
    assert run_clean(tmp_path / "bin" / "two-server").stdout == "server\n"
