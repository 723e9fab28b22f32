"""ReplProcess against the FAKE REPL (tests/fake_repl.py): framing, limits, and every fault the real one shows."""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from pydantic import ValidationError

from conftest import transcripts_dir
from fake_repl import fake_argv, leftovers
from prover.config import LeanConfig
from prover.errors import ReplCrashError, ReplStartError, ReplTimeoutError
from prover.lean.process import ReplProcess
from prover.lean.protocol import (
    CommandResponse,
    ErrorResponse,
    ProofStepResponse,
    TacticRequest,
    parse_request,
    parse_response,
)
from test_protocol import answered, expected_of, read_requests, read_responses

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
STATEMENT = "theorem t1 (x : ℕ) : x + 0 = x := by sorry"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fake(*args: str, **kwargs: Any) -> ReplProcess:
    return ReplProcess(fake_argv(*args), ROOT, **kwargs)


def assert_gone(pid: int | None, within: float = 5.0) -> None:
    """Neither the process nor anything in its process group is left (zombies aside)."""
    assert pid is not None
    deadline = time.monotonic() + within
    while leftovers(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(pid) == []


async def warm(repl: ReplProcess) -> int:
    """Header, then the statement: returns the root proof state (0)."""
    header = await repl.command("import Mathlib")
    assert isinstance(header, CommandResponse)
    stmt = await repl.command(STATEMENT, env=header.env)
    assert isinstance(stmt, CommandResponse) and stmt.sorries[0].proof_state == 0
    return 0


# ------------------------------------------------------------------------------------------- happy path


def test_header_statement_and_tactics() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--wrap") as repl:
            root = await warm(repl)
            bad = await repl.tactic("exact h", root)
            assert isinstance(bad, ErrorResponse) and "unknown identifier" in bad.message
            step = await repl.tactic("rw [Nat.add_comm]", root)
            assert isinstance(step, ProofStepResponse) and step.goals == ("x : ℕ\n⊢ 0 + x = x",)
            done = await repl.tactic("simp", step.proof_state)
            assert isinstance(done, ProofStepResponse) and done.goals == () and done.proof_status == "Completed"
            assert repl.proof_states_created == 3 and repl.alive
            pid = repl.pid
        assert not repl.alive
        assert_gone(pid)

    run(go())


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(transcripts_dir().rglob("*.in")) if expected_of(p).exists()],
    ids=lambda p: str(p.relative_to(transcripts_dir())),
)
def test_transcripts_replayed_through_the_client(path: Path) -> None:
    """Every recorded exchange goes through encode → pipe → framing → parse and gives the recorded answer."""
    queries = answered(read_requests(path))
    expected = [parse_response(text) for text in read_responses(expected_of(path))]

    async def go() -> None:
        async with fake("--transcript", str(path)) as repl:
            for query, want in zip(queries, expected):
                assert await repl.request(parse_request(query), timeout=10) == want

    run(go())


def test_concurrent_requests_are_serialised() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable") as repl:
            root = await warm(repl)
            tactics = ["rw [Nat.add_comm]", "exact h", "simp", "induction x"] * 10
            answers = await asyncio.gather(*(repl.tactic(t, root) for t in tactics))
            for tactic, resp in zip(tactics, answers):
                if tactic == "exact h":
                    assert isinstance(resp, ErrorResponse)
                else:
                    assert isinstance(resp, ProofStepResponse)
                    assert (resp.goals == ()) == (tactic == "simp")

    run(go())


def test_big_request_and_big_answer_pass() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--fault-at", "3:huge") as repl:
            header = await repl.command("import Mathlib")
            assert isinstance(header, CommandResponse)
            comment = "/-" + "a long comment line\n" * 55_000 + "-/"  # ~1 MB
            assert len(comment) > 1_000_000
            resp = await repl.command(comment + "\n" + STATEMENT, env=header.env, timeout=10)
            assert isinstance(resp, CommandResponse) and len(resp.sorries) == 1
            started = time.monotonic()
            huge = await repl.tactic("rw [Nat.add_comm]", resp.sorries[0].proof_state or 0, timeout=30)
            assert isinstance(huge, ProofStepResponse) and len(huge.traces[0]) >= 10 * 1024 * 1024
            assert time.monotonic() - started < 10
            assert isinstance(await repl.tactic("simp", huge.proof_state), ProofStepResponse)

    run(go())


def test_stderr_flood_does_not_stall_and_keeps_a_tail() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--fault-at", "2:stderr_flood") as repl:
            await repl.command("import Mathlib")
            resp = await repl.command(STATEMENT, env=0, timeout=20)
            assert isinstance(resp, CommandResponse)
            tail = repl.stderr_tail
            assert "stderr flood" in tail and "earlier bytes of stderr dropped" in tail and len(tail) < 64 * 1024

    run(go())


