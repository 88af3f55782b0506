"""`_exxo.crc32` (the launcher's CRC-32 by carry-less multiplication, which checks every member the binary reads)
is zlib.crc32: every length from 0 to 300 at every alignment, large buffers, running values, in the runtime."""

from __future__ import annotations

import subprocess

import pytest

from exxo.runtime.bootstrap import Runtime

pytestmark = pytest.mark.runtime

CHECK = r"""
import _exxo, random, zlib
rng = random.Random(7)
data = rng.randbytes(1 << 21)
bad = []
for off in range(17):
    for n in range(301):
        seed = rng.getrandbits(32)
        if _exxo.crc32(data[off:off + n], seed) != zlib.crc32(data[off:off + n], seed):
            bad.append((off, n))
for n in (1 << 16, (1 << 20) + 13, len(data)):
    if _exxo.crc32(data[:n]) != zlib.crc32(data[:n]):
        bad.append(("big", n))
running = 0
for piece in (data[:100], data[100:5000], data[5000:]):
    running = _exxo.crc32(piece, running)
print(bad, running == zlib.crc32(data), _exxo.crc32(memoryview(data)[3:99]) == zlib.crc32(data[3:99]))
"""


def test_crc32_is_zlibs(runtime: Runtime) -> None:
    proc = subprocess.run([str(runtime.python), "-I", "-c", CHECK], capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "[] True True\n", "")
