"""Target roots for tests: a Debian bullseye minbase chroot (glibc 2.31, no Python), cached as a tarball.

The mirror is taken from this machine's own apt configuration, so nothing outside it is named here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from exxo.common import cache_root


def cache_dir() -> Path:
    return cache_root() / "test-roots"


def apt_mirror() -> str:
    """The first Debian archive URI of the machine's apt sources (deb822 or one-line format)."""
    texts = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*")) + [Path("/etc/apt/sources.list")]:
        try:
            texts.append(path.read_text())
        except OSError:
            continue
    for text in texts:
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", text, re.M):
            if m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
    raise RuntimeError("no Debian mirror in the apt sources of this machine")


def bullseye_tarball() -> Path:
    """Build (once) and return a tarball of a bullseye minbase root."""
    tar = cache_dir() / "bullseye-minbase.tar"
    if tar.exists():
        return tar
    tar.parent.mkdir(parents=True, exist_ok=True)
    work = tar.parent / f".bullseye-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(["debootstrap", "--variant=minbase", "bullseye", str(work), apt_mirror()],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp = tar.with_suffix(".tmp")
    subprocess.run(["tar", "-C", str(work), "-cf", str(tmp), "."], check=True)
    tmp.rename(tar)
    shutil.rmtree(work, ignore_errors=True)
    return tar


def bullseye_root(dest: Path) -> Path:
    """A fresh bullseye root in `dest` (extracted from the cached tarball)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(dest), "-xf", str(bullseye_tarball())], check=True)
    return dest


def chroot_run(root: Path, argv: list[str], env: dict[str, str] | None = None,
               timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run argv inside `root` with /proc and /dev mounted in a private mount namespace.

    `env` is the environment of the command inside the root; the tools that set the root up are named by
    absolute path so that a minimal PATH meant for the inside does not hide them.
    """
    mount, chroot = shutil.which("mount") or "/bin/mount", shutil.which("chroot") or "/usr/sbin/chroot"
    script = (
        f"{mount} -t proc proc {root}/proc && {mount} --rbind /dev {root}/dev && "
        f"exec {chroot} {root} \"$@\""
    )
    return subprocess.run(
        [shutil.which("unshare") or "/usr/bin/unshare", "--mount", "--fork", "/bin/sh", "-c", script, "sh", *argv],
        capture_output=True, text=True, timeout=timeout,
        env=env if env is not None else {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )
