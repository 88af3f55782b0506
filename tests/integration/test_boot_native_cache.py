"""The native cache's rules, on a built binary with a real C extension (markupsafe's _speedups): the root is
opened from `/` without following symlinks and every directory on the way is checked, files are checked
through their fd and loaded under /proc/<pid>/fd/<root fd>/, a relative XDG_CACHE_HOME is ignored, temp files
of killed fills are removed, and an unknown EXXO_NATIVE stops the binary with a message (exit 78).
The two-user race is tests/integration/test_native_cache_users.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from exxo.archive import Member, read_info
from tests.boot_harness import Builder, members_from_dir, pip_target

APP = b"""import os, sys, time, markupsafe, markupsafe._speedups
def main():
    if sys.argv[1:] != ["fork"]:
        print(markupsafe.escape('<a>'))
        return
    parent = os.getpid()
    if os.fork():  # the parent exits at once; its /proc entry goes with it
        os._exit(0)
    while os.getppid() == parent:
        time.sleep(0.01)
    import ctypes  # a library not loaded yet: the loader opens it by the path the boot gives it
    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(__file__), "extra", "libcopy.so"))
        text = "child loaded %s" % bool(lib.PyInit__speedups)
    except OSError as exc:
        text = "child failed: %s" % exc
    with open(os.environ["OUT"], "w") as f:
        f.write(text + "\\n")
