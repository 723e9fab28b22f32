"""The sweep runner: prove a list of problems, W at a time, recording each outcome as it finishes.

The runner is the library half of `prover bench run`: it skips problems the run already recorded (resume), calls
an injected prove function (the agent in production, a fake in tests), writes one sample line per theorem through
`RunRecords`, and reports progress through callbacks; it never prints (the CLI draws a tqdm bar from
`SweepProgress`).

Two modes:
    * plain: every problem gets the prove function's own budget;
    * competition (`total_budget_s`): a time manager splits one total budget over the problems in rounds (a short
      budget for all, then longer ones for the unsolved), hands unspent time on, and never exceeds the total. The
      prove function is then called as `prove(problem, budget_s=seconds)`.

A problem's line is written once, when it is final (proved, failed, or out of rounds), so a kill at any moment
loses at most the problems in flight, which a resume proves again.

Faults that would repeat on every problem stop the sweep instead of filling the run with `error` lines: a missing
Lean or model, a REPL that cannot start, bad options; and, whatever their cause, `max_consecutive_errors` errors
in a row (a model server gone down mid-run). The lines already written stay; `retry_errors` proves the `error`
problems again on resume.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.loaders import Problem
from benchmarks.records import RunRecords
from prover.errors import EnvironmentProblem, ProverError, ReplStartError, StatementError, UsageError
from prover.results import ProofResult, ProofStats, ProofStatus
from search.budget import TimeManager

__all__ = [
    "ProveFn",
    "SweepProgress",
    "SweepSummary",
    "error_result",
    "is_fatal",
    "log_prove_error",
    "run_sweep",
]

logger = logging.getLogger(__name__)

ProveFn = Callable[..., Awaitable[ProofResult]]


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands (after each recorded theorem, and once at the start with `last` None).

    `done` and `solved` count the whole run, including what an earlier session of a resumed run recorded
    (`skipped` of them); `eta_s` extrapolates this session's rate (None before the first result; in competition
    mode, the budget left).
    """

    solved: int
    done: int
    total: int
    skipped: int
    elapsed_s: float
    eta_s: float | None
    last: Problem | None = None
    last_status: str | None = None


@dataclass(frozen=True)
class SweepSummary:
    """What one `run_sweep` call did.

    Attributes:
        total: problems given.
        skipped: already recorded before this call (resume).
        done: recorded by this call.
        solved: proved by this call.
        errors: recorded with status `error` by this call.
        seconds: wall-clock seconds of this call.
        by_task: per task, (solved, done) over the whole run (this call and earlier ones).
    """

    total: int
    skipped: int
    done: int
    solved: int
    errors: int
    seconds: float
    by_task: dict[str, tuple[int, int]] = field(default_factory=dict)


def _key(problem: Problem) -> str:
    """The id a time manager knows a problem by (ids are unique per task only)."""
    return f"{problem.task}/{problem.id}"


def error_result(problem: Problem, exc: BaseException, seconds: float = 0.0) -> ProofResult:
    """An `error` outcome for a problem whose prove call raised (recorded, so the sweep goes on)."""
    message = f"{type(exc).__name__}: {exc}"
    messages = getattr(exc, "messages", ())
    if messages:
        message += " | " + messages[0]
    return ProofResult(
        status=ProofStatus.ERROR,
        statement=problem.statement,
        stop_reason="error",
        error=message,
        stats=ProofStats(seconds_total=seconds),
    )


def is_fatal(exc: BaseException) -> bool:
    """Faults that would repeat on every problem stop the sweep (a missing Lean, a REPL that cannot start, a bad
    option); a statement that does not elaborate, a REPL that crashed mid-search or a bug on one problem is
    recorded as that problem's error."""
    if isinstance(exc, StatementError):
        return False
    return isinstance(exc, (EnvironmentProblem, UsageError, ReplStartError))


