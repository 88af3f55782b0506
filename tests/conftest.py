"""Shared fixtures.

- `runtime`: the real exxo runtime, built once (or found in the cache) per session.
- `exxo_venv`: one `exxo venv` made with that runtime per session (tests that build apps share it).
- `host_venv`: a plain venv of the interpreter running the tests, with pip, setuptools and hatchling, for unit
  tests of project/collect: they work with any interpreter, so they need no runtime.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exxo.runtime.bootstrap import Runtime, ensure_runtime

PYTHON_VERSION = os.environ.get("EXXO_TEST_PYTHON", "3.13")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


# fixture -> the marker every test using it (directly or through another fixture) gets
FIXTURE_MARKERS = {"runtime": "runtime", "exxo_venv": "runtime", "host_venv": "network"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in sorted(set(getattr(item, "fixturenames", ())) & set(FIXTURE_MARKERS)):
            item.add_marker(FIXTURE_MARKERS[name])


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    # Builds the runtime when it is not cached (`make test` builds it first, so this is normally instant).
    # A failure here fails every test that needs it, with the build's own error: nothing is skipped.
    return ensure_runtime(PYTHON_VERSION)


@pytest.fixture(scope="session")
def exxo_venv(runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("exxo-venv") / "env"
    proc = subprocess.run([sys.executable, "-m", "exxo", "venv", str(env), "-p", PYTHON_VERSION],
                          capture_output=True, text=True, env={k: v for k, v in os.environ.items()
                                                               if k != "VIRTUAL_ENV"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return env


@pytest.fixture(scope="session")
def host_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = tmp_path_factory.mktemp("host-venv") / "env"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(env)], check=True)
    # The build backends of the fixtures, so pip builds them without isolation (seconds each instead of ~10).
    subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "setuptools>=68", "hatchling"], check=True)
    return env
