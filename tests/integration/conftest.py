"""Fixtures of the boot tests: `b`, the builder of real binaries (tests/boot_harness.py), one per module."""

from __future__ import annotations

import pytest

from tests.boot_harness import Builder, builder


@pytest.fixture(scope="module")
def b() -> Builder:
    return builder()
