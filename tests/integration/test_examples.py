"""The two examples end to end, each binary copied alone into an empty directory."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.integration.helpers import alone, exxo

pytestmark = [pytest.mark.runtime, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, opener: urllib.request.OpenerDirector | None = None, tries: int = 150) -> str:
    last: Exception | None = None
    for _ in range(tries):
        try:
            return (opener or urllib.request.build_opener()).open(url, timeout=5).read().decode()
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered: {last}")


def build_example(name: str, tmp: Path) -> Path:
    env = tmp / "env"
    assert exxo("venv", env).returncode == 0
    out = tmp / "build" / name
    proc = exxo("build", "-s", EXAMPLES / name, "--venv", env, "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return alone(out, tmp / "empty")


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_flask_gevent_gunicorn(runtime: object, tmp_path: Path) -> None:
    exe = build_example("flask-gevent", tmp_path)
    port = free_port()
    proc = subprocess.Popen(["env", "-i", "PATH=/usr/bin:/bin", str(exe), "--bind", f"127.0.0.1:{port}",
                             "--workers", "3"], cwd=exe.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        page = wait_for(f"http://127.0.0.1:{port}/")
        css = wait_for(f"http://127.0.0.1:{port}/static/style.css")
        assert '<strong id="ip">127.0.0.1</strong>' in page
        assert re.search(r"stylesheet: \d+ bytes, read with open\(\)", page)
        assert "#ip" in css
        # `env` execs the binary: proc.pid is gunicorn's master. The first worker can answer before the
        # master has forked the others: wait for all three pre-forked gevent workers.
        deadline = time.monotonic() + 30
        while len(workers := children_of(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(workers) >= 3, workers
    finally:
        proc.terminate()  # SIGTERM
        code = proc.wait(timeout=60)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", str(exe)], capture_output=True, text=True).stdout.split()
    assert left == [], f"orphan workers: {left}"


def test_django_site(runtime: object, tmp_path: Path) -> None:
    exe = build_example("django-site", tmp_path)
    data = tmp_path / "data"
    env = ["env", "-i", "PATH=/usr/bin:/bin", f"HOME={tmp_path}", "DJANGO_SUPERUSER_PASSWORD=exxo-pass-123",
           "DJANGO_SUPERUSER_USERNAME=admin", "DJANGO_SUPERUSER_EMAIL=admin@example.invalid"]
    for argv in (["migrate", "--noinput"], ["check"], ["createsuperuser", "--noinput"]):
        proc = subprocess.run([*env, str(exe), "--data-dir", str(data), *argv], capture_output=True, text=True,
                              cwd=exe.parent, timeout=300)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
    assert (data / "db.sqlite3").is_file()
    port = free_port()
    server = subprocess.Popen([*env, str(exe), "--data-dir", str(data), "serve", f"127.0.0.1:{port}"],
                              cwd=exe.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login = wait_for(f"http://127.0.0.1:{port}/admin/login/", opener)
        assert "<form" in login and 'name="username"' in login
        css_path = re.search(r'href="(/static/admin/css/[^"]+\.css)"', login)
        assert css_path, login[:500]
        css = opener.open(f"http://127.0.0.1:{port}{css_path.group(1)}", timeout=10).read().decode()
        assert "body" in css
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login)
        assert token
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), "username": "admin",
                                       "password": "exxo-pass-123", "next": "/admin/notes/note/"}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/admin/login/?next=/admin/notes/note/", data=form,
                                     headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"})
        page = opener.open(req, timeout=10).read().decode()
        assert "Notes" in page or "note" in page.lower(), page[:800]
        assert "Log in" not in page.split("<title>")[1][:40] if "<title>" in page else True
        home = opener.open(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
        assert "No notes yet." in home
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_django_runserver_autoreloader_restarts_itself(runtime: object, tmp_path: Path) -> None:
    """runserver with its autoreloader re-executes `sys.executable` + sys.argv in a child: it must find the
    binary whether it was started as ./app, by absolute path or through PATH (sys.argv[0] as a venv console
    script would see it)."""
    exe = build_example("django-site", tmp_path)
    data = tmp_path / "data"
    base = {"PATH": f"{exe.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    env = ["env", "-i", *(f"{k}={v}" for k, v in base.items())]
    migrate = subprocess.run([*env, str(exe), "--data-dir", str(data), "migrate", "--noinput"], cwd=exe.parent,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr
    for how in (f"./{exe.name}", str(exe), exe.name):
        port = free_port()
        server = subprocess.Popen([*env, how, "--data-dir", str(data), "runserver", f"127.0.0.1:{port}"],
                                  cwd=exe.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        try:
            page = wait_for(f"http://127.0.0.1:{port}/")
            assert "No notes yet." in page, (how, page[:300])
            assert children_of(server.pid), how  # the reloader's child serves, the parent watches
        finally:
            os.killpg(server.pid, signal.SIGTERM)  # the reloader and its child
            _out, err = server.communicate(timeout=60)
        assert "does not exist" not in err and "Traceback" not in err, (how, err[-2000:])
