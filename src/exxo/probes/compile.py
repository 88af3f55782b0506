"""Probe: byte-compile sources with this interpreter (bytecode is version-specific), reusing a pyc cache.

argv[1]: the cache directory ("" for none); stdin: "rel\\0path\\0rel\\0path..."; stdout: marshal {rel: pyc}.
The code's co_filename is `rel`: the boot rewrites it to the member's path inside the binary, so no build
machine path ends up in the binary. A pyc depends only on (interpreter, rel, source), so it is cached under
their hash: the next build of the same app compiles only what changed. The pycs are unchecked-hash ones, so
the result does not depend on file mtimes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import tempfile
from importlib._bootstrap_external import _code_to_hash_pyc  # type: ignore[attr-defined]


def cache_path(cache: str, rel: str, source: bytes) -> str:
    salt = importlib.util.MAGIC_NUMBER + sys.version.encode() + b"\0"
    key = hashlib.sha256(salt + rel.encode() + b"\0" + source).hexdigest()
    return os.path.join(cache, key[:2], key[2:] + ".pyc")


def _cached(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            pyc = f.read()
    except OSError:
        return None
    return pyc if pyc[:4] == importlib.util.MAGIC_NUMBER and len(pyc) > 16 else None


def _store(path: str, pyc: bytes) -> None:
    try:  # temp name + rename: a concurrent build never reads half a pyc
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as f:
            f.write(pyc)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full cache only costs time


def compile_all(items: dict[str, str], cache: str) -> dict[str, bytes]:
    """{rel: path of its source} -> {rel: pyc}; sources that do not compile are left out (shipped as .py)."""
    out = {}
    for rel, path in items.items():
        with open(path, "rb") as f:
            source = f.read()
        cached = cache_path(cache, rel, source) if cache else ""
        pyc = _cached(cached) if cached else None
        if pyc is None:
            try:
                code = compile(source, rel, "exec", dont_inherit=True)
            except (SyntaxError, ValueError):
                continue  # e.g. templates named *.py, py2-only test data
            pyc = _code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False)
            if cached:
                _store(cached, pyc)
        out[rel] = pyc
    return out


def main() -> None:
    fields = sys.stdin.buffer.read().decode().split("\0")
    items = dict(zip(fields[0::2], fields[1::2], strict=True)) if fields != [""] else {}
    sys.stdout.buffer.write(marshal.dumps(compile_all(items, sys.argv[1])))


if __name__ == "__main__":
    main()
