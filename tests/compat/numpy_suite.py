"""numpy's own test suite, run from an exxo binary and from the venv it was built from (`make numpy-suite`).

The binary is pytest (as the entry point) with numpy, hypothesis and their requirements inside. Both runs
use the same pytest arguments; the report compares their outcome counts and lists the tests whose outcome
differs. f2py's tests are left out on both sides (they compile Fortran/C extensions at test time, which
needs a compiler and writes build trees: not about where numpy is installed). Not part of `make test`: the
suite takes minutes per run.

    python tests/compat/numpy_suite.py [--python 3.13] [--out FILE] [-- pytest args]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.projects import write_project  # noqa: E402

EXXO = [sys.executable, "-m", "exxo"]
# f2py's test modules fail to import without a Fortran toolchain (the same 31 in a venv): collected past.
PYTEST_ARGS = ["--pyargs", "numpy", "-q", "-p", "no:cacheprovider", "-rfE", "--continue-on-collection-errors",
               "-k", "not f2py", "-W", "ignore::DeprecationWarning"]


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, **kw)  # type: ignore[call-overload, no-any-return]


def outcomes(stdout: str) -> tuple[dict[str, int], set[str]]:
    """({passed: n, failed: n, ...} from pytest's summary line, the FAILED/ERROR test ids)."""
    lines = stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)", summary)}
    bad = {line.split()[1] for line in lines if line.startswith(("FAILED ", "ERROR "))}
    return counts, bad


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default="3.13")
    parser.add_argument("--out", type=Path)
    parser.add_argument("extra", nargs="*", help="more pytest arguments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="exxo-numpy-suite-") as tmp_name:
        tmp = Path(tmp_name)
        venv = tmp / "env"
        assert run([*EXXO, "venv", str(venv), "-p", args.python]).returncode == 0
        pip = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "numpy", "pytest", "hypothesis",
                   "typing_extensions"])
        if pip.returncode:
            print(pip.stderr)
            return 1
        deps = ["numpy", "pytest", "hypothesis", "typing_extensions"]
        project = write_project(tmp / "runner", "numpy-suite-runner", "numpy_suite_runner", deps,
                                {"numpy-suite": "pytest:console_main"})
        binary = tmp / "bin" / "numpy-suite"
        built = run([*EXXO, "build", "-s", str(project), "--venv", str(venv), "-o", str(binary)])
        if built.returncode:
            print(built.stdout + built.stderr)
            return 1
        work = tmp / "work"
        work.mkdir()
        pytest_args = PYTEST_ARGS + args.extra
        in_venv = run([str(venv / "bin" / "python"), "-m", "pytest", *pytest_args], cwd=work, timeout=7200)
        in_binary = run([str(binary), *pytest_args], cwd=work, timeout=7200)
        venv_counts, venv_bad = outcomes(in_venv.stdout)
        bin_counts, bin_bad = outcomes(in_binary.stdout)
        lines = ["# numpy's test suite: exxo binary vs its venv", "",
                 f"pytest {' '.join(pytest_args)} (CPython {args.python})", "",
                 "| outcome | venv | binary |", "|---|---|---|"]
        for key in sorted(set(venv_counts) | set(bin_counts)):
            lines.append(f"| {key} | {venv_counts.get(key, 0)} | {bin_counts.get(key, 0)} |")
        only_bin, only_venv = sorted(bin_bad - venv_bad), sorted(venv_bad - bin_bad)
        lines += ["", f"Failing only in the binary ({len(only_bin)}):", *[f"- {t}" for t in only_bin],
                  "", f"Failing only in the venv ({len(only_venv)}):", *[f"- {t}" for t in only_venv]]
        text = "\n".join(lines) + "\n"
        print(text)
        if args.out:
            args.out.write_text(text)
        return 0 if venv_counts == bin_counts and not only_bin else 1


if __name__ == "__main__":
    sys.exit(main())
