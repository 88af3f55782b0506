"""The zip-path I/O layer in a built binary: zip-unsafe code reading `<binary>/<member>` paths keeps working
(open, stat, os.path, listdir/scandir/walk, access, glob, pathlib, ssl cafile, ctypes.CDLL of a bundled
library, a bundled executable through subprocess and os.execv), writing fails with EROFS, and paths outside
the binary behave exactly as before."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from exxo.archive import Member
from tests.boot_harness import Builder

APP = r'''
import errno, glob, io, json, os, pathlib, stat, subprocess, sys

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "data")


def p(*parts):
    return os.path.join(DATA, *parts)


def io_checks(outside):
    out = {}
    with open(p("a.txt")) as f:
        out["open-text"] = [f.read(), f.name]
    with io.open(p("a.txt"), "rb") as f:
        f.seek(2)
        out["open-binary"] = f.read().decode()
    with open(os.fsencode(p("a.txt")), "r", encoding="latin-1") as f:
        out["open-bytes-path"] = f.readline()
    out["open-pathlike"] = open(pathlib.Path(p("a.txt"))).read()
    writes = []
    for mode in ("w", "a", "x", "r+", "wb"):
        try:
            open(p("a.txt"), mode)
            writes.append("allowed?!")
        except OSError as exc:
            writes.append([exc.errno, "Read-only" in str(exc)])
    out["write"] = writes
    try:
        open(p("missing.txt"))
    except FileNotFoundError as exc:
        out["missing"] = exc.errno
    try:
        open(DATA)
    except IsADirectoryError as exc:
        out["open-dir"] = exc.errno
    out["exists"] = [os.path.exists(p("a.txt")), os.path.exists(DATA), os.path.exists(p("nope")),
                     os.path.lexists(p("a.txt"))]
    out["isdir-isfile"] = [os.path.isdir(DATA), os.path.isfile(DATA), os.path.isfile(p("a.txt")),
                           os.path.isdir(p("a.txt")), os.path.islink(p("a.txt"))]
    out["getsize"] = os.path.getsize(p("a.txt"))
    out["getmtime"] = os.path.getmtime(p("a.txt")) == os.stat(sys.executable).st_mtime
    st = os.stat(p("a.txt"))
    out["stat"] = [stat.S_ISREG(st.st_mode), stat.S_ISDIR(os.stat(DATA).st_mode), stat.S_ISDIR(os.lstat(DATA).st_mode),
                   stat.S_IMODE(st.st_mode) & 0o222]
    out["listdir"] = sorted(os.listdir(DATA))
    out["listdir-bytes"] = sorted(os.listdir(os.fsencode(DATA)))[0].decode()
    out["listdir-trailing-slash"] = sorted(os.listdir(DATA + "/"))
    with os.scandir(DATA) as it:
        out["scandir"] = sorted([e.name, e.is_dir(), e.is_file(), e.path == os.path.join(DATA, e.name)] for e in it)
    out["walk"] = sorted(os.path.relpath(os.path.join(r, f), DATA) for r, _d, fs in os.walk(DATA) for f in fs)
    out["access"] = [os.access(p("a.txt"), os.R_OK), os.access(p("a.txt"), os.W_OK), os.access(p("a.txt"), os.X_OK),
                     os.access(DATA, os.X_OK), os.access(p("nope"), os.F_OK)]
    out["glob"] = sorted(os.path.relpath(x, DATA) for x in glob.glob(p("*.txt")))
    out["glob-recursive"] = sorted(os.path.relpath(x, DATA) for x in glob.glob(p("**", "*.txt"), recursive=True))
    path = pathlib.Path(DATA)
    out["pathlib"] = [path.is_dir(), (path / "a.txt").read_text(), sorted(c.name for c in path.iterdir()),
                      sorted(x.name for x in path.glob("sub/*.txt")), (path / "a.txt").exists()]
    out["realpath"] = os.path.realpath(p("sub", "..", "a.txt")) == p("a.txt")
    # Outside the binary: exactly the original behaviour.
    with open(os.path.join(outside, "f.txt"), "w") as f:
        f.write("written")
    out["outside"] = [open(os.path.join(outside, "f.txt")).read(), os.listdir(outside),
                      os.path.isfile(sys.executable), os.path.isdir(sys.executable)]
    try:
        os.listdir(os.path.join(outside, "f.txt"))
    except NotADirectoryError:
        out["outside-error"] = "ENOTDIR"
    return out


def native_checks():
    import ctypes, ssl
    out = {}
    ctx = ssl.create_default_context(cafile=p("ca.pem"))
    out["ssl-cafile"] = ctx.cert_store_stats()["x509_ca"]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=pathlib.Path(p("ca.pem")))
    out["ssl-load-verify"] = ctx.cert_store_stats()["x509_ca"]
    lib = ctypes.CDLL(os.path.join(HERE, "libs", "libz-copy.so.1"))
    lib.zlibVersion.restype = ctypes.c_char_p
    out["ctypes"] = [lib.zlibVersion().decode().count(".") >= 2, lib._name == os.path.join(HERE, "libs",
                                                                                           "libz-copy.so.1")]
    try:
        ctypes.CDLL(os.path.join(HERE, "libs", "missing.so"))
    except OSError:
        out["ctypes-missing"] = "OSError"
    tool = os.path.join(HERE, "bin", "echo")
    r = subprocess.run([tool, "bundled", "tool"], capture_output=True, text=True)
    out["subprocess-bundled"] = [r.returncode, r.stdout.strip()]
    r = subprocess.run([tool, "close_fds=False"], capture_output=True, text=True, close_fds=False)
    out["subprocess-bundled-keep-fds"] = r.stdout.strip()
    return out


def main():
    what = sys.argv[1]
    if what == "io":
        print(json.dumps(io_checks(sys.argv[2])))
    elif what == "native":
        print(json.dumps(native_checks()))
    elif what == "execv":
        sys.stdout.flush()
        os.execv(os.path.join(HERE, "bin", "echo"), ["echo", "replaced", "by", "execv"])
    return 0
'''


@pytest.fixture(scope="module")
def app(b: Builder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    libz = next(p for p in (Path("/lib/x86_64-linux-gnu/libz.so.1"), Path("/usr/lib/x86_64-linux-gnu/libz.so.1"))
                if p.exists())
    members = [
        Member("app/__init__.py", APP.encode()),
        Member("app/data/a.txt", b"alpha\n"),
        Member("app/data/sub/b.txt", b"beta\n"),
        Member("app/data/sub/deeper/c.txt", b"gamma\n"),
        Member("app/data/ca.pem", Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()),
        Member("app/libs/libz-copy.so.1", libz.read_bytes()),
        Member("app/bin/echo", Path(shutil.which("echo") or "/bin/echo").read_bytes()),
    ]
    return b.build(tmp_path_factory.mktemp("zipio") / "app", members, "app:main")


def run(binary: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(binary.parent)}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, env=base | (env or {}), timeout=120)


def test_io_on_paths_inside_the_binary(app: Path, tmp_path: Path) -> None:
    proc = run(app, "io", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    data = f"{app}/app/data"
    assert got["open-text"] == ["alpha\n", f"{data}/a.txt"] and got["open-binary"] == "pha\n"
    assert got["open-bytes-path"] == "alpha\n" and got["open-pathlike"] == "alpha\n"
    assert got["write"] == [[30, True]] * 5  # EROFS, with a message saying why
    assert got["missing"] == 2 and got["open-dir"] == 21
    assert got["exists"] == [True, True, False, True]
    assert got["isdir-isfile"] == [True, False, True, False, False]
    assert got["getsize"] == 6 and got["getmtime"] is True
    assert got["stat"] == [True, True, True, 0]
    assert got["listdir"] == ["a.txt", "ca.pem", "sub"] and got["listdir-bytes"] == "a.txt"
    assert got["listdir-trailing-slash"] == got["listdir"]
    assert got["scandir"] == [["a.txt", False, True, True], ["ca.pem", False, True, True], ["sub", True, False, True]]
    assert got["walk"] == ["a.txt", "ca.pem", "sub/b.txt", "sub/deeper/c.txt"]
    assert got["access"] == [True, False, False, True, False]
    assert got["glob"] == ["a.txt"]
    assert got["glob-recursive"] == ["a.txt", "sub/b.txt", "sub/deeper/c.txt"]
    assert got["pathlib"] == [True, "alpha\n", ["a.txt", "ca.pem", "sub"], ["b.txt"], True]
    assert got["realpath"] is True
    assert got["outside"] == ["written", ["f.txt"], True, False] and got["outside-error"] == "ENOTDIR"


@pytest.mark.parametrize("mode", ["memfd", "cache"])
def test_native_paths_inside_the_binary(app: Path, mode: str, tmp_path: Path) -> None:
    proc = run(app, "native", env={"EXXO_NATIVE": mode, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["ssl-cafile"] > 10 and got["ssl-load-verify"] == got["ssl-cafile"]
    assert got["ctypes"] == [True, True] and got["ctypes-missing"] == "OSError"
    assert got["subprocess-bundled"] == [0, "bundled tool"]
    assert got["subprocess-bundled-keep-fds"] == "close_fds=False"
    assert any(tmp_path.rglob("libz-copy.so.1")) == (mode == "cache")  # memfd mode writes nothing


def test_execv_of_a_bundled_executable(app: Path) -> None:
    proc = run(app, "execv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "replaced by execv\n"
