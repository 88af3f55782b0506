"""`exxo build REQ...` without a project: a published CLI (httpie) from PyPI and offline from a wheelhouse.

The module gets its own exxo cache (XDG_CACHE_HOME) whose runtimes/ and sources/ are the user's, so the private
venvs are made here by pip each run (not reused from an earlier run) while no runtime is rebuilt.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from exxo.common import cache_root
from tests.conftest import PYTHON_VERSION
from tests.integration.helpers import alone, exxo, run_clean

pytestmark = [pytest.mark.runtime, pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def cache(runtime: object, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    xdg = tmp_path_factory.mktemp("xdg")
    (xdg / "exxo").mkdir()
    for shared in ("runtimes", "sources"):
        if (cache_root() / shared).is_dir():
            (xdg / "exxo" / shared).symlink_to(cache_root() / shared)
    return {"XDG_CACHE_HOME": str(xdg)}


@pytest.fixture(scope="module")
def from_pypi(cache: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the binary, the private venv it was built from)."""
    out = tmp_path_factory.mktemp("pypi") / "http"
    proc = exxo("build", "httpie", "--entry", "http", "-o", out, "-p", PYTHON_VERSION, env=cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made = re.search(r"made the private venv (\S+)", proc.stderr)
    assert made, proc.stderr
    return out, Path(made.group(1))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("www")
    (root / "hello.txt").write_text("hello from the local server\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def check_http(binary: Path, server: str, tmp: Path) -> None:
    """Copied alone into an empty directory, under `env -i`: --version, then a GET of the local server."""
    exe = alone(binary, tmp / "empty")
    version = run_clean(exe, "--version")
    assert version.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\n", version.stdout), version.stderr
    get = run_clean(exe, "--ignore-stdin", "--print=hb", f"{server}/hello.txt")
    assert get.returncode == 0, get.stderr
    assert "200 OK" in get.stdout and "hello from the local server" in get.stdout


def test_published_cli_from_pypi(from_pypi: tuple[Path, Path], server: str, tmp_path: Path) -> None:
    check_http(from_pypi[0], server, tmp_path)
    assert (from_pypi[1] / "exxo-requirements.json").is_file()
    # not a multi-call build, still the Python of its app under that name
    (tmp_path / "empty" / "python3").symlink_to("http")
    proc = run_clean(tmp_path / "empty" / "python3", "-c", "import httpie, sys; print(httpie.__name__, sys.argv)")
    assert proc.returncode == 0 and proc.stdout == "httpie ['-c']\n", proc.stderr


def test_the_private_venv_is_reused(from_pypi: tuple[Path, Path], cache: dict[str, str], tmp_path: Path) -> None:
    proc = exxo("build", "httpie", "--entry", "http", "-o", tmp_path / "http", "-p", PYTHON_VERSION, env=cache)
    assert proc.returncode == 0, proc.stderr
    assert f"reusing the private venv {from_pypi[1]}" in proc.stderr and "pip installing" not in proc.stderr
    assert (tmp_path / "http").read_bytes() == from_pypi[0].read_bytes()


def test_offline_from_a_wheelhouse(from_pypi: tuple[Path, Path], cache: dict[str, str], server: str,
                                   tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    download = subprocess.run([str(from_pypi[1] / "bin" / "python"), "-m", "pip", "download", "-q", "-d", str(wheels),
                               "--disable-pip-version-check", "httpie"], capture_output=True, text=True)
    assert download.returncode == 0, download.stderr
    # No index and no proxy: pip can only use the wheelhouse.
    offline = cache | {"PIP_INDEX_URL": "http://127.0.0.1:9/", "https_proxy": "http://127.0.0.1:9/",
                       "http_proxy": "http://127.0.0.1:9/"}
    args = ("build", "httpie", "--entry", "http", "--no-index", "--find-links", wheels, "-p", PYTHON_VERSION)
    one = exxo(*args, "-o", tmp_path / "one", env=offline)
    assert one.returncode == 0, one.stdout + one.stderr
    check_http(tmp_path / "one", server, tmp_path)
    # Reproducible: the venv made again from scratch gives the same bytes.
    venv = Path(re.search(r"made the private venv (\S+)", one.stderr).group(1))  # type: ignore[union-attr]
    shutil.rmtree(venv)
    two = exxo(*args, "-o", tmp_path / "two", env=offline)
    assert two.returncode == 0 and "made the private venv" in two.stderr, two.stderr
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("one", "two")]
    assert digest[0] == digest[1]
    # a distribution without console scripts needs --main
    none = exxo("build", "certifi", "--no-index", "--find-links", wheels, "-o", tmp_path / "c", "-p", PYTHON_VERSION,
                env=offline)
    assert none.returncode == 4 and "certifi: no console script" in none.stderr and "--main" in none.stderr
    main = exxo("build", "certifi", "--no-index", "--find-links", wheels, "--main", "certifi", "-o", tmp_path / "c",
                "-p", PYTHON_VERSION, env=offline)
    assert main.returncode == 0, main.stderr
    assert run_clean(tmp_path / "c").stdout.strip().endswith("cacert.pem")  # python -m certifi


def test_unresolvable_requirement(cache: dict[str, str], tmp_path: Path) -> None:
    proc = exxo("build", "exxo-no-such-distribution-xyz==1.0", "--no-index", "--find-links", tmp_path,
                "-o", tmp_path / "x", "-p", PYTHON_VERSION, env=cache)
    assert proc.returncode == 3, proc.stderr
    assert "No matching distribution found for exxo-no-such-distribution-xyz==1.0" in proc.stderr  # pip's own
    assert "hint: pip's message above says what it could not install" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x").exists()
    assert not [p for p in (Path(cache["XDG_CACHE_HOME"]) / "exxo" / "envs").iterdir() if p.is_dir()
                and not (p / "exxo-requirements.json").exists()]  # the failed venv is not left half-made


def test_several_scripts_and_no_entry(from_pypi: tuple[Path, Path], cache: dict[str, str], tmp_path: Path) -> None:
    proc = exxo("build", "httpie", "-o", tmp_path / "x", "-p", PYTHON_VERSION, env=cache)
    assert proc.returncode == 4, proc.stderr
    assert "httpie has 3 console scripts; choose the one to build" in proc.stderr
    for script in ("--entry http ", "--entry https ", "--entry httpie "):
        assert script in proc.stderr


def test_pip_options_need_requirements(tmp_path: Path) -> None:
    proc = exxo("build", "--no-index", cwd=tmp_path, env={"VIRTUAL_ENV": ""})
    assert proc.returncode == 4 and "only apply when building requirements" in proc.stderr, proc.stderr
    assert os.listdir(tmp_path) == []
