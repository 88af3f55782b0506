"""The launcher's carry-less-multiplication CRC-32 (launcher/crc32.c): its constants are powers of x modulo the
zip polynomial, derived here from the polynomial itself, not copied. tests/integration/test_launcher_crc32.py
runs the function against zlib.crc32."""

from __future__ import annotations

import re
from pathlib import Path

SOURCE = (Path(__file__).resolve().parents[2] / "src" / "exxo" / "launcher" / "crc32.c").read_text()
P = 0x104C11DB7  # x^32 + x^26 + ... + 1, the CRC-32 of zip, gzip, PNG


def x_pow_mod(n: int) -> int:
    r = 1
    for _ in range(n):
        r <<= 1
        if r & (1 << 32):
            r ^= P
    return r


def x_pow_div(n: int) -> int:
    num, q = 1 << n, 0
    while num.bit_length() >= 33:
        shift = num.bit_length() - 33
        q |= 1 << shift
        num ^= P << shift
    return q


def reflect(value: int, bits: int) -> int:
    return int(format(value, f"0{bits}b")[::-1], 2)


def folding(n: int) -> int:
    """x^n mod P as the reflected folding uses it: bit-reflected over 32 bits, shifted left by one."""
    return reflect(x_pow_mod(n), 32) << 1


def test_every_constant_is_the_power_of_x_its_name_says() -> None:
    defined = {name: int(value, 16) for name, value in re.findall(r"#define EXXO_CRC_(\w+) (0x[0-9a-f]+)ULL", SOURCE)}
    assert defined == {"X544": folding(544), "X480": folding(480), "X160": folding(160), "X96": folding(96),
                       "X64": folding(64), "POLY": reflect(P, 33), "MU": reflect(x_pow_div(64), 33)}