def test_slow_answer_within_and_beyond_the_timeout() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--fault-at", "3:slow:0.4") as repl:
            root = await warm(repl)
            assert isinstance(await repl.tactic("simp", root, timeout=5), ProofStepResponse)
        async with fake("--scenario", "provable", "--fault-at", "3:slow:2") as repl:
            root = await warm(repl)
            with pytest.raises(ReplTimeoutError):
                await repl.tactic("simp", root, timeout=0.3)

    run(go())


# ------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("kind", "code", "oom", "stderr"),
    [
        ("exit137", 137, True, "injected exit 137"),
        ("exit139", 139, False, "injected exit 139"),
        ("exit1", 1, False, "uncaught exception"),
        ("garbage", None, False, ""),
    ],
)
def test_crash_faults_raise_and_leave_nothing_behind(kind: str, code: int | None, oom: bool, stderr: str) -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--wrap", "--fault-at", f"3:{kind}") as repl:
            root = await warm(repl)
            with pytest.raises(ReplCrashError) as info:
                await repl.tactic("simp", root, timeout=5)
            assert not repl.alive
            if code is not None:
                assert info.value.returncode == code
            assert info.value.oom is oom
            assert stderr in info.value.stderr_tail
            if kind == "garbage":
                assert "protocol broken" in str(info.value)
            assert_gone(repl.pid)
            with pytest.raises(ReplCrashError):
                await repl.tactic("simp", root)
        async with fake("--scenario", "provable") as fresh:  # the next request works on a fresh process
            assert isinstance(await fresh.tactic("simp", await warm(fresh)), ProofStepResponse)

    run(go())


def test_hang_times_out_and_kills_the_whole_group() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--wrap", "--fault-at", "3:hang") as repl:
            root = await warm(repl)
            pid = repl.pid
            assert pid is not None and len(leftovers(pid)) == 2  # the wrapper and the REPL under it
            started = time.monotonic()
            with pytest.raises(ReplTimeoutError):
                await repl.tactic("simp", root, timeout=0.5)
            assert time.monotonic() - started < 3
            assert not repl.alive
            assert_gone(pid)

    run(go())


def test_a_crash_on_the_first_request_is_a_start_error() -> None:
    async def go() -> None:
        async with fake("--fault-at", "1:exit1") as repl:
            with pytest.raises(ReplStartError, match="before answering its first request"):
                await repl.command("import Mathlib")

    run(go())


def test_a_missing_program_or_directory_is_a_start_error(tmp_path: Path) -> None:
    async def go() -> None:
        with pytest.raises(ReplStartError, match="cannot start"):
            await ReplProcess(["/nonexistent/repl"], ROOT).start()
        with pytest.raises(ReplStartError):
            await ReplProcess(fake_argv(), tmp_path / "missing").start()

    run(go())


def test_invalid_requests_are_refused_before_sending() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable") as repl:
            root = await warm(repl)
            with pytest.raises(ValidationError):
                await repl.tactic("simp", -1)
            with pytest.raises(ValueError):
                await repl.tactic("bad \ud800", root)
            assert repl.alive
            assert isinstance(await repl.tactic("simp", root), ProofStepResponse)

    run(go())


def test_a_malformed_request_kills_the_repl_as_the_real_one_does() -> None:
    # What validation prevents: a negative id matches no request shape, REPL/Main.lean `parse` throws uncaught.
    async def go() -> None:
        async with fake("--scenario", "provable") as repl:
            root = await warm(repl)
            bad = TacticRequest.model_construct(tactic="simp", proof_state=-1)  # bypasses validation
            with pytest.raises(ReplCrashError) as info:
                await repl.request(bad, timeout=5)
            assert info.value.returncode == 1
            assert "uncaught exception" in info.value.stderr_tail and "Could not parse" in info.value.stderr_tail
            del root

    run(go())


def test_fake_repl_framing_matches_the_real_loop() -> None:
    """Raw pipes: `#`/`--` queries get no reply, an extra blank line is fatal, EOF exits 0."""
    queries = b'# a comment\n\n-- another\n\n{"cmd": "import Mathlib"}\n\n'
    out = subprocess.run(fake_argv("--scenario", "provable"), input=queries, capture_output=True, timeout=10)
    assert out.returncode == 0 and out.stdout.count(b"\n\n") == 1
    out = subprocess.run(
        fake_argv("--scenario", "provable"), input=b'{"cmd": "x"}\n\n\n', capture_output=True, timeout=10
    )
    assert out.returncode == 1 and out.stdout.count(b"\n\n") == 1
    assert out.stderr.startswith(b'uncaught exception: {"message": "Could not parse JSON:')
    multi = b'{"cmd":\n   "import Mathlib"}\n\n'  # lines right-trimmed and joined, as getLines does
    out = subprocess.run(fake_argv("--scenario", "provable"), input=multi, capture_output=True, timeout=10)
    assert out.returncode == 0 and json.loads(out.stdout) == {"env": 0}


def test_cancelled_request_does_not_shift_later_answers() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--fault-at", "3:slow:0.5") as repl:
            root = await warm(repl)
            task = asyncio.ensure_future(repl.tactic("rw [Nat.add_comm]", root))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            resp = await repl.tactic("exact h", root, timeout=5)  # must not get the late answer to `rw`
            assert isinstance(resp, ErrorResponse)

    run(go())


