"""Seeded fuzz of a built exxo binary and of `exxo inspect` (`make fuzz`; `make test` runs a 1,000-case slice).

Each case damages a copy of one binary: a truncation inside its zip, a byte flip in its zip (the ELF part is
the runtime's machine code, which nothing at start checks), or a variant of its trailer (the 22-byte EOCD and
the 74-byte marker, with random, huge, wrapping and misplaced numbers). The damaged file is run (and given to
`exxo inspect`) and its outcome put in a class:

    intact      rc 0 and the pristine binary's output: the damage hit bytes nothing reads
    damaged     the binary exits 126 with one line saying it is damaged (inspect: exit 4, one line)
    FAIL-...    a signal, a hang, a traceback, or any other exit: each is a bug

    python tests/fuzz/fuzz_binary.py [--cases 10000] [--seed 1] [--inspect-every 10]
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from exxo import format as fmt  # noqa: E402

TIMEOUT = 20


@dataclass
class Target:
    data: bytes
    zip_at: int
    expected: str  # the pristine binary's stdout
    args: list[str]


def damage(rng: random.Random, t: Target) -> tuple[str, bytes]:
    """(kind, damaged bytes) of one case."""
    data = bytearray(t.data)
    kind = rng.choice(("truncate", "flip", "flip", "trailer"))
    if kind == "truncate":
        return kind, bytes(data[:rng.randrange(t.zip_at, len(data))])
    if kind == "flip":
        # half the flips near the end: the index, the manifest and the trailer are there
        lo = t.zip_at if rng.random() < 0.5 else max(t.zip_at, len(data) - 200_000)
        at = rng.randrange(lo, len(data))
        data[at] ^= rng.randrange(1, 256)
        return kind, bytes(data)
    tail = len(data) - fmt.TAIL_SIZE
    choice = rng.randrange(5)
    if choice == 0:  # a random hex digit anywhere in the four numbers
        at = tail + fmt.EOCD_SIZE + rng.choice(fmt.FIELD_AT) + rng.randrange(16)
        data[at] = ord(rng.choice("0123456789abcdef"))
    elif choice == 1:  # a whole field replaced by a huge, wrapping or misplaced value
        value = rng.choice((0, 1, t.zip_at - 1, len(data), (1 << 64) - 1, (1 << 63), rng.randrange(1 << 64),
                            rng.randrange(len(data))))
        at = tail + fmt.EOCD_SIZE + rng.choice(fmt.FIELD_AT)
        data[at:at + 16] = b"%016x" % value
    elif choice == 2:  # the EOCD's central-directory size or offset
        at = tail + rng.choice((12, 16))
        data[at:at + 4] = rng.randrange(1 << 32).to_bytes(4, "little")
    elif choice == 3:  # the kind byte or the magic
        at = tail + fmt.EOCD_SIZE + rng.randrange(6)
        data[at] = rng.randrange(256)
    else:  # a byte of the trailer at random
        data[tail + rng.randrange(fmt.TAIL_SIZE)] ^= rng.randrange(1, 256)
    return "trailer", bytes(data)


def classify_run(proc: subprocess.CompletedProcess[str] | None, t: Target) -> str:
    if proc is None:
        return "FAIL-hang"
    if proc.returncode < 0:
        return f"FAIL-signal-{-proc.returncode}"
    if "Traceback" in proc.stderr:
        return "FAIL-traceback"
    if proc.returncode == 0 and proc.stdout == t.expected:
        return "intact"
    lines = proc.stderr.strip().splitlines()
    if proc.returncode == 126 and len(lines) == 1 and "damaged" in lines[0]:
        return "damaged"
    return f"FAIL-rc-{proc.returncode}"


def classify_inspect(proc: subprocess.CompletedProcess[str] | None) -> str:
    if proc is None:
        return "FAIL-hang"
    if proc.returncode < 0 or "Traceback" in proc.stderr:
        return "FAIL-crash"
    if proc.returncode == 0:
        return "intact"
    lines = proc.stderr.strip().splitlines()
    return "damaged" if proc.returncode == 4 and len(lines) == 1 else f"FAIL-rc-{proc.returncode}"


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=TIMEOUT, cwd=cwd,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "EXXO_NATIVE": "memfd"})
    except subprocess.TimeoutExpired:
        return None


def fuzz(binary: Path, cases: int, seed: int, inspect_every: int = 10,
         args: tuple[str, ...] = ()) -> tuple[collections.Counter[str], list[str]]:
    """Outcome counts (`run:<class>`, `inspect:<class>`) and one line per failing case (to reproduce it)."""
    data = binary.read_bytes()
    parsed = fmt.parse_tail(data[-fmt.TAIL_SIZE:], len(data))
    if parsed is None:
        raise SystemExit(f"{binary} is not an exxo binary")
    with tempfile.TemporaryDirectory(prefix="exxo-fuzz-") as tmp_name:
        tmp = Path(tmp_name)
        victim = tmp / "victim"  # every case runs under this one path (the app may print its own path)
        victim.write_bytes(data)
        victim.chmod(0o755)
        pristine = run([str(victim), *args], tmp)
        assert pristine is not None and pristine.returncode == 0, pristine
        t = Target(data, parsed[1], pristine.stdout, list(args))
        rng = random.Random(seed)
        counts: collections.Counter[str] = collections.Counter()
        failures: list[str] = []
        for case in range(cases):
            kind, damaged = damage(rng, t)
            victim.write_bytes(damaged)
            victim.chmod(0o755)
            outcome = classify_run(run([str(victim), *args], tmp), t)
            counts[f"run:{outcome}"] += 1
            if outcome.startswith("FAIL"):
                failures.append(f"case {case} ({kind}, seed {seed}): {outcome}")
            if inspect_every and case % inspect_every == 0:
                shown = classify_inspect(run([sys.executable, "-m", "exxo", "inspect", str(victim)], tmp))
                counts[f"inspect:{shown}"] += 1
                if shown.startswith("FAIL"):
                    failures.append(f"case {case} ({kind}, seed {seed}): inspect {shown}")
        return counts, failures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("binary", type=Path, nargs="?", help="default: build tests/fixtures/cli-pure")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--inspect-every", type=int, default=10, help="also run `exxo inspect` every N cases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="exxo-fuzz-build-") as tmp_name:
        binary = args.binary or build_fixture(Path(tmp_name))
        counts, failures = fuzz(binary, args.cases, args.seed, args.inspect_every)
    for key in sorted(counts):
        print(f"{key:28} {counts[key]}")
    for line in failures[:50]:
        print(line)
    return 1 if failures else 0


def build_fixture(tmp: Path) -> Path:
    venv = tmp / "env"
    exxo = [sys.executable, "-m", "exxo"]
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run([*exxo, "venv", str(venv)], check=True, env=env, capture_output=True)
    out = tmp / "cli-pure"
    subprocess.run([*exxo, "build", "-s", str(ROOT / "tests" / "fixtures" / "cli-pure"), "--venv", str(venv), "-o",
                    str(out)], check=True, env=env, capture_output=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
