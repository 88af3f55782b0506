"""Probe: run in a freshly built runtime copied alone, say what is wrong with it (exxo bootstrap's validator).

argv: the modules that must be built in. stdout: one problem per line (nothing when all is well): a module
that is not built in or fails to import, and an `os.environ` that does not hold the environment (the parent
sets EXXO_VALIDATE=environ: a copy-relocated `environ` once left it empty).
"""

from __future__ import annotations

import importlib
import os
import sys


def problems(modules: list[str]) -> list[str]:
    bad = [m for m in modules if m not in sys.builtin_module_names]
    for m in modules:
        try:
            importlib.import_module(m)
        except Exception as exc:  # each failure is reported, not raised: the report lists them all
            bad.append(f"{m} ({type(exc).__name__}: {exc})")
    if os.environ.get("EXXO_VALIDATE") != "environ":
        bad.append("os.environ does not hold the environment (EXXO_VALIDATE unset)")
    return bad


if __name__ == "__main__":
    print("\n".join(problems(sys.argv[1:])))
