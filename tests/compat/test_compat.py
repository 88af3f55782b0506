"""A representative part of the package list, run by `make test` (the whole list: `make compat`).

The part covers each mechanism the list exercises: C extensions with bundled libs (numpy, pillow,
psycopg2-binary, lxml), files read next to __file__ (certifi via requests, pytz, django templates and .mo
catalogues), entry points/metadata (pydantic, setuptools-pkg_resources), re-entry (multiprocessing),
gevent, and the stdlib C modules.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.compat.harness import load_entries, run_entry

pytestmark = [pytest.mark.runtime, pytest.mark.slow]

SUBSET = os.environ.get(
    "EXXO_COMPAT_SUBSET",
    "requests,django,numpy,lxml,pillow,psycopg2-binary,pydantic,gevent,pytz,setuptools-pkg_resources,"
    "multiprocessing,stdlib-c-modules,cffi,markupsafe",
).split(",")


@pytest.mark.parametrize("name", SUBSET)
def test_package(name: str, runtime: object) -> None:
    entry = next(e for e in load_entries() if e["name"] == name)
    with tempfile.TemporaryDirectory(prefix=f"exxo-compat-{name}-") as tmp:
        result = run_entry(entry, Path(tmp), "3.13")
    assert not result.build_error, result.build_error
    assert result.modes == {"memfd": "pass", "cache": "pass"}, result.modes
