"""ReplPool against the FAKE REPL: warm workers per header, deadlines, recycling and transparent replacement."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fake_repl import fake_command, leftovers
from prover.config import LeanConfig
from prover.errors import NoAvailableReplError, ReplStartError
from prover.lean.pool import ReplPool
from prover.lean.protocol import CommandResponse

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
HEADER = "import Mathlib\nopen Nat"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def config(*args: str, **changes: Any) -> LeanConfig:
    return LeanConfig(project_dir=ROOT, repl_command=fake_command("--scenario", "provable", *args), **changes)


def env_less_commands(log: Path) -> Counter[int]:
    """How many env-less commands (headers) each fake REPL pid received."""
    counts: Counter[int] = Counter()
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        query = json.loads(entry["query"])
        if "cmd" in query and "env" not in query:
            counts[entry["pid"]] += 1
    return counts


def test_each_worker_sends_its_header_once_and_reuses_the_env(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"

    async def go() -> None:
        async with ReplPool(config("--log", str(log), workers=3), HEADER) as pool:
            for _ in range(5):
                async with pool.acquire() as worker:
                    resp = await worker.process.command(
                        "theorem t1 (x : ℕ) : x + 0 = x := by sorry", env=worker.header_env
                    )
                    assert isinstance(resp, CommandResponse) and len(resp.sorries) == 1
            pids = {w.process.pid for w in pool._live}
        counts = env_less_commands(log)
        assert set(counts) == pids and len(pids) == 3
        assert all(n == 1 for n in counts.values())

    run(go())


def test_workers_are_exclusive_and_acquire_has_a_deadline() -> None:
    async def go() -> None:
        async with ReplPool(config(workers=2), HEADER) as pool:
            async with pool.acquire() as a, pool.acquire() as b:
                assert a is not b
                started = time.monotonic()
                with pytest.raises(NoAvailableReplError):
                    async with pool.acquire(timeout=0.2):
                        pass
                assert 0.15 < time.monotonic() - started < 2
            async with pool.acquire(timeout=0.2) as c:  # free again
                assert c in (a, b)

    run(go())


def test_a_waiter_gets_the_worker_when_it_is_returned() -> None:
    async def go() -> None:
        async with ReplPool(config(workers=1), HEADER) as pool:
            order: list[str] = []

            async def user(name: str, hold: float) -> None:
                async with pool.acquire(timeout=5):
                    order.append(name)
                    await asyncio.sleep(hold)

            await asyncio.gather(user("first", 0.2), user("second", 0), user("third", 0))
            assert order == ["first", "second", "third"]

    run(go())


def test_prefer_picks_the_worker_asked_for() -> None:
    async def go() -> None:
        async with ReplPool(config(workers=3), HEADER) as pool:
            target = sorted(pool._live, key=lambda w: w.uid)[1]
            for _ in range(3):
                async with pool.acquire(prefer=lambda w: w is target) as worker:
                    assert worker is target

    run(go())


def test_a_dead_worker_is_replaced_transparently() -> None:
    async def go() -> None:
        async with ReplPool(config(workers=1), HEADER) as pool:
            async with pool.acquire() as worker:
                old_pid = worker.process.pid
                assert old_pid is not None
                os.killpg(old_pid, signal.SIGKILL)
                await asyncio.sleep(0.2)
                assert not worker.alive
            async with pool.acquire(timeout=10) as fresh:
                assert fresh is not worker and fresh.alive and fresh.process.pid != old_pid
                resp = await fresh.process.command("theorem t1 (x : ℕ) : x + 0 = x := by sorry", env=fresh.header_env)
                assert isinstance(resp, CommandResponse)
            assert pool.restarts == 1
            assert leftovers(old_pid) == []

    run(go())


def test_a_worker_dying_while_idle_is_replaced() -> None:
    async def go() -> None:
        async with ReplPool(config(workers=1), HEADER) as pool:
            (worker,) = pool._live
            assert worker.process.pid is not None
            os.killpg(worker.process.pid, signal.SIGKILL)
            await asyncio.sleep(0.2)
            async with pool.acquire(timeout=10) as fresh:
                assert fresh is not worker and fresh.alive

    run(go())


def test_worn_out_workers_are_recycled() -> None:
    async def go() -> None:
        async with ReplPool(config(workers=1, max_proof_states=2), HEADER) as pool:
            pids = []
            for _ in range(3):
                async with pool.acquire(timeout=10) as worker:
                    pids.append(worker.process.pid)
                    await worker.process.command("theorem t1 (x : ℕ) : x + 0 = x := by sorry", env=worker.header_env)
                    await worker.process.tactic("rw [Nat.add_comm]", 0)
            assert len(set(pids)) == 3 and pool.restarts >= 2

    run(go())


def test_a_slow_header_is_waited_for() -> None:
    async def go() -> None:
        started = time.monotonic()
        async with ReplPool(config("--header-delay", "0.3", workers=2), HEADER) as pool:
            assert time.monotonic() - started < 2  # the two imports run in parallel
            async with pool.acquire() as worker:
                assert worker.header_env == 0

    run(go())


def test_a_header_that_fails_or_a_repl_that_dies_is_a_start_error() -> None:
    async def go() -> None:
        with pytest.raises(ReplStartError):
            async with ReplPool(config("--fault-at", "1:exit1", workers=2), HEADER):
                pass
        bad = LeanConfig(project_dir=ROOT, repl_command="/nonexistent/repl")
        with pytest.raises(ReplStartError):
            await ReplPool(bad, HEADER).start()

    run(go())


def test_replacement_failure_reaches_waiters(tmp_path: Path) -> None:
    """When no worker is alive and a replacement cannot start, acquire raises instead of waiting forever."""
    flag = tmp_path / "broken"

    async def go() -> None:
        # The REPL command works once, then every later start dies at once.
        script = tmp_path / "repl.sh"
        script.write_text(
            f"#!/bin/sh\nif [ -e {flag} ]; then echo broken >&2; exit 3; fi\n"
            f"exec {fake_command('--scenario', 'provable')}\n"
        )
        script.chmod(0o755)
        cfg = LeanConfig(project_dir=ROOT, repl_command=str(script), workers=1)
        async with ReplPool(cfg, HEADER) as pool:
            flag.touch()
            async with pool.acquire() as worker:
                assert worker.process.pid is not None
                os.killpg(worker.process.pid, signal.SIGKILL)
                await asyncio.sleep(0.2)
            with pytest.raises(ReplStartError, match="broken"):
                async with pool.acquire(timeout=10):
                    pass

    run(go())


def test_close_kills_every_process_even_busy_ones() -> None:
    async def go() -> None:
        pool = ReplPool(config(workers=2), HEADER)
        await pool.start()
        pids = [w.process.pid for w in pool._live]
        worker = await pool.get()
        await pool.close()
        await pool.close()
        pool.put(worker)  # returning after close is harmless
        for pid in pids:
            assert pid is not None and leftovers(pid) == []
        with pytest.raises(NoAvailableReplError):
            await pool.get()

    run(go())


def test_a_worker_whose_request_was_cancelled_is_replaced_not_handed_on() -> None:
    """Problem A's tactic is cut off by its deadline while Lean still runs it (5 s); problem B, provable at once,
    must not wait behind it (issue 10, item 4)."""

    async def go() -> float:
        async with ReplPool(config("--fault-at", "3:slow:5", workers=1), HEADER) as pool:
            async with pool.acquire() as worker:
                resp = await worker.process.command("theorem t1 (x : ℕ) : x + 0 = x := by sorry", env=worker.header_env)
                assert isinstance(resp, CommandResponse)
                ps = resp.sorries[0].proof_state
                assert ps is not None
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(worker.process.tactic("rw [Nat.add_comm]", ps), 0.3)
            started = time.monotonic()
            async with pool.acquire() as worker:
                resp = await worker.process.command("theorem t1 (x : ℕ) : x + 0 = x := by sorry", env=worker.header_env)
                assert isinstance(resp, CommandResponse) and resp.sorries
            return time.monotonic() - started

    assert run(go()) < 3.0