def test_close_is_idempotent_and_requests_after_close_fail() -> None:
    async def go() -> None:
        repl = fake("--scenario", "provable")
        await repl.start()
        await warm(repl)
        await repl.close()
        await repl.close()
        assert not repl.alive
        with pytest.raises(ReplCrashError):
            await repl.tactic("simp", 0)
        assert_gone(repl.pid)

    run(go())


# ------------------------------------------------------------------------------------------------ limits


def test_lean_num_threads_and_rlimit_as_reach_the_child() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", lean_num_threads=3, memory_limit_mb=8192) as repl:
            await warm(repl)
            assert repl.pid is not None
            child = psutil.Process(repl.pid)
            assert child.environ()["LEAN_NUM_THREADS"] == "3"
            assert child.rlimit(resource.RLIMIT_AS) == (8192 * 1024 * 1024,) * 2

    run(go())


def test_proof_state_limit_marks_for_recycling() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", max_proof_states=3) as repl:
            root = await warm(repl)
            await repl.tactic("rw [Nat.add_comm]", root)
            assert not repl.needs_recycle
            await repl.tactic("rw [Nat.add_comm]", root)
            assert repl.proof_states_created == 3 and repl.needs_recycle

    run(go())


def test_rss_ceiling_marks_for_recycling_and_kills_a_growing_request() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", max_rss_mb=1) as repl:
            await warm(repl)
            assert repl.needs_recycle  # a Python process is far above 1 MiB
        async with fake("--scenario", "provable", "--fault-at", "3:slow:5", max_rss_mb=1) as repl:
            root = await warm(repl)
            with pytest.raises(ReplCrashError) as info:
                await repl.tactic("simp", root, timeout=10)
            assert info.value.oom and "RSS" in str(info.value)
            assert_gone(repl.pid)

    run(go())


def test_from_config_uses_the_configured_command() -> None:
    config = LeanConfig(
        project_dir=ROOT, repl_command=" ".join(fake_argv("--scenario", "provable")), tactic_timeout=3.0
    )
    repl = ReplProcess.from_config(config, name="w1")
    assert repl.argv == fake_argv("--scenario", "provable") and repl.cwd == ROOT and repl.tactic_timeout == 3.0


ORPHAN_SCRIPT = """
import asyncio, sys
from pathlib import Path
from prover.lean.process import ReplProcess
async def main():
    repl = ReplProcess(sys.argv[1:], Path("."))
    await repl.start()
    await repl.command("import Mathlib")
    print(repl.pid, flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


def test_no_orphan_survives_a_killed_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, *fake_argv("--scenario", "provable", "--wrap")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert len(leftovers(pid)) == 2
        parent.kill()  # SIGKILL: no close(), no atexit
        parent.wait()
        assert_gone(pid)
    finally:
        parent.kill()


# ------------------------------------------------------------------ runaway output, cancellation, the spawn


def test_an_answer_that_never_ends_is_cut_off_as_too_large() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--fault-at", "3:endless", max_response_bytes=1 << 20) as repl:
            root = await warm(repl)
            with pytest.raises(ReplCrashError, match="response too large"):
                await repl.tactic("rw [Nat.add_comm]", root, timeout=30)
            assert not repl.alive
        assert_gone(repl.pid)

    run(go())


def test_a_request_cancelled_in_flight_marks_the_process_for_recycling() -> None:
    async def go() -> None:
        async with fake("--scenario", "provable", "--fault-at", "3:slow:5") as repl:
            root = await warm(repl)
            assert not repl.needs_recycle
            task = asyncio.ensure_future(repl.tactic("rw [Nat.add_comm]", root))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert repl.needs_recycle

    run(go())


def test_the_child_is_spawned_without_preexec_fn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python between fork and exec can hang a process with threads (notes F9): the limits come from the wrapper."""
    seen: list[dict[str, Any]] = []
    original = asyncio.base_events.BaseEventLoop.subprocess_exec

    async def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "subprocess_exec", spy)

    async def go() -> None:
        async with fake("--scenario", "provable", memory_limit_mb=8192) as repl:
            await warm(repl)
            assert repl.pid is not None
            assert psutil.Process(repl.pid).rlimit(resource.RLIMIT_AS) == (8192 * 1024 * 1024,) * 2

    run(go())
    assert seen and all(kw.get("preexec_fn") is None for kw in seen)
    assert all(kw.get("start_new_session") for kw in seen)


def test_lines_before_the_first_answer_are_dropped() -> None:
    """`lake env` shares the REPL's stdout: a Lake message before the REPL starts must not break the first frame."""

    async def go() -> None:
        noise = "info: REPL: cloning https://github.com/leanprover-community/repl\nwarning: manifest out of date"
        async with fake("--scenario", "provable", "--stdout-noise", noise) as repl:
            assert await warm(repl) == 0
            assert isinstance(await repl.tactic("rw [Nat.add_comm]", 0), ProofStepResponse)

    run(go())
