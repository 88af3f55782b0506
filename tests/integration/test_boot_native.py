"""Native code from a built binary: real wheels (C extensions + the libraries they bundle, Pillow's
freetype <-> harfbuzz cycle, psycopg2's own libssl) work in memfd mode and in cache mode; memfd mode writes
no file (strace); the fallback ladder (no /proc -> cache -> a clear error naming both); 200 processes filling
the cache at once; a damaged cache file is replaced; a missing library is an ImportError naming it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from exxo.archive import Member, read_info
from tests.boot_harness import Builder, members_from_dir, pip_target

pytestmark = pytest.mark.network  # every test runs the `app` of wheels from PyPI

WHEELS = ["numpy", "lxml", "pillow", "psycopg2-binary", "cryptography", "pydantic", "orjson", "markupsafe", "gevent"]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

SMOKES = r'''
import importlib, io, os, sys

HERE = os.path.dirname(__file__)


def numpy():
    import numpy as np
    a = np.arange(9, dtype=float).reshape(3, 3) + np.eye(3)
    assert np.allclose(a @ np.linalg.solve(a, np.ones(3)), np.ones(3))
    return np.__file__


def lxml():
    from lxml import etree, html
    doc = etree.fromstring(b"<r><i>1</i><i>2</i></r>")
    xslt = etree.XSLT(etree.fromstring(b"""<xsl:stylesheet version="1.0"
        xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
        <xsl:template match="/"><s><xsl:value-of select="sum(//i)"/></s></xsl:template></xsl:stylesheet>"""))
    assert str(xslt(doc)).strip().endswith("<s>3</s>")
    assert html.fromstring("<p>hi</p>").text_content() == "hi"
    return etree.__file__


def pillow():
    from PIL import Image, ImageDraw, ImageFont, features
    im = Image.new("RGB", (64, 32), "white")
    draw = ImageDraw.Draw(im)
    draw.text((2, 2), "exxo", fill="black", font=ImageFont.load_default(size=14))
    font_path = os.path.join(HERE, "fonts", "DejaVuSans.ttf")
    if os.path.exists(font_path):  # a font file shipped in the binary, handed to FreeType as an open file
        with open(font_path, "rb") as f:
            draw.text((2, 2), "exxo", fill="black", font=ImageFont.truetype(f, 12))
    for fmt in ("PNG", "JPEG", "WEBP"):
        b = io.BytesIO()
        im.save(b, fmt)
        assert Image.open(io.BytesIO(b.getvalue())).size == (64, 32)
    assert features.check("freetype2")
    return Image.core.__file__


def psycopg2_binary():
    import psycopg2, psycopg2.extensions
    assert psycopg2.extensions.libpq_version() > 100000
    try:
        psycopg2.connect("host=127.0.0.1 port=1 connect_timeout=1")
    except psycopg2.OperationalError:
        pass
    with open("/proc/self/maps") as f:  # its own libssl, not the runtime's OpenSSL
        assert "psycopg2_binary.libs" in f.read() or _bundled_mapped("libssl"), "bundled libssl not mapped"
    return psycopg2._psycopg.__file__


def _bundled_mapped(prefix):
    with open("/proc/self/maps") as f:
        return any(("/memfd:" + prefix) in line for line in f)


def cryptography():
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    f = Fernet(Fernet.generate_key())
    assert f.decrypt(f.encrypt(b"x")) == b"x"
    k = ec.generate_private_key(ec.SECP256R1())
    k.public_key().verify(k.sign(b"m", ec.ECDSA(hashes.SHA256())), b"m", ec.ECDSA(hashes.SHA256()))
    from cryptography.hazmat.bindings._rust import openssl
    return sys.modules["cryptography.hazmat.bindings._rust"].__file__


def pydantic():
    from pydantic import BaseModel, ValidationError
    class M(BaseModel):
        a: int
        b: list[str] = []
    assert M(a="3").a == 3
    try:
        M(a="x")
        raise AssertionError("no error")
    except ValidationError:
        pass
    import pydantic_core._pydantic_core as core
    return core.__file__


def orjson():
    import orjson
    assert orjson.loads(orjson.dumps({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
    return sys.modules["orjson.orjson"].__file__


def markupsafe():
    import markupsafe
    assert str(markupsafe.escape("<a>")) == "&lt;a&gt;"
    return importlib.import_module("markupsafe._speedups").__file__


def gevent():
    import gevent
    jobs = [gevent.spawn(lambda i=i: (gevent.sleep(0.01), i * i)[1]) for i in range(5)]
    gevent.joinall(jobs, timeout=5)
    assert [j.value for j in jobs] == [0, 1, 4, 9, 16]
    return sys.modules["gevent._gevent_cgreenlet"].__file__ if "gevent._gevent_cgreenlet" in sys.modules else \
        gevent.libev.corecext.__file__


def broken():
    import broken._speedups


def main():
    for name in sys.argv[1:]:
        origin = globals()[name.replace("-", "_")]()
        print("ok", name, origin, flush=True)
    return 0
'''


@pytest.fixture(scope="module")
def app(b: Builder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = pip_target(b.python, WHEELS)
    members = members_from_dir(site) + [Member("smokes/__init__.py", SMOKES.encode())]
    if FONT.exists():
        members.append(Member("smokes/fonts/DejaVuSans.ttf", FONT.read_bytes()))
    # An extension whose DT_NEEDED names a library that exists nowhere: its loader error must say so.
    speedups = next(m for m in members if re.fullmatch(r"markupsafe/_speedups\..*\.so", m.name))
    assert b"libc.so.6\0" in speedups.data
    members += [Member("broken/__init__.py", b""),
                Member("broken/" + speedups.name.split("/")[1], speedups.data.replace(b"libc.so.6\0", b"libQ.so.6\0"))]
    return b.build(tmp_path_factory.mktemp("native") / "app", members, "smokes:main")


def run(binary: Path, *args: str, env: dict[str, str] | None = None, wrap: list[str] | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(binary.parent)}
    return subprocess.run([*(wrap or []), str(binary), *args], capture_output=True, text=True,
                          env=base | (env or {}), timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["memfd", "cache"])
@pytest.mark.parametrize("package", [w.replace("-", "_") for w in WHEELS])
def test_wheel_works(app: Path, package: str, mode: str, tmp_path: Path) -> None:
    proc = run(app, package, env={"EXXO_NATIVE": mode, "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    ok, name, origin = proc.stdout.split()
    assert (ok, name) == ("ok", package) and origin.startswith(f"{app}/")  # __file__ inside the binary
    cached = list((tmp_path / "exxo").rglob("*.so*")) if (tmp_path / "exxo").exists() else []
    assert bool(cached) == (mode == "cache")  # memfd mode writes nothing


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_memfd_start_opens_nothing_for_writing(app: Path, tmp_path: Path) -> None:
    log = tmp_path / "strace.log"
    names = ["numpy", "pillow", "lxml", "psycopg2_binary", "markupsafe"]
    proc = run(app, *names, env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
               wrap=["strace", "-f", "-o", str(log), "-e", "trace=openat,open,creat,rename,renameat,renameat2,"
                     "mkdir,mkdirat,memfd_create"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") == len(names)
    calls = log.read_text().splitlines()
    writes = [c for c in calls if re.search(r"\b(creat|rename\w*|mkdir\w*)\(", c)
              or (re.search(r"\bopen(at)?\(", c) and re.search(r"O_WRONLY|O_RDWR|O_CREAT", c)
                  and "/dev/null" not in c and "/dev/tty" not in c)]
    assert writes == []
    assert sum("memfd_create(" in c for c in calls) > 10
    assert not (tmp_path / "cache").exists()


def _no_proc(inner: list[str]) -> list[str]:
    """Runs `inner` in a private mount namespace where /proc is an empty tmpfs (memfds have no path)."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount -t tmpfs none /proc && exec "$@"',
            "sh", *inner]


