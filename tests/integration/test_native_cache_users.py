"""The native cache loads no other user's code: two real users (setpriv), an attacker loop that swaps the cache
directory of the victim for a symlink to a planted library whose constructor writes a marker, and hundreds of
starts of a real binary with a C extension (cext-sdist, built with `--native cache`).

The planted library has what the manifest (public, inside the binary) predicts: the member's size and the
mtime stamp derived from its sha256, so a loader that checks a path and then opens it again is fooled when
the swap falls between the two (issue 12: a planted constructor ran at start 25 of 60).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from exxo.archive import read_info
from tests.integration.helpers import exxo, fixture

pytestmark = [pytest.mark.runtime,
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                 reason="needs root and setpriv (util-linux) to run as two users")]

VICTIM, ATTACKER = 4242, 4343
STARTS = 500  # against the old check-then-open code, 200 starts caught the swap in some runs only

PLANTED_C = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) {
    int fd = open("%s", O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) { write(fd, "foreign code ran\n", 17); close(fd); }
}
"""

# argv: dir, name, target, stop file, count file. Swaps dir/name (whatever is there: the victim's directory)
# for a symlink to target and back until the stop file exists, holding each state for a random 0-400 us (a
# spin: sleep is too coarse), so that some check-then-use window of any length sees both; counts the swaps.
ATTACK = r"""
import os, random, sys, time
parent, name, target, stop, count = sys.argv[1:6]
leaf = os.path.join(parent, name)
aside = os.path.join(parent, ".aside-%d" % os.getpid())
rng = random.Random(12)
swaps = 0

def hold():
    end = time.perf_counter() + rng.random() * 0.0004
    while time.perf_counter() < end:
        pass

while not os.path.exists(stop):
    moved = False
    try:
        os.rename(leaf, aside)
        moved = True
    except OSError:
        pass
    try:
        os.symlink(target, leaf)
        swaps += 1
        hold()
        os.unlink(leaf)
    except OSError:
        pass
    if moved:
        try:
            os.rename(aside, leaf)
        except OSError:
            pass
    hold()
with open(count, "w") as f:
    f.write(str(swaps))
"""


def as_user(uid: int, argv: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]


