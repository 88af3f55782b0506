"""JupyterLab served from an exxo binary: its /lab page and the assets it loads live under <prefix>/share/jupyter
(installed outside site-packages), which the binary carries as the installation prefix (`make compat` runs it).

    python tests/compat/jupyterlab_page.py [--python 3.13]
"""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.projects import write_project  # noqa: E402

EXXO = [sys.executable, "-m", "exxo"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str, tries: int = 300) -> str:
    last: Exception | None = None
    for _ in range(tries):
        try:
            return urllib.request.urlopen(url, timeout=10).read().decode()
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    raise SystemExit(f"{url} never answered: {last}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default="3.13")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="exxo-jupyterlab-") as tmp_name:
        tmp = Path(tmp_name)
        venv = tmp / "env"
        if subprocess.run([*EXXO, "venv", str(venv), "-p", args.python]).returncode:
            return 1
        if subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "jupyterlab"]).returncode:
            return 1
        project = write_project(tmp / "lab", "lab-app", "lab_app", ["jupyterlab"],
                                {"lab": "jupyterlab.labapp:main"})
        binary = tmp / "alone" / "lab"
        if subprocess.run([*EXXO, "build", "-s", str(project), "--venv", str(venv), "-o", str(binary)]).returncode:
            return 1
        port = free_port()
        home = tmp / "home"
        home.mkdir()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
        server = subprocess.Popen(["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(binary), "--no-browser",
                                   f"--port={port}", "--ServerApp.token=", "--ServerApp.password=", "--allow-root",
                                   f"--ServerApp.root_dir={home}"], cwd=home, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        try:
            page = fetch(f"http://127.0.0.1:{port}/lab")
            assets = re.findall(r'(?:src|href)="(/static/lab/[^"]+)"', page)
            ok = "JupyterLab" in page and bool(assets)
            for asset in assets[:3]:
                body = fetch(f"http://127.0.0.1:{port}{asset}")
                ok = ok and len(body) > 100
            print(f"/lab: {'pass' if ok else 'FAIL'} ({len(page)} bytes, assets {assets[:3]})")
        finally:
            server.terminate()
            out = server.communicate(timeout=60)[0]
        if not ok:
            print(out[-3000:])
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