"""


@pytest.fixture(scope="module")
def app(b: Builder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = pip_target(b.python, ["markupsafe"])
    members = members_from_dir(site) + [Member("probe.py", APP)]
    speedups = next(m for m in members if re.fullmatch(r"markupsafe/_speedups\..*\.so", m.name))
    members.append(Member("extra/libcopy.so", speedups.data))  # loaded by a forked child only
    return b.build(tmp_path_factory.mktemp("cache") / "app", members, "probe:main", native="cache")


def run(app: Path, env: dict[str, str], cwd: Path | None = None,
        wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(app.parent)}
    return subprocess.run([*(wrap or []), str(app)], capture_output=True, text=True, env=base | env, cwd=cwd,
                          timeout=120)


def cached(app: Path, cache: Path) -> Path:
    root = cache / "exxo" / read_info(app)["build_id"]
    return next(root.glob("markupsafe/_speedups.*.so"))


def ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0 and proc.stdout == "&lt;a&gt;\n", proc.stderr


def test_loaded_through_the_root_fd(app: Path, tmp_path: Path) -> None:
    if shutil.which("strace") is None:
        pytest.fail("strace is needed (apt-get install strace; make test installs it)")
    log = tmp_path / "strace.log"
    proc = run(app, {"XDG_CACHE_HOME": str(tmp_path / "c")}, wrap=["strace", "-f", "-o", str(log), "-e",
                                                                    "trace=openat"])
    ok(proc)
    opens = log.read_text().splitlines()
    so = [c for c in opens if "_speedups." in c and ".tmp" not in c]
    # checked through its own fd (no symlink followed), then opened by the loader under the root's fd
    assert any(re.search(r'openat\(\d+, "_speedups\.[^"]+\.so", O_RDONLY\|O_NONBLOCK\|O_NOFOLLOW', c) for c in so), so
    assert any(re.search(r'openat\(AT_FDCWD, "/proc/\d+/fd/\d+/markupsafe/_speedups\.[^"]+\.so"', c) for c in so), so
    assert not any(str(tmp_path / "c") in c for c in so)  # never by the cache's own path
    assert any('openat(AT_FDCWD, "/", O_RDONLY|O_CLOEXEC|O_PATH|O_DIRECTORY)' in c for c in opens)


def test_a_forked_child_outlives_its_parent(app: Path, tmp_path: Path) -> None:
    # The loader's paths name the root fd under /proc/<pid>: a forked child renames them to its own pid.
    out = tmp_path / "out"
    proc = subprocess.run([str(app), "fork"], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OUT": str(out),
                                                   "XDG_CACHE_HOME": str(tmp_path / "c"), "EXXO_NATIVE": "cache"},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for _ in range(500):
        if out.exists() and out.read_text().endswith("\n"):
            break
        time.sleep(0.02)
    assert out.read_text() == "child loaded True\n"


def test_relative_xdg_cache_home_is_ignored(app: Path, tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    ok(run(app, {"XDG_CACHE_HOME": "rel/cache", "HOME": str(home), "EXXO_NATIVE": "cache"}, cwd=cwd))
    assert cached(app, home / ".cache").is_file()
    assert list(cwd.iterdir()) == []


def test_symlinks_and_foreign_modes_are_not_trusted(app: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "EXXO_NATIVE": "cache"}
    ok(run(app, env))
    leaf = cached(app, tmp_path / "c")
    good = leaf.read_bytes()
    # the same bytes, stamped like a verified file, but behind a symlink: replaced by a regular file
    elsewhere = tmp_path / "elsewhere.so"
    shutil.copy2(leaf, elsewhere)
    leaf.unlink()
    leaf.symlink_to(elsewhere)
    ok(run(app, env))
    assert not leaf.is_symlink() and leaf.read_bytes() == good
    # group-writable: someone else could change it: rewritten, private again
    leaf.chmod(0o770)
    ok(run(app, env))
    assert leaf.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(("mode", "group", "used"), [
    (0o777, None, False), (0o775, 4343, False), (0o1777, None, True), (0o755, None, True),
    (0o775, None, True),  # group-writable by the user's own private group (umask 002): only the user
])
def test_a_directory_above_the_cache(app: Path, tmp_path: Path, mode: int, group: int | None, used: bool) -> None:
    import grp
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    if group is None and mode == 0o775 and grp.getgrgid(os.getgid()).gr_name != me:
        pytest.skip("this user has no private group")
    if group is not None and os.geteuid() != 0:
        pytest.skip("giving a directory to another group needs root")
    shared = tmp_path / "shared"
    shared.mkdir()
    if group is not None:
        os.chown(shared, -1, group)
    shared.chmod(mode)
    base = shared / "mine"
    base.mkdir(mode=0o700)
    proc = run(app, {"XDG_CACHE_HOME": str(base)})
    ok(proc)  # memfd when the cache is refused
    assert (base / "exxo").exists() == used
    if not used:
        assert proc.stderr == (f"exxo: warning: not using the native cache: {shared} is writable by other users "
                               f"without the sticky bit (mode {mode:o}): another user could put code in the native "
                               "cache there. Make it yours and not writable by others (chmod go-w), or set "
                               "XDG_CACHE_HOME to a directory of yours\n")
        forced = run(app, {"XDG_CACHE_HOME": str(base), "EXXO_NATIVE": "cache"})
        assert forced.returncode == 1 and "cache: " + str(shared) in forced.stderr.splitlines()[-1]


def test_a_symlinked_cache_home_is_resolved_once(app: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    proc = run(app, {"XDG_CACHE_HOME": str(tmp_path / "link"), "EXXO_NATIVE": "cache"})
    ok(proc)
    assert proc.stderr == "" and cached(app, real).is_file()


def test_temp_files_of_killed_fills_are_removed(app: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "c"), "EXXO_NATIVE": "cache"}
    ok(run(app, env))
    leaf = cached(app, tmp_path / "c")
    stale = leaf.with_name(leaf.name + ".99999.1.tmp")  # the fill's temp name: <file>.<pid>.<thread>.tmp
    fresh = leaf.with_name(leaf.name + ".99998.1.tmp")
    stale.write_bytes(b"half written")
    fresh.write_bytes(b"being written now")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    leaf.unlink()  # what a killed fill leaves: no file, its temp file
    ok(run(app, env))
    assert leaf.is_file() and not stale.exists() and fresh.exists()
    assert sorted(p.name for p in leaf.parent.iterdir() if p.name.endswith(".tmp")) == [fresh.name]


@pytest.mark.parametrize("value", ["disk", "memfd,cache", "CACHE"])
def test_unknown_exxo_native_stops_with_a_message(app: Path, value: str) -> None:
    proc = run(app, {"EXXO_NATIVE": value})
    assert proc.returncode == 78 and proc.stdout == ""
    assert proc.stderr == (f"exxo: EXXO_NATIVE={value} is not a native-code loading mode: set it to memfd or cache, "
                           "or unset it (then the binary's own mode is used, the other one as fallback)\n")
    assert run(app, {"EXXO_NATIVE": ""}).returncode == 0  # empty is unset
