"""Shared fixtures. `runtime`: the real exxo runtime, built once (or found in the cache) per session."""

from __future__ import annotations

import os

import pytest

from exxo.runtime.bootstrap import Runtime, ensure_runtime

PYTHON_VERSION = os.environ.get("EXXO_TEST_PYTHON", "3.13")


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    # Builds the runtime when it is not cached (`make test` builds it first, so this is normally instant).
    # A failure here fails every test that needs it, with the build's own error: nothing is skipped.
    return ensure_runtime(PYTHON_VERSION)
