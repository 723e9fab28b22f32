"""The sweep runner with injected prove functions: concurrency, resume, progress, errors, competition mode."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from benchmarks.loaders import Problem
from benchmarks.records import RunRecords, load_run
from benchmarks.sweep import SweepProgress, SweepSummary, run_sweep
from prover.errors import (
    EnvironmentProblem,
    ReplCrashError,
    ReplStartError,
    StatementError,
)
from prover.results import ProofResult, ProofStats, ProofStatus


def problems(n: int, task: str = "toy") -> list[Problem]:
    return [Problem(task, f"p{i}", f"p{i}", f"theorem p{i} : True :=", "", "") for i in range(n)]


def outcome(problem: Problem, proved: bool, seconds: float = 0.0) -> ProofResult:
    status = ProofStatus.PROVED if proved else ProofStatus.FAILED
    return ProofResult(
        status, problem.statement, proof=("trivial",) if proved else (), stats=ProofStats(seconds_total=seconds)
    )


def solved_if_even(problem: Problem) -> bool:
    return int(problem.id[1:]) % 2 == 0


def sweep(*args: Any, **kwargs: Any) -> SweepSummary:
    return asyncio.run(run_sweep(*args, **kwargs))


@pytest.fixture
def records(tmp_path: Path):
    with RunRecords.create(tmp_path, "m") as r:
        yield r


def test_runs_w_problems_at_once_and_records_each(records: RunRecords) -> None:
    running = peak = 0

    async def prove(p: Problem) -> ProofResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return outcome(p, solved_if_even(p))

    summary = sweep(problems(20), prove, workers=4, records=records)
    assert peak == 4
    assert (summary.total, summary.done, summary.solved, summary.skipped, summary.errors) == (20, 20, 10, 0, 0)
    assert summary.by_task == {"toy": (10, 20)}
    samples = records.samples("toy")
    assert sorted(s["doc_id"] for s in samples) == list(range(20))
    results, _ = load_run(records.run_dir)
    assert results["complete"] is True and results["results"]["toy"]["pass_rate"] == 0.5


def test_resume_skips_recorded_problems(tmp_path: Path) -> None:
    seen: list[str] = []

    async def prove(p: Problem) -> ProofResult:
        seen.append(p.id)
        return outcome(p, True)

    with RunRecords.create(tmp_path, "m") as records:
        sweep(problems(5), prove, workers=2, records=records)
    seen.clear()
    progress: list[SweepProgress] = []
    with RunRecords.resume(tmp_path / "m") as records:
        summary = sweep(problems(8), prove, workers=2, records=records, on_progress=progress.append)
    assert sorted(seen) == ["p5", "p6", "p7"]
    assert (summary.skipped, summary.done, summary.solved) == (5, 3, 3)
    assert progress[0] == SweepProgress(
        solved=5, done=5, total=8, skipped=5, elapsed_s=progress[0].elapsed_s, eta_s=None
    )
    assert [p.done for p in progress] == [5, 6, 7, 8] and progress[-1].solved == 8
    assert progress[-1].eta_s == 0.0 and progress[1].last is not None and progress[1].last_status == "proved"


def test_errors_are_recorded_and_a_missing_environment_stops_the_sweep(records: RunRecords) -> None:
    async def prove(p: Problem) -> ProofResult:
        if p.id == "p1":
            raise StatementError("the statement does not elaborate", ("unknown identifier 'x'",))
        if p.id == "p2":
            raise RuntimeError("a bug")
        return outcome(p, True)

    summary = sweep(problems(4), prove, workers=1, records=records)
    assert (summary.done, summary.errors, summary.solved) == (4, 2, 2)
    by_id = {s["id"]: s for s in records.samples("toy")}
    assert by_id["p1"]["status"] == "error" and "unknown identifier" in by_id["p1"]["error"]
    assert by_id["p2"]["error"] == "RuntimeError: a bug"

    calls: list[str] = []

    async def lean_missing(p: Problem) -> ProofResult:
        calls.append(p.id)
        await asyncio.sleep(0.01 if p.id == "p4" else 0)
        raise EnvironmentProblem("lake is not on PATH", fix="make lean")

    with pytest.raises(EnvironmentProblem):
        sweep(problems(8), lean_missing, workers=2, records=records)
    assert records.done_ids("toy") == {"p0", "p1", "p2", "p3"}  # nothing recorded for the aborted ones


def test_a_repl_that_cannot_start_stops_the_sweep_but_a_crash_is_one_problems_error(records: RunRecords) -> None:
    async def crash_once(p: Problem) -> ProofResult:
        if p.id == "p0":
            raise ReplCrashError("the REPL exited", returncode=137)
        return outcome(p, True)

    assert sweep(problems(2), crash_once, workers=1, records=records).errors == 1

    async def cannot_start(p: Problem) -> ProofResult:
        raise ReplStartError("lake: no such file or directory")

    with pytest.raises(ReplStartError):
        sweep(problems(4), cannot_start, workers=1, records=records)
    assert records.done_ids("toy") == {"p0", "p1"}


def test_a_run_of_errors_stops_the_sweep_and_a_retry_picks_them_up(records: RunRecords) -> None:
    calls: list[str] = []

    async def server_down(p: Problem) -> ProofResult:
        calls.append(p.id)
        if p.id == "p0":
            return outcome(p, True)
        return ProofResult(ProofStatus.ERROR, p.statement, stop_reason="error", error="ModelError: connection refused")

    with pytest.raises(EnvironmentProblem, match="3 problems in a row") as caught:
        sweep(problems(10), server_down, workers=1, records=records, max_consecutive_errors=3)
    assert "connection refused" in str(caught.value) and "--retry-errors" in (caught.value.fix or "")
    assert calls == ["p0", "p1", "p2", "p3"]  # stopped at once, not after the other six
    statuses = {s["id"]: s["status"] for s in records.samples("toy")}
    assert statuses == {"p0": "proved", "p1": "error", "p2": "error", "p3": "error"}

    async def back_up(p: Problem) -> ProofResult:
        return outcome(p, True)

    summary = sweep(problems(10), back_up, workers=2, records=records, retry_errors=True, max_consecutive_errors=3)
    assert summary.done == 9 and {s["status"] for s in records.samples("toy")} == {"proved"}


def test_retry_errors_replaces_error_lines(records: RunRecords) -> None:
    async def flaky(p: Problem) -> ProofResult:
        raise RuntimeError("REPL died")

    sweep(problems(3), flaky, workers=3, records=records)

    async def fine(p: Problem) -> ProofResult:
        return outcome(p, True)

    assert (sweep(problems(3), fine, workers=3, records=records)).done == 0
    summary = sweep(problems(3), fine, workers=3, records=records, retry_errors=True)
    assert summary.done == 3 and {s["status"] for s in records.samples("toy")} == {"proved"}


def test_duplicate_problems_are_refused(records: RunRecords) -> None:
    from prover.errors import UsageError

    async def prove(p: Problem) -> ProofResult:
        return outcome(p, True)

    with pytest.raises(UsageError, match="listed twice"):
        sweep(problems(2) + problems(1), prove, workers=1, records=records)
    with pytest.raises(UsageError, match="workers"):
        sweep(problems(2), prove, workers=0, records=records)


def test_competition_mode_gives_budgets_in_rounds(records: RunRecords) -> None:
    budgets: dict[str, list[float]] = {}

    async def prove(p: Problem, *, budget_s: float) -> ProofResult:
        budgets.setdefault(p.id, []).append(budget_s)
        await asyncio.sleep(0.001)
        # p0 falls in round 1, p1 needs the longer round-2 budget, p2 never falls.
        return outcome(p, p.id == "p0" or (p.id == "p1" and budget_s >= 3.0), seconds=0.001)

    summary = sweep(problems(3), prove, workers=2, records=records, total_budget_s=100.0, rounds=(1.0, 3.0))
    assert budgets == {"p0": [1.0], "p1": [1.0, 3.0], "p2": [1.0, 3.0]}
    assert summary.solved == 2 and summary.done == 3
    by_id = {s["id"]: s for s in records.samples("toy")}
    assert (by_id["p0"]["round"], by_id["p1"]["round"], by_id["p2"]["round"]) == (0, 1, 1)
    assert by_id["p2"]["budget_s"] == 4.0 and by_id["p2"]["status"] == "failed"


def test_competition_mode_never_exceeds_the_total(records: RunRecords) -> None:
    calls: list[float] = []

    async def prove(p: Problem, *, budget_s: float) -> ProofResult:
        calls.append(budget_s)
        await asyncio.sleep(budget_s)  # uses all of its time
        return outcome(p, False, seconds=budget_s)

    summary = sweep(problems(10), prove, workers=2, records=records, total_budget_s=0.6, rounds=(0.2,))
    # Every problem is recorded; the fair shares fill the total exactly, so on a loaded machine the last one or
    # two may get no time at all (recorded as timeouts), which is the time manager doing its job.
    assert summary.done == 10 and calls and all(c <= 0.2 + 1e-9 for c in calls)
    assert sum(calls) <= 0.6 * 2 + 1e-6  # the pool is total × workers slot-seconds
    # Without the total the ten 0.2 s rounds would take 1.0 s on two workers; the margin absorbs a loaded machine.
    assert summary.seconds < 0.6 + 0.3


def test_competition_mode_out_of_time_records_the_rest_as_timeouts(records: RunRecords) -> None:
    calls: list[float] = []

    async def slow(p: Problem, *, budget_s: float) -> ProofResult:
        calls.append(budget_s)
        await asyncio.sleep(0.1)  # overruns its share: what is left is too little to start another
        return outcome(p, False, seconds=0.1)

    summary = sweep(problems(5), slow, workers=1, records=records, total_budget_s=0.15)
    statuses = [s["status"] for s in records.samples("toy")]
    assert summary.done == 5 and statuses.count("failed") == len(calls) >= 1
    assert statuses.count("timeout") == 5 - len(calls) >= 1
    timeout = next(s for s in records.samples("toy") if s["status"] == "timeout")
    assert timeout["stop_reason"] == "no_time" and timeout["round"] is None


def test_a_resumed_competition_gets_what_is_left(tmp_path: Path) -> None:
    async def prove(p: Problem, *, budget_s: float) -> ProofResult:
        return outcome(p, True)

    with RunRecords.create(tmp_path, "m") as records:
        records.previous_seconds = 50.0  # as if earlier sessions used 50 s of the total
        sweep(problems(2), prove, workers=1, records=records, total_budget_s=40.0)
        assert {s["status"] for s in records.samples("toy")} == {"timeout"}
