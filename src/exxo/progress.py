"""Progress for long work and the one subprocess helper.

`Reporter.stage(name)` announces a stage with elapsed time; `Reporter.run(cmd)` runs a command with its
output appended to the build log. On a TTY the current stage is redrawn on one line with a live clock;
otherwise plain lines are printed. A failing command raises BuildError with the last lines of the log and,
when the failure looks like a missing build prerequisite, the `apt-get install` line that fixes it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from exxo.errors import BuildError

# A missing tool or header in a log -> the Debian package that provides it.
_MISSING_HINTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(tclsh|tclsh8\.\d).*(not found|No such file)"), "tcl"),
    (re.compile(r"\bperl\b.*(not found|No such file)|Can't locate .*\.pm"), "perl"),
    (re.compile(r"\bmake\b: (command )?not found"), "make"),
    (re.compile(r"\bpatch\b: (command )?not found"), "patch"),
    (re.compile(r"libgcc\.a.*(not found|No such file)|crtbegin.*No such file"), "build-essential"),
    (re.compile(r"debootstrap: (command )?not found"), "debootstrap"),
    (re.compile(r"\bupx\b.*(not found|No such file)"), "upx-ucl"),
]

TAIL_LINES = 30


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def apt_hint(text: str) -> str | None:
    packages = sorted({pkg for pattern, pkg in _MISSING_HINTS if pattern.search(text)})
    if not packages:
        return None
    return "a build prerequisite is missing; install it with:\n  apt-get install " + " ".join(packages)


class Reporter:
    """Prints stages and runs commands into one log file."""

    def __init__(self, log_path: Path, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.log_path = log_path
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() and not quiet
        self.start = time.monotonic()
        self._stage = ""
        self._stage_start = self.start
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "a", encoding="utf-8")  # closed by close() / __exit__

    # -- output -------------------------------------------------------------
    def _elapsed(self) -> str:
        secs = int(time.monotonic() - self.start)
        return f"{secs // 60:d}:{secs % 60:02d}"

    def info(self, message: str) -> None:
        self.log(message)
        if self.quiet:
            return
        with self._lock:
            if self.tty:
                self.stream.write("\r\x1b[K")
            self.stream.write(f"exxo: {message}\n")
            self.stream.flush()

    def log(self, message: str) -> None:
        self._log.write(f"[exxo {self._elapsed()}] {message}\n")
        self._log.flush()

    def stage(self, name: str) -> None:
        self._stage = name
        self._stage_start = time.monotonic()
        self.log(f"== stage: {name}")
        if self.quiet:
            return
        if self.tty:
            self._ensure_ticker()
            self._draw()
        else:
            self.stream.write(f"exxo: [{self._elapsed()}] {name}  (log: {self.log_path})\n")
            self.stream.flush()

    def _draw(self) -> None:
        with self._lock:
            self.stream.write(f"\r\x1b[Kexxo: [{self._elapsed()}] {self._stage} ... (log: {self.log_path})")
            self.stream.flush()

    def _ensure_ticker(self) -> None:
        if self._ticker is not None:
            return

        def tick() -> None:
            while not self._stop.wait(1.0):
                self._draw()

        self._ticker = threading.Thread(target=tick, daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
            with self._lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
        self._log.close()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands -----------------------------------------------------------
    def run(
        self,
        cmd: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        what: str | None = None,
    ) -> None:
        """Run `cmd`, its output appended to the log; raise BuildError on failure."""
        argv = [os.fspath(c) for c in cmd]
        self.log(f"$ {' '.join(argv)}" + (f"   (in {cwd})" if cwd else ""))
        full_env = None if env is None else {**os.environ, **env}
        try:
            proc = subprocess.run(
                argv, cwd=cwd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except FileNotFoundError as exc:
            self.log(f"command not found: {argv[0]}")
            log_tail = tail(self.log_path)
            raise BuildError(
                f"{what or argv[0]} failed: {argv[0]!r} was not found",
                hint=apt_hint(f"{argv[0]}: not found") or f"install {argv[0]!r} and try again",
                log_tail=log_tail,
            ) from exc
        self._log.flush()
        if proc.returncode != 0:
            log_tail = tail(self.log_path)
            hint = apt_hint(log_tail)
            raise BuildError(
                f"{what or ' '.join(argv[:2])} failed with exit code {proc.returncode} (full log: {self.log_path})",
                hint=hint,
                log_tail=log_tail,
            )
