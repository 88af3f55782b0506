"""A representative part of the package list, run by `make test` (the whole list: `make compat`).

The part covers the mechanisms the list exercises that other tests do not already cover with real wheels
(numpy, lxml, Pillow, psycopg2-binary, cryptography, pydantic, orjson, markupsafe and gevent run from built
binaries in both native modes in tests/unit/test_boot_native.py): files read next to __file__ (certifi via
requests, pytz's zoneinfo, Django's templates and .mo catalogues), pkg_resources, cffi's dlopen, re-entry
(multiprocessing) and the stdlib C modules. Kept short so `make test` fits CI's 90 minutes with a cold build.
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
    "requests,django,pytz,setuptools-pkg_resources,multiprocessing,stdlib-c-modules,cffi",
).split(",")


@pytest.mark.parametrize("name", SUBSET)
def test_package(name: str, runtime: object) -> None:
    entry = next(e for e in load_entries() if e["name"] == name)
    with tempfile.TemporaryDirectory(prefix=f"exxo-compat-{name}-") as tmp:
        result = run_entry(entry, Path(tmp), "3.13")
    assert not result.build_error, result.build_error
    assert result.modes == {"memfd": "pass", "cache": "pass"}, result.modes
