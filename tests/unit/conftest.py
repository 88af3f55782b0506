"""The unit tier: no network and no runtime build. A unit test that needs either is refused at collection
(move it to tests/integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
NOT_IN_UNIT = {"runtime", "network"}


@pytest.hookimpl(trylast=True)  # after tests/conftest.py has marked the tests by the fixtures they use
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marks = {m.name for m in item.iter_markers()} & NOT_IN_UNIT
        if marks and UNIT in Path(str(item.path)).resolve().parents:
            raise pytest.UsageError(f"{item.nodeid} is marked {', '.join(sorted(marks))}: it belongs in "
                                    "tests/integration, not in tests/unit")