def _can_hide_proc() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(_no_proc(["true"]), capture_output=True).returncode == 0


needs_unshare = pytest.mark.skipif(not _can_hide_proc(), reason="needs unshare -m (root or user namespaces)")


@needs_unshare
def test_without_proc_falls_back_to_the_cache(app: Path, tmp_path: Path) -> None:
    proc = run(app, "orjson", "markupsafe", env={"XDG_CACHE_HOME": str(tmp_path)}, wrap=_no_proc([]))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("ok ") == 2
    root = next((tmp_path / "exxo").iterdir())
    assert root.name == read_info(app)["build_id"] and root.stat().st_mode & 0o777 == 0o700
    assert any(root.rglob("_speedups.*.so"))


@needs_unshare
def test_both_failures_are_named(app: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    proc = run(app, "markupsafe", env={"XDG_CACHE_HOME": str(blocker)}, wrap=_no_proc([]))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "markupsafe._speedups" in last and "memfd:" in last and "cache:" in last and str(blocker) in last
    # Forced memfd: no fallback, nothing written.
    proc = run(app, "markupsafe", env={"XDG_CACHE_HOME": str(tmp_path / "c"), "EXXO_NATIVE": "memfd"},
               wrap=_no_proc([]))
    assert proc.returncode == 1 and "memfd:" in proc.stderr and "cache:" not in proc.stderr
    assert not (tmp_path / "c").exists()


def test_missing_library_is_an_import_error_naming_it(app: Path, tmp_path: Path) -> None:
    for mode in ("memfd", "cache"):
        proc = run(app, "broken", env={"EXXO_NATIVE": mode, "XDG_CACHE_HOME": str(tmp_path)})
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("ImportError: exxo: cannot load the C extension broken._speedups")
        assert "libQ.so.6" in last


def test_damaged_cache_file_is_replaced(app: Path, tmp_path: Path) -> None:
    env = {"EXXO_NATIVE": "cache", "XDG_CACHE_HOME": str(tmp_path)}
    assert run(app, "markupsafe", env=env).returncode == 0
    cached = next(tmp_path.rglob("_speedups.*.so"))
    good = cached.read_bytes()
    cached.write_bytes(b"\0" * len(good))  # same size, new mtime: no longer trusted
    proc = run(app, "markupsafe", env=env)
    assert proc.returncode == 0, proc.stderr
    assert cached.read_bytes() == good


@pytest.mark.slow
def test_two_hundred_processes_fill_the_cache_at_once(app: Path, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "EXXO_NATIVE": "cache", "XDG_CACHE_HOME": str(tmp_path)}
    procs = [subprocess.Popen([str(app), "markupsafe", "orjson"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env) for _ in range(200)]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs if p.stdout and p.stderr]
    failed = [r for r in results if r[0] != 0 or r[1].count(b"ok ") != 2]
    assert len(results) == 200 and failed == [], failed[:1]
    assert not [p for p in tmp_path.rglob("*.tmp")]  # every temp file was renamed into place
    for proc in procs:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


def test_cache_dir_of_someone_else_is_refused(app: Path, tmp_path: Path) -> None:
    root = tmp_path / "exxo" / read_info(app)["build_id"]
    root.mkdir(parents=True)
    os.chmod(root, 0o777)  # group/world-writable: someone else could plant code there
    proc = run(app, "markupsafe", env={"EXXO_NATIVE": "cache", "XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 1 and "not a private directory" in proc.stderr