def log_prove_error(problem: Problem, exc: Exception) -> None:
    """Log a prove call that raised: one line for a known fault (a statement that does not elaborate, a REPL
    that died), the traceback only for a bug."""
    if isinstance(exc, ProverError):
        first = next(iter(getattr(exc, "messages", ()) or ()), "")
        detail = f": {' '.join(str(first).split())[:300]}" if first else ""
        logger.warning("%s/%s: %s%s; recorded as an error", problem.task, problem.id, exc, detail)
    else:
        logger.exception("%s/%s: the prove call raised; recording an error", problem.task, problem.id)


# How often a sweep saves its elapsed time (a resume after a kill gets the total budget less what was used).
CHECKPOINT_EVERY_S = 1.0


async def _checkpoint_every(records: RunRecords, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(records.checkpoint)
        except OSError as exc:  # a full disk: the next records will fail loudly; the clock is best effort
            logger.warning("could not save the run's elapsed time: %s", exc)


async def _run_loops(loop: Callable[[], Coroutine[Any, Any, None]], count: int) -> None:
    """Run `count` copies of `loop` at once; the first to raise cancels the others, which are awaited."""
    tasks = [asyncio.create_task(loop()) for _ in range(count)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Sweep:
    def __init__(
        self,
        problems: Sequence[Problem],
        prove: ProveFn,
        records: RunRecords,
        workers: int,
        on_result: Callable[[Problem, ProofResult], None] | None,
        on_progress: Callable[[SweepProgress], None] | None,
        include_steps: bool,
        retry_errors: bool,
        max_consecutive_errors: int | None,
    ) -> None:
        if workers < 1:
            raise UsageError(f"workers must be at least 1, got {workers}")
        if max_consecutive_errors is not None and max_consecutive_errors < 1:
            raise UsageError(f"max_consecutive_errors must be at least 1, got {max_consecutive_errors}")
        self.max_consecutive_errors = max_consecutive_errors
        self.error_streak = 0
        self.prove = prove
        self.records = records
        self.workers = workers
        self.on_result = on_result
        self.on_progress = on_progress
        self.include_steps = include_steps
        self.started = time.monotonic()
        ids = [(p.task, p.id) for p in problems]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise UsageError(f"problem {dup[0]}/{dup[1]} is listed twice")
        self.doc_ids = {}
        per_task: dict[str, int] = {}
        for p in problems:
            self.doc_ids[(p.task, p.id)] = per_task.get(p.task, 0)
            per_task[p.task] = per_task.get(p.task, 0) + 1
        current = {task: {p.id: p.sha256 for p in problems if p.task == task} for task in per_task}
        done = {task: records.done_ids(task, retry_errors=retry_errors, current=current[task]) for task in per_task}
        self.todo = [p for p in problems if p.id not in done[p.task]]
        for task in per_task:
            recorded = records.statuses(task)
            retried = ProofStatus.ERROR.value if retry_errors else None
            changed = sorted(i for i in current[task] if i in recorded and i not in done[task] and recorded[i] != retried)
            if changed:
                logger.warning(
                    "%s: %d problems changed since they were recorded (%s); proving them again",
                    task, len(changed), ", ".join(changed[:5]) + (" …" if len(changed) > 5 else ""),
                )
        self.total = len(problems)
        self.skipped = self.total - len(self.todo)
        proved = ProofStatus.PROVED.value
        self.prior_solved = sum(
            status == proved for task in per_task for pid, status in records.statuses(task).items() if pid in done[task]
        )
        self.done = self.solved = self.errors = 0
        self.deadline_eta: Callable[[], float] | None = None

    def progress(self, last: Problem | None = None, status: str | None = None) -> None:
        if self.on_progress is None:
            return
        elapsed = time.monotonic() - self.started
        left = self.total - self.skipped - self.done
        if self.deadline_eta is not None:
            eta: float | None = self.deadline_eta()
        else:
            eta = elapsed / self.done * left if self.done else None
        self.on_progress(
            SweepProgress(
                solved=self.prior_solved + self.solved,
                done=self.skipped + self.done,
                total=self.total,
                skipped=self.skipped,
                elapsed_s=elapsed,
                eta_s=eta,
                last=last,
                last_status=status,
            )
        )

    async def attempt(self, problem: Problem, **kwargs: Any) -> ProofResult:
        t0 = time.monotonic()
        try:
            return await self.prove(problem, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_fatal(exc):
                raise
            log_prove_error(problem, exc)
            return error_result(problem, exc, time.monotonic() - t0)

    async def record(self, problem: Problem, result: ProofResult, extra: dict[str, Any] | None = None) -> None:
        # The append (write + fsync) runs in a thread so a slow disk never stalls the searches in flight.
        written = await asyncio.to_thread(
            self.records.append,
            problem,
            result,
            doc_id=self.doc_ids[(problem.task, problem.id)],
            include_steps=self.include_steps,
            extra=extra,
        )
        if not written:
            return
        self.done += 1
        self.solved += result.status is ProofStatus.PROVED
        self.errors += result.status is ProofStatus.ERROR
        self.error_streak = self.error_streak + 1 if result.status is ProofStatus.ERROR else 0
        if self.on_result is not None:
            self.on_result(problem, result)
        self.progress(problem, result.status.value)
        if self.max_consecutive_errors is not None and self.error_streak >= self.max_consecutive_errors:
            raise EnvironmentProblem(
                f"the sweep stopped: {self.error_streak} problems in a row ended in an error, the last with "
                f"{result.error or 'no message'!r}",
                fix="fix the cause, then continue with `--resume --retry-errors`",
            )

    async def pool(self, items: Sequence[Problem], work: Callable[[Problem], Awaitable[None]]) -> None:
        """Run `work` over `items` with at most `workers` at once; the first fatal error cancels the rest."""
        queue = iter(items)

        async def worker() -> None:
            for problem in queue:  # a shared iterator: each problem goes to exactly one worker
                await work(problem)

        await _run_loops(worker, min(self.workers, len(items)))

    async def plain(self) -> None:
        async def work(problem: Problem) -> None:
            await self.record(problem, await self.attempt(problem))

        await self.pool(self.todo, work)

    async def competition(self, manager: TimeManager) -> None:
        """Pull allotments from the time manager with `workers` loops; record a problem when it is final."""
        self.deadline_eta = lambda: manager.remaining_s
        by_key = {_key(p): p for p in self.todo}
        last: dict[str, tuple[ProofResult, int]] = {}
        allotted: dict[str, float] = {}
        recorded: set[str] = set()
        reported = asyncio.Event()  # a running problem reported back: more time may be free

        def extra(key: str, round_index: int | None) -> dict[str, Any]:
            return {
                "round": round_index,
                "budget_s": round(allotted.get(key, 0.0), 3),
                "seconds_all_rounds": round(manager.spent_s.get(key, 0.0), 3),
            }

        async def worker() -> None:
            while True:
                allotment = manager.next()
                if allotment is None:
                    if manager.finished:
                        return
                    reported.clear()
                    await reported.wait()
                    continue
                key = str(allotment.problem_id)
                problem = by_key[key]
                t0 = time.monotonic()
                result = await self.attempt(problem, budget_s=allotment.seconds)
                manager.done(allotment, solved=result.proved, spent_s=time.monotonic() - t0)
                allotted[key] = allotted.get(key, 0.0) + allotment.seconds
                last[key] = (result, allotment.round)
                reported.set()
                if result.proved or allotment.round + 1 >= len(manager.rounds):
                    recorded.add(key)
                    await self.record(problem, result, extra(key, allotment.round))

        await _run_loops(worker, min(self.workers, max(1, len(by_key))))
        for key, problem in by_key.items():  # out of time: a last attempt is final, no attempt is a timeout
            if key in recorded:
                continue
            if key in last:
                result, round_index = last[key]
                await self.record(problem, result, extra(key, round_index))
            else:
                timeout = ProofResult(status=ProofStatus.TIMEOUT, statement=problem.statement, stop_reason="no_time")
                await self.record(problem, timeout, extra(key, None))

    def summary(self) -> SweepSummary:
        by_task = {}
        for task in sorted({p_task for p_task, _ in self.doc_ids}):
            statuses = [s["status"] for s in self.records.samples(task)]
            by_task[task] = (sum(s == ProofStatus.PROVED.value for s in statuses), len(statuses))
        return SweepSummary(
            total=self.total,
            skipped=self.skipped,
            done=self.done,
            solved=self.solved,
            errors=self.errors,
            seconds=time.monotonic() - self.started,
            by_task=by_task,
        )


async def run_sweep(
    problems: Sequence[Problem],
    prove: ProveFn,
    *,
    workers: int,
    records: RunRecords,
    on_result: Callable[[Problem, ProofResult], None] | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    total_budget_s: float | None = None,
    rounds: Sequence[float | None] = (None,),
    reserve_s: float = 0.0,
    include_steps: bool = True,
    retry_errors: bool = False,
    max_consecutive_errors: int | None = 10,
) -> SweepSummary:
    """Prove `problems`, `workers` at a time, writing one sample line per theorem as each finishes.

    Args:
        problems: the problems of the run, in order (several tasks may be mixed; ids are unique per task).
        prove: `await prove(problem)` returns a ProofResult; in competition mode it is called as
            `prove(problem, budget_s=seconds)`. An exception is recorded as that problem's `error`, except the
            fatal ones of `is_fatal`, which stop the sweep.
        workers: problems proved concurrently (W).
        records: the run's records; ids they hold already are skipped.
        on_result: called with each problem and its result after its line is written.
        on_progress: called at the start and after each recorded theorem (the CLI's progress bar).
        total_budget_s: competition mode: one wall-clock budget for all the problems, handed out by
            `search.budget.TimeManager` (a resumed run gets what its earlier sessions left of it).
        rounds: competition mode: the per-problem cap of each round, None for a fair share of what is left
            (e.g. `(60, 600, None)`).
        reserve_s: competition mode: seconds of each allotment the time manager keeps back for checking.
        include_steps: keep proof steps and failed steps in the records (training data).
        retry_errors: prove again the problems whose recorded status is `error`.
        max_consecutive_errors: stop after this many `error` outcomes in a row (None: never).

    Returns:
        A SweepSummary of this call.

    Raises:
        UsageError: bad arguments, duplicate problems, or a fatal error raised by `prove`.
        EnvironmentProblem: raised by `prove` (Lean, REPL or model missing), or `max_consecutive_errors` errors in
            a row; problems in flight are not recorded.
        ReplStartError: raised by `prove`: the REPL cannot start.
    """
    if total_budget_s is not None and total_budget_s <= 0:
        raise UsageError(f"total budget must be positive, got {total_budget_s}")
    sweep = _Sweep(
        problems, prove, records, workers, on_result, on_progress, include_steps, retry_errors, max_consecutive_errors
    )
    records.register_problems(problems)
    records.write_results()
    sweep.progress()
    ticker = asyncio.create_task(_checkpoint_every(records, CHECKPOINT_EVERY_S))
    try:
        if total_budget_s is None:
            await sweep.plain()
        else:
            left = total_budget_s - records.previous_seconds  # never over the total, across resumes too
            manager = TimeManager(
                max(left, 1e-9),
                [_key(p) for p in sweep.todo],
                rounds=rounds,
                workers=workers,
                reserve_s=reserve_s,
                min_s=min(1.0, max(left, 0.0) / 10),  # TimeManager's 1 s floor, scaled down for tiny budgets
            )
            await sweep.competition(manager)
    finally:
        ticker.cancel()
        records.write_results()
    return sweep.summary()
