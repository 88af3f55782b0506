"""Probe: whether this interpreter finds the module named by argv[1] (exit 0) or not (exit 1).

Run with -I -S: what the binary's stdlib provides, not what a site directory adds.
"""

from __future__ import annotations

import importlib.util
import sys


def found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(0 if found(sys.argv[1]) else 1)
