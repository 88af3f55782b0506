"""The environment matrix (`make portability`): real binaries in real target environments.

Builds two binaries with exxo — the Flask example and a probe (prints sys.version, imports ssl, sqlite3,
ctypes and numpy, reads a resource inside the binary, makes a TLS handshake against a local server whose CA
this harness generates) — and runs them in each environment, writing docs/portability.md. Everything happens
on this machine: chroot, unshare (mount namespaces), setpriv. Needs root.

    python tests/portability/harness.py [--out docs/portability.md] [--only name,...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.projects import write_project  # noqa: E402
from tests.rootfs import bullseye_root  # noqa: E402

EXXO = [sys.executable, "-m", "exxo"]
PROBE_SOURCE = '''
import json, os, sys
def main():
    out = {"version": sys.version.split()[0]}
    import ssl, sqlite3, ctypes
    out["ssl"] = ssl.OPENSSL_VERSION
    out["sqlite"] = sqlite3.connect(":memory:").execute("select 1").fetchone()[0]
    out["ctypes"] = ctypes.CDLL(None).strlen(b"exxo")
    import numpy
    out["numpy"] = float(numpy.linalg.det(numpy.eye(3) * 2))
    here = os.path.dirname(__file__)
    with open(os.path.join(here, "resource.txt")) as f:
        out["resource"] = f.read().strip()
    port = os.environ.get("PROBE_TLS_PORT")
    if port:
        import socket
        ctx = ssl.create_default_context()
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as s:
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    out["tls"] = t.version()
        except Exception as exc:
            out["tls"] = "error: %s" % exc
    print(json.dumps(out))
'''


@dataclass
class Row:
    name: str
    target: str
    ok: bool
    detail: str


def sh(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]


def build_binaries(work: Path) -> tuple[Path, Path]:
    env = work / "env"
    for argv in ([*EXXO, "venv", str(env)],):
        proc = sh(argv)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
    probe = write_project(work / "probe", "probe", "probe", ["numpy"], {"probe": "probe:main"},
                          files={"__init__.py": PROBE_SOURCE, "resource.txt": "inside the binary\n"},
                          package_data=["*.txt"])
    out = work / "bin"
    for src, name in ((probe, "probe"), (ROOT / "examples" / "flask-gevent", "flask-gevent-demo")):
        proc = sh([*EXXO, "build", "-s", str(src), "--venv", str(env), "-o", str(out / name)])
        if proc.returncode != 0:
            raise SystemExit(proc.stdout + proc.stderr)
    return out / "probe", out / "flask-gevent-demo"


def make_ca(work: Path) -> tuple[Path, Path, Path]:
    ca_key, ca, key, csr, cert = (work / n for n in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    ext = work / "ext.cnf"
    # Python 3.13 verifies with VERIFY_X509_STRICT: the CA needs keyUsage, the leaf an authority key id.
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n")
    for argv in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
         "-days", "2", "-subj", "/CN=exxo test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj",
         "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
         "-out", str(cert), "-days", "2", "-extfile", str(ext)],
    ):
        subprocess.run(argv, check=True, capture_output=True)
    return ca, cert, key


def tls_server(cert: Path, key: Path) -> int:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)

    def serve() -> None:
        while True:
            conn, _ = sock.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as t:
                    t.recv(1)
            except (OSError, ssl.SSLError):
                pass

    threading.Thread(target=serve, daemon=True).start()
    return int(sock.getsockname()[1])


def check_probe(stdout: str, expect_tls: bool = True) -> tuple[bool, str]:
    try:
        data = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, stdout[-300:] or "no output"
    ok = (data.get("resource") == "inside the binary" and data.get("ctypes") == 4 and data.get("sqlite") == 1
          and abs(data.get("numpy", 0) - 8.0) < 1e-9 and str(data.get("ssl", "")).startswith("OpenSSL 3"))
    if expect_tls:
        ok = ok and str(data.get("tls", "")).startswith("TLSv1")
    return ok, json.dumps(data)


def flask_check(run: Callable[[list[str]], subprocess.Popen[str]], port: int) -> tuple[bool, str]:
    proc = run(["--bind", f"127.0.0.1:{port}", "--workers", "2"])
    try:
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        css = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/style.css", timeout=5).read().decode()
        ok = '<strong id="ip">127.0.0.1</strong>' in body and "#ip" in css
        return ok, "page and CSS served" if ok else f"page: {body[:200]!r}"
    except OSError as exc:
        return False, f"request failed: {exc}; server stderr: {proc.stderr.read()[-300:] if proc.stderr else ''}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def minimal_root(dest: Path, binaries: list[Path]) -> Path:
    """Only the glibc files the binaries need (from this machine): no /usr/lib/ssl, no terminfo, no Python."""
    for d in ("lib64", "lib/x86_64-linux-gnu", "tmp", "etc", "proc", "dev"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    libs = ["ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
            "libutil.so.1", "libgcc_s.so.1", "libstdc++.so.6"]
    for lib in libs:
        src = Path("/lib/x86_64-linux-gnu") / lib
        if src.exists():
            shutil.copy2(src, dest / "lib/x86_64-linux-gnu" / lib)
    shutil.copy2("/lib64/ld-linux-x86-64.so.2", dest / "lib64/ld-linux-x86-64.so.2")
    (dest / "etc/passwd").write_text("root:x:0:0:root:/:/bin/false\n")
    for b in binaries:
        shutil.copy2(b, dest / b.name)
    return dest


def chrooted(root: Path, argv: list[str], env: dict[str, str]) -> list[str]:
    """argv run inside `root` with exactly `env`. The environment is set outside (a minimal root has no `env`),
    so the set-up tools are named by absolute path."""
    tool = {n: shutil.which(n) or n for n in ("env", "unshare", "mount", "chroot")}
    script = (f"{tool['mount']} -t proc proc {root}/proc && {tool['mount']} --rbind /dev {root}/dev && "
              f"exec {tool['chroot']} {root} \"$@\"")
    return [tool["env"], "-i", *(f"{k}={v}" for k, v in env.items()), tool["unshare"], "--mount", "--fork",
            "/bin/sh", "-c", script, "sh", *argv]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "docs" / "portability.md"))
    parser.add_argument("--only")
    args = parser.parse_args()
    rows: list[Row] = []
    # Not under /tmp: one environment mounts a noexec tmpfs over /tmp, which would hide the binaries.
    with tempfile.TemporaryDirectory(prefix="exxo-port-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        probe, flask = build_binaries(work)
        ca, cert, key = make_ca(work)
        port = tls_server(cert, key)
        base_env = {"PATH": "/usr/bin:/bin", "PROBE_TLS_PORT": str(port), "SSL_CERT_FILE": str(ca)}

        def add(name: str, target: str, result: tuple[bool, str]) -> None:
            rows.append(Row(name, target, *result))
            print(f"{'PASS' if result[0] else 'FAIL'} {name} [{target}] {result[1][:200]}", flush=True)

        def run_probe(argv_prefix: list[str], env: dict[str, str], exe: str | None = None,
                      cwd: str | None = None, expect_tls: bool = True) -> tuple[bool, str]:
            proc = sh([*argv_prefix, "env", "-i", *(f"{k}={v}" for k, v in env.items()), exe or str(probe)],
                      cwd=cwd)
            if proc.returncode != 0:
                return False, (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            return check_probe(proc.stdout, expect_tls)

        def run_flask(prefix: list[str], env: dict[str, str]) -> Callable[[list[str]], subprocess.Popen[str]]:
            def start(extra: list[str]) -> subprocess.Popen[str]:
                return subprocess.Popen([*prefix, "env", "-i", *(f"{k}={v}" for k, v in env.items()), str(flask),
                                         *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            return start

        # 1. bullseye minbase chroot (glibc 2.31, no Python)
        root = bullseye_root(work / "bullseye")
        shutil.copy2(probe, root / "probe")
        shutil.copy2(flask, root / "flask-gevent-demo")
        shutil.copy2(ca, root / "ca.pem")
        env = {**base_env, "SSL_CERT_FILE": "/ca.pem"}
        proc = sh(chrooted(root, ["/probe"], env))
        add("Debian bullseye minbase chroot (glibc 2.31, no Python)", "probe",
            check_probe(proc.stdout) if proc.returncode == 0 else (False, proc.stderr.strip()[-300:]))
        fport = free_port()
        add("Debian bullseye minbase chroot (glibc 2.31, no Python)", "flask example",
            flask_check(lambda extra: subprocess.Popen(chrooted(root, ["/flask-gevent-demo", *extra], env),
                                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
                        fport))

        # 2. a root with only glibc: TLS with SSL_CERT_FILE, and the message without it
        mroot = minimal_root(work / "minimal", [probe])
        shutil.copy2(ca, mroot / "ca.pem")
        proc = sh(chrooted(mroot, ["/probe"], {"PROBE_TLS_PORT": str(port), "SSL_CERT_FILE": "/ca.pem"}))
        add("root with only glibc's files, SSL_CERT_FILE given", "probe",
            check_probe(proc.stdout) if proc.returncode == 0 else (False, proc.stderr.strip()[-300:]))
        proc = sh(chrooted(mroot, ["/probe"], {"PROBE_TLS_PORT": str(port)}))
        ok = proc.returncode == 0 and "SSL_CERT_FILE" in proc.stdout
        tls = json.loads(proc.stdout.strip().splitlines()[-1]).get("tls", "") if ok else proc.stderr[-300:]
        add("root with only glibc's files, no CA bundle", "probe: TLS error names the fix", (ok, str(tls)))

        # 2b. RHEL/Fedora layout: the CA bundle only at /etc/pki/tls/certs/ca-bundle.crt, no SSL_CERT_FILE
        (mroot / "etc/pki/tls/certs").mkdir(parents=True)
        shutil.copy2(ca, mroot / "etc/pki/tls/certs/ca-bundle.crt")
        proc = sh(chrooted(mroot, ["/probe"], {"PROBE_TLS_PORT": str(port)}))
        add("RHEL-style CA layout (/etc/pki/tls/certs/ca-bundle.crt only)", "probe",
            check_probe(proc.stdout) if proc.returncode == 0 else (False, proc.stderr.strip()[-300:]))

        # 3. host variations
        noexec = "mount -t tmpfs -o noexec,nosuid tmpfs /tmp && exec \"$@\""
        add("/tmp is a noexec tmpfs", "probe",
            run_probe(["unshare", "--mount", "--fork", "sh", "-c", noexec, "sh"], {**base_env, "TMPDIR": "/tmp"}))
        ro = "mount --bind / / && mount -o remount,bind,ro / && exec \"$@\""
        add("read-only root (bind mount)", "probe",
            run_probe(["unshare", "--mount", "--fork", "sh", "-c", ro, "sh"], base_env))
        add("HOME unset", "probe", run_probe([], base_env))
        add("LANG=C", "probe", run_probe([], {**base_env, "LANG": "C", "LC_ALL": "C"}))
        shutil.copy2(probe, work / "probe-nobody")
        os.chmod(work / "probe-nobody", 0o755)
        os.chmod(ca, 0o644)
        add("unprivileged user (nobody)", "probe",
            run_probe(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
                      {**base_env, "HOME": "/nonexistent"}, exe=str(work / "probe-nobody")))
        link = work / "linkdir" / "probe-link"
        link.parent.mkdir()
        link.symlink_to(probe)
        add("started through a symlink", "probe", run_probe([], base_env, exe=str(link)))
        add("started through PATH", "probe", run_probe([], {**base_env, "PATH": f"{probe.parent}:/usr/bin:/bin"},
                                                        exe="probe"))
        other = work / "elsewhere"
        other.mkdir()
        add("relative path from another directory", "probe",
            run_probe([], base_env, exe=os.path.relpath(probe, other), cwd=str(other)))
        noproc = "mount -t tmpfs none /proc && exec \"$@\""
        home = work / "home-noproc"
        home.mkdir()
        add("/proc not mounted (mount namespace) -> cache fallback", "probe",
            run_probe(["unshare", "--mount", "--fork", "sh", "-c", noproc, "sh"], {**base_env, "HOME": str(home)}))
        fport = free_port()
        add("host (Debian 12)", "flask example", flask_check(run_flask([], base_env), fport))

    write_report(rows, Path(args.out))
    return 0 if all(r.ok for r in rows) else 1


def write_report(rows: list[Row], path: Path) -> None:
    lines = [
        "# Portability: the environment matrix",
        "",
        f"Generated by `make portability` (tests/portability/harness.py) on {time.strftime('%Y-%m-%d')}. The probe",
        "binary prints `sys.version`, imports ssl/sqlite3/ctypes/numpy, reads a file inside the binary and makes a",
        "TLS handshake with a local server whose CA the harness generates; the Flask example serves its page and CSS.",
        "",
        "| environment | binary | result | detail |",
        "|---|---|---|---|",
    ]
    for r in rows:
        detail = r.detail.replace("|", "\\|").replace("\n", " ")[:300]
        lines.append(f"| {r.name} | {r.target} | {'pass' if r.ok else 'FAIL'} | {detail} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
