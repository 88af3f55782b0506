"""Low-level helpers every layer shares: the runtime recipe (exxo.runtime) and the build pipeline alike.

Only the standard library and exxo.errors are imported here, so anything may import this module without
creating an arrow back up the layers (tests/unit/test_layers.py checks that).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from exxo.errors import BuildError

# The oldest glibc a runtime (and so every binary) needs: the symbol versions the validator allows and the
# target of zig's glibc stubs. EXXO_GLIBC_CAP may lower or raise the validator's cap, never the target.
GLIBC_FLOOR = "2.17"

# How much of a failed child's output a BuildError carries (the end, where the error usually is).
TAIL_CHARS = 3000


def xdg_cache_home() -> Path:
    """$XDG_CACHE_HOME, else ~/.cache: where exxo's and zig's caches live."""
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"))


def cache_root() -> Path:
    """exxo's per-user cache: runtimes/, deps/, sources/, pyc/, logs/ (read at each call: tests move it)."""
    return xdg_cache_home() / "exxo"


@contextmanager
def atomic_output(dest: Path) -> Iterator[Path]:
    """A temp path beside `dest` to write; renamed over `dest` when the block ends normally, removed otherwise.

    Readers of `dest` see either the old file or the complete new one, never a partial write (a crash, a full
    disk or Ctrl-C leaves at most a dot-file behind, in the same directory so the rename stays atomic).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(dest: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `dest` atomically (see atomic_output), with permission bits `mode` if given."""
    with atomic_output(dest) as tmp:
        tmp.write_bytes(data)
        if mode is not None:
            tmp.chmod(mode)


def run_captured(argv: Sequence[str | os.PathLike[str]], what: str, *, input: bytes | None = None,
                 hint: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a short command with its output captured; a BuildError carrying the end of its output if it fails.

    For children whose output is their result (a probe's JSON, compiled bytecode); long builds log through
    `Reporter.run` instead. An OSError (no such interpreter) propagates: callers say what it means for them.
    """
    proc = subprocess.run([os.fspath(a) for a in argv], input=input, capture_output=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        raise BuildError(f"{what} failed (exit code {proc.returncode})", hint=hint, log_tail=output[-TAIL_CHARS:])
    return proc
