"""Checks per second of the batch checker against W warm workers, and what HTTP adds per check, in one run.

    python benchmarks/check_throughput.py [--check-seconds T] [--workers 1,2,4,8] [--per-worker N]

Lean is `tests/fake_repl.py` with a simulated check time: each proof command sleeps T seconds (a `slow:T` fault
in a generated scenario), the `#print axioms` that follows answers at once. The ideal is W / T checks/s; the
target is at least 0.9 of it (the checker's own cost, pool hand-offs and the ordered writer must not show).
HTTP overhead: the same proofs with T = 0 checked directly (`Checker.check`) and through `POST /check` of a real
uvicorn server on loopback (one proof per request, one client, W = 1); the difference per check is what the
HTTP layer costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prover.config import LeanConfig  # noqa: E402  (after the path set-up, for running from a checkout)
from prover.service.batch import VerdictWriter, run_batch  # noqa: E402
from prover.service.checker import Checker, CheckPolicy  # noqa: E402
from prover.service.inputs import ProofItem, from_record  # noqa: E402

TARGET = 0.9


def scenario(directory: Path, seconds: float) -> str:
    goal = "⊢ bench goal"
    entry = {"fault": f"slow:{seconds}", "goals": []} if seconds > 0 else {"goals": []}
    path = directory / f"bench_{seconds}.json"
    path.write_text(json.dumps({"statements": {"bench_goal": {"goals": [goal]}}, "tactics": {goal: {"wait": entry}}}))
    return shlex.join([sys.executable, str(ROOT / "tests" / "fake_repl.py"), "--scenario", str(path)])


def items(n: int) -> list[ProofItem]:
    return [from_record({"id": f"p{i}", "statement": "theorem bench_goal : bench goal", "proof": "wait"}, "") for i in range(n)]


async def throughput(repl: str, workers: int, n: int) -> tuple[float, int]:
    config = LeanConfig(project_dir=ROOT, repl_command=repl, workers=workers)
    async with Checker(config, CheckPolicy(timeout=30)) as checker:
        await checker.check(items(1)[0])  # start the pool (header import) outside the timing
        started = time.perf_counter()
        summary = await run_batch(items(n), checker, VerdictWriter(None))
        wall = time.perf_counter() - started
    return n / wall, summary.verified


async def direct_latency(repl: str, n: int) -> float:
    config = LeanConfig(project_dir=ROOT, repl_command=repl, workers=1)
    async with Checker(config, CheckPolicy(timeout=30)) as checker:
        proofs = items(n + 5)
        for item in proofs[:5]:
            await checker.check(item)
        started = time.perf_counter()
        for item in proofs[5:]:
            assert (await checker.check(item)).verified
        return (time.perf_counter() - started) / n


def http_latency(repl: str, n: int) -> float:
    import httpx
    import uvicorn

    from prover.service.server import ServerSettings, Service, create_app

    ready = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        config = LeanConfig(project_dir=ROOT, repl_command=repl, workers=1)
        service = Service(Checker(config, CheckPolicy(timeout=30)), ServerSettings())
        server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=0, log_level="warning"))
        holder["server"] = server

        async def main() -> None:
            task = asyncio.ensure_future(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            holder["port"] = server.servers[0].sockets[0].getsockname()[1]
            ready.set()
            await task

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(30)
    body = {"statement": "theorem bench_goal : bench goal", "proof": "wait"}
    with httpx.Client(base_url=f"http://127.0.0.1:{holder['port']}", timeout=30) as client:
        for i in range(5):
            client.post("/check", json={"id": f"w{i}", **body})
        started = time.perf_counter()
        for i in range(n):
            resp = client.post("/check", json={"id": f"h{i}", **body})
            assert resp.json()["results"][0]["verdict"] == "verified", resp.text
        per = (time.perf_counter() - started) / n
    server = holder["server"]
    server.should_exit = True  # type: ignore[attr-defined]
    thread.join(30)
    return per


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-seconds", type=float, default=0.05, help="simulated Lean time per proof")
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    parser.add_argument("--per-worker", type=int, default=40, help="proofs per worker in each run")
    parser.add_argument("--http-checks", type=int, default=200, help="proofs for the HTTP overhead measurement")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    worst = 1.0
    with tempfile.TemporaryDirectory() as tmp:
        slow = scenario(Path(tmp), args.check_seconds)
        fast = scenario(Path(tmp), 0.0)
        t = args.check_seconds
        print(f"simulated Lean check time t = {t * 1000:g} ms per proof; ideal = W / t")
        print(f"{'W':>3} {'proofs':>7} {'checks/s':>9} {'ideal':>7} {'ratio':>6}")
        for workers in counts:
            n = workers * args.per_worker
            rate, verified = asyncio.run(throughput(slow, workers, n))
            assert verified == n, f"only {verified} of {n} verified"
            ideal = workers / t
            worst = min(worst, rate / ideal)
            print(f"{workers:>3} {n:>7} {rate:>9.1f} {ideal:>7.1f} {rate / ideal:>6.3f}")
        direct = asyncio.run(direct_latency(fast, args.http_checks))
        http = http_latency(fast, args.http_checks)
    print(f"per check with t = 0 (W = 1, sequential): direct {direct * 1000:.2f} ms, "
          f"HTTP {http * 1000:.2f} ms, HTTP overhead {(http - direct) * 1000:.2f} ms per check")
    verdict = "met" if worst >= TARGET else "MISSED"
    print(f"worst ratio {worst:.3f} (target ≥ {TARGET}): {verdict}")
    return 0 if worst >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
