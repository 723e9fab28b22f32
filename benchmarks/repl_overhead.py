"""What the REPL client costs per request, against a raw pipe to the same (fake) REPL.

    python benchmarks/repl_overhead.py [--requests N] [--rounds R]

Both sides talk to `tests/fake_repl.py --scenario tests/scenarios/provable.json`, so the fake's own work cancels
out. Raw: blocking `os.write` of pre-encoded bytes, `os.read` until the blank line, no parsing. Client:
`ReplProcess.tactic` (validation, encoding, asyncio pipes, framing, timeout timer, pydantic parsing). Payloads: a
small tactic, and a 1 MB tactic (an unknown one, so the fake answers at once). Rounds alternate raw and client
batches and the best round's per-request time is reported (the least disturbed by other load).
Target: the client at most 0.2 ms above the raw pipe.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import timeit
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prover.lean.process import ReplProcess  # noqa: E402  (after the path set-up, for running from a checkout)
from prover.lean.protocol import TacticRequest, encode_request_body  # noqa: E402

FAKE = [
    sys.executable,
    str(ROOT / "tests" / "fake_repl.py"),
    "--scenario",
    str(ROOT / "tests" / "scenarios" / "provable.json"),
]
HEADER = "import Mathlib"
STATEMENT = "theorem t1 (x : ℕ) : x + 0 = x := by sorry"
SMALL = "rw [Nat.add_comm]"
BIG = "skip -- " + "x" * (1024 * 1024)
TARGET_MS = 0.2


class RawPipe:
    """The floor: a blocking pipe with no validation and no parsing."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            FAKE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin = self.proc.stdin.fileno()
        self.stdout = self.proc.stdout.fileno()
        if sys.platform.startswith("linux"):  # the same 1 MiB pipes as the client, so only the client differs
            import fcntl

            for fd in (self.stdin, self.stdout):
                with contextlib.suppress(OSError):
                    fcntl.fcntl(fd, 1031, 1 << 20)  # F_SETPIPE_SZ
        self.buf = b""

    def roundtrip(self, data: bytes) -> bytes:
        view = memoryview(data)
        while view:
            view = view[os.write(self.stdin, view) :]
        while True:
            end = self.buf.find(b"\n\n")
            if end >= 0:
                frame, self.buf = self.buf[:end], self.buf[end + 2 :]
                return frame
            chunk = os.read(self.stdout, 1 << 20)
            if not chunk:
                raise RuntimeError("the fake REPL exited")
            self.buf += chunk

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def wire(obj: dict[str, object]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


async def measure(requests: int, rounds: int) -> None:
    raw = RawPipe()
    raw.roundtrip(wire({"cmd": HEADER}))
    raw.roundtrip(wire({"cmd": STATEMENT, "env": 0}))
    async with ReplProcess(FAKE, ROOT) as client:
        await client.command(HEADER)
        await client.command(STATEMENT, env=0)
        print(f"{'payload':<8} {'raw µs':>9} {'client µs':>10} {'overhead µs':>12} {'of it JSON µs':>14} {'ratio':>6}")
        for label, tactic, n in (("small", SMALL, requests), ("1 MB", BIG, max(5, requests // 100))):
            data = wire({"tactic": tactic, "proofState": 0})
            raw_times: list[float] = []
            client_times: list[float] = []
            for _ in range(rounds):  # alternate, so that load from elsewhere hits both sides alike
                started = time.perf_counter()
                for _ in range(n):
                    raw.roundtrip(data)
                raw_times.append((time.perf_counter() - started) / n)
                started = time.perf_counter()
                for _ in range(n):
                    await client.tactic(tactic, 0, timeout=60)
                client_times.append((time.perf_counter() - started) / n)
            req = TacticRequest(tactic=tactic, proof_state=0)
            encode = min(timeit.repeat(partial(encode_request_body, req), number=n, repeat=rounds)) / n * 1e6
            r, c = min(raw_times) * 1e6, min(client_times) * 1e6
            verdict = "within" if (c - r) / 1000 <= TARGET_MS else "ABOVE"
            print(
                f"{label:<8} {r:>9.1f} {c:>10.1f} {c - r:>12.1f} {encode:>14.1f} {c / r:>6.2f}"
                f"   {verdict} {TARGET_MS} ms"
            )
        print(
            f"(best of {rounds} alternating rounds; 'of it JSON' is the one validated encoding pass the raw pipe skips)"
        )
    raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="small requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(measure(args.requests, args.rounds))


if __name__ == "__main__":
    main()