@pytest.fixture(scope="module")
def binary(exxo_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cache-users")
    out = tmp / "app"
    proc = exxo("build", "-s", fixture("cext-sdist", tmp), "--venv", exxo_venv, "-o", out, "--native", "cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


@pytest.fixture
def work() -> Iterator[Path]:
    """A directory both users can reach (pytest's own tmp dirs are root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="exxo-users-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


class Setup:
    def __init__(self, work: Path, binary: Path) -> None:
        self.work = work
        self.app = work / "app"
        shutil.copy2(binary, self.app)
        self.app.chmod(0o755)
        info = read_info(self.app)
        self.build_id = info["build_id"]
        self.member = next(n for n in info["elf"] if ("/" + n).rpartition("/cext_app/")[2].startswith("_fast."))
        self.marker = work / "marks" / "marker"
        self.marker.parent.mkdir()
        self.marker.parent.chmod(0o777)
        self.home = work / "home"
        self.home.mkdir()
        os.chown(self.home, VICTIM, VICTIM)
        self.planted_lib = self._planted(info["files"][self.member][2], info["elf"][self.member]["sha256"])

    def _planted(self, size: int, sha256: str) -> bytes:
        src = self.work / "planted.c"
        src.write_text(PLANTED_C % self.marker)
        lib = self.work / "planted.so"
        # Small (stripped, no page-aligned code segment): it must fit in the extension, which exxo strips too.
        subprocess.run(["gcc", "-shared", "-fPIC", "-s", "-Wl,-z,noseparate-code", "-o", str(lib), str(src)],
                       check=True, capture_output=True)
        data = lib.read_bytes()
        assert len(data) <= size, "the planted library must fit in the extension's size"
        self.stamp = 1000000000 * (315532800 + int(sha256[:8], 16) % 1000000000)  # what the manifest predicts
        return data + b"\0" * (size - len(data))

    def plant(self, where: Path) -> Path:
        """`where`/cext_app/_fast...so: the planted library, the attacker's, stamped as a verified cache file."""
        path = where / self.member
        path.parent.mkdir(parents=True)
        path.write_bytes(self.planted_lib)
        os.utime(path, ns=(self.stamp, self.stamp))
        for p in [where, *where.rglob("*")]:
            os.lchown(p, ATTACKER, ATTACKER)
        return where

    def starts(self, cache_home: Path, n: int,
               env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess[str]]:
        argv = as_user(VICTIM, ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={self.home}",
                                f"XDG_CACHE_HOME={cache_home}", *(f"{k}={v}" for k, v in (env or {}).items()),
                                str(self.app)])
        return [subprocess.run(argv, capture_output=True, text=True, cwd=self.home, timeout=120) for _ in range(n)]

    def shared(self, mode: int) -> Path:
        path = self.work / "shared"
        path.mkdir()
        path.chmod(mode)
        return path

    def race(self, parent: Path, name: str, target: Path, cache_home: Path, n: int,
             env: dict[str, str] | None = None) -> tuple[list[subprocess.CompletedProcess[str]], int]:
        """n starts of the victim while the attacker swaps parent/name for a symlink to target; (results, swaps).
        No start may have run the planted code."""
        stop, count = self.work / "marks" / "stop", self.work / "marks" / "count"
        loop = subprocess.Popen(as_user(ATTACKER, ["/usr/bin/python3", "-I", "-c", ATTACK, str(parent), name,
                                                   str(target), str(stop), str(count)]))
        try:
            results = self.starts(cache_home, n, env)
        finally:
            stop.write_text("")
            assert loop.wait(timeout=60) == 0
        assert not self.marker.exists(), self.marker.read_text()
        return results, int(count.read_text())


def assert_fell_back(results: list[subprocess.CompletedProcess[str]]) -> None:
    """Every start ran the app (memfd, after refusing the cache with a warning that says why)."""
    for r in results:
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "add 42" and r.stdout.splitlines()[2] == "ctypes 42"
        assert "exxo: warning: not using the native cache:" in r.stderr and "another user" in r.stderr


def test_exxo_dir_made_by_another_user(work: Path, binary: Path) -> None:
    # A sticky shared directory (like /tmp) as XDG_CACHE_HOME, where the attacker made exxo/ first, mode 0777.
    s = Setup(work, binary)
    shared = s.shared(0o1777)
    exxo_dir = shared / "exxo"
    subprocess.run(as_user(ATTACKER, ["mkdir", "-m", "0777", str(exxo_dir)]), check=True)
    results, swaps = s.race(exxo_dir, s.build_id, s.plant(work / "planted-root"), shared, STARTS)
    assert swaps > 0  # the attacker really was swapping while the victim started
    assert_fell_back(results)
    # exxo/ is the attacker's; a start that resolved the path while the attacker's symlink was in place found
    # the attacker's directory as the cache root: refused either way, naming the owner
    assert all("uid 4343" in r.stderr for r in results)
    assert any("belongs to another user (uid 4343)" in r.stderr for r in results)
    # Forced cache mode: refused with the reason, no fallback, still nothing foreign ran.
    forced = s.starts(shared, 1, {"EXXO_NATIVE": "cache"})[0]
    assert forced.returncode == 1 and "another user" in forced.stderr.splitlines()[-1]
    assert not s.marker.exists()


def test_shared_cache_dir_writable_by_others(work: Path, binary: Path) -> None:
    # XDG_CACHE_HOME itself writable by everyone, no sticky bit: the attacker swaps exxo/ below it.
    s = Setup(work, binary)
    shared = s.shared(0o777)
    planted = s.plant(work / "planted-exxo" / s.build_id).parent
    os.lchown(planted, ATTACKER, ATTACKER)
    results, swaps = s.race(shared, "exxo", planted, shared, STARTS)
    assert swaps > 0
    assert_fell_back(results)
    # (a start that resolved the path while exxo/ was the attacker's symlink names the attacker's directory)
    assert any(f"{shared} is writable by other users without the sticky bit (mode 777)" in r.stderr for r in results)
    assert not (shared / "exxo").exists()  # nothing was written there


def test_own_cache_in_a_sticky_directory_is_used(work: Path, binary: Path) -> None:
    # The victim's own cache dir inside a sticky shared directory: used (the attacker can neither rename nor
    # replace it), and the cache file is the victim's, checked and loaded by fd.
    s = Setup(work, binary)
    shared = s.shared(0o1777)
    own = shared / "victim-cache"
    subprocess.run(as_user(VICTIM, ["mkdir", "-m", "0700", str(own)]), check=True)
    results, _swaps = s.race(shared, "victim-cache", s.plant(work / "planted-own"), own, 50, {"EXXO_NATIVE": "cache"})
    for r in results:
        assert r.returncode == 0 and r.stdout.startswith("add 42\n"), r.stderr
        assert "warning" not in r.stderr
    cached = own / "exxo" / s.build_id / s.member
    assert cached.stat().st_uid == VICTIM and cached.read_bytes() != s.planted_lib
