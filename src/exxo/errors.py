"""The errors exxo reports to users: each names the problem and carries a hint that says what to do.

`cli.main` is the one place that turns them into a message and an exit code; nothing else prints
tracebacks for expected failures.
"""

from __future__ import annotations

from pathlib import Path

# Exit codes (documented in docs/reference.md).
EXIT_OK = 0
EXIT_ERROR = 1  # generic failure reported by an ExxoError
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_BUILD = 3  # building the runtime or the app failed (log kept)
EXIT_INPUT = 4  # bad input: a project, venv or binary that exxo cannot use
EXIT_OUTPUT = 5  # the output (binary or venv) cannot be written where it was asked for
EXIT_INTERNAL = 70  # a bug in exxo (EX_SOFTWARE); EXXO_DEBUG=1 shows the traceback
EXIT_INTERRUPTED = 130


class ExxoError(Exception):
    """A failure with a user-facing message and a hint."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"exxo: error: {self.message}"
        if self.hint:
            text += "\n" + "\n".join(f"  hint: {line}" for line in self.hint.splitlines())
        return text


class SourceError(ExxoError):
    """A CPython or library source that cannot be fetched or does not verify."""

    exit_code = EXIT_INPUT


class BuildError(ExxoError):
    """A step of a build failed; `log_tail` holds the end of its log."""

    exit_code = EXIT_BUILD

    def __init__(self, message: str, hint: str | None = None, log_tail: str = "") -> None:
        super().__init__(message, hint)
        self.log_tail = log_tail

    def render(self) -> str:
        head = ""
        if self.log_tail:
            head = "---- last lines of the log ----\n" + self.log_tail.rstrip() + "\n-------------------------------\n"
        return head + super().render()


class ValidationError(BuildError):
    """The built runtime or binary breaks one of exxo's rules (ELF validator)."""


class InputError(ExxoError):
    """A project, venv or file given by the user that exxo cannot use."""

    exit_code = EXIT_INPUT


class OutputError(ExxoError):
    """The place exxo was asked to write to (a binary, a venv) cannot be written."""

    exit_code = EXIT_OUTPUT


def check_writable_dir(directory: Path, target: str) -> None:
    """OutputError unless `target` (what is written, for the message: "the binary /x/app") can be created in
    `directory`, which need not exist yet: the nearest existing one of it and its parents must be a directory
    this process can write into."""
    import os

    existing = directory
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write {target}: {existing} is a file, not a directory",
                          hint="choose an output path whose parents are directories (or do not exist yet)")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only(existing) else "is not writable by you"
        raise OutputError(f"cannot write {target}: the directory {existing} {why}",
                          hint="choose a directory you can write to, or fix its permissions")


def _read_only(path: Path) -> bool:
    import os

    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
