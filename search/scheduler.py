"""Several routes to one proof under one wall-clock deadline: the first proof the verifier accepts wins.

A *route* is anything with a `name` and `async run(ctx) -> RouteReport`: the tactic search (`TacticRoute`), whole-
proof sampling with repair and truncate-and-resume (`WholeProofRoute`), and any later strategy (a sketch-and-fill
route adds itself by implementing the same two members; the scheduler does not change). Routes share:

- `ctx.deadline` (absolute `time.monotonic()`), which every route must respect on its own (the scheduler also
  cancels what is still running at the deadline);
- `ctx.accept(proof, kind)`: the final verifier hook. The scheduler runs it as its own task, so that a route
  cancelled at the deadline or by another route's win cannot lose a proof whose check already started: pending
  checks are awaited before `run_routes` returns (each is bounded by the verifier's own timeout). The first
  accepted proof is the winner; `kind` records how it was found (`tactic`, `whole`, `repaired`, `resumed`, …);
- `ctx.grafts`: the `PrefixChannel` from proof routes into the tactic tree. Routes with a true
  `produces_prefixes` attribute feed it; the scheduler closes it once every such route has ended (at once when
  there is none), so a tactic route waiting for prefixes to resume from stops waiting.

A route that raises is reported with status `error` and the others go on (a dead model server ends only its own
route). Once a proof is accepted the other routes whose `stop_on_win` is true (the default) are cancelled (the
winner ends on its own, its accept call having returned True); a route with
`stop_on_win = False` (pass@k sampling, which wants every sample's outcome) runs to its own end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from search.proofs import PrefixChannel

logger = logging.getLogger(__name__)

Verify = Callable[[tuple[str, ...]], Awaitable[bool]]
"""The final verifier: a whole proof (one tactic or script per entry) → accepted."""


@dataclass(frozen=True)
class RouteReport:
    """What one route did. `status`: proved / failed / timeout / error (the route's own view; the winner is in
    `ScheduleResult`). `stats` are route-specific counters and seconds; `samples` per-sample records (proof routes)."""

    route: str
    status: str = "failed"
    proof: tuple[str, ...] = ()
    kind: str = ""
    error: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    samples: tuple[dict[str, Any], ...] = ()
    detail: Any = field(default=None, compare=False, repr=False)  # e.g. the tactic route's SearchResult


@dataclass(frozen=True)
class ScheduleResult:
    """The outcome of `run_routes`: the winning proof (empty when none), which route and kind found it, each
    route's report (in the routes' order), and the wall time."""

    proof: tuple[str, ...] = ()
    route: str = ""
    kind: str = ""
    reports: tuple[RouteReport, ...] = ()
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def proved(self) -> bool:
        return bool(self.proof)

    def report(self, route: str) -> RouteReport | None:
        return next((r for r in self.reports if r.route == route), None)


class RouteContext:
    """What a running route sees of the others (see the module docstring)."""

    def __init__(self, deadline: float, verify: Verify, grafts: PrefixChannel) -> None:
        self.deadline = deadline
        self.grafts = grafts
        self.won = asyncio.Event()
        self.proof: tuple[str, ...] = ()
        self.route = ""
        self.kind = ""
        self.verify_seconds: dict[str, float] = {}
        self.verify_calls: dict[str, int] = {}
        self._verify = verify
        self._checks: list[asyncio.Task[bool]] = []
        self._on_win: Callable[[], None] | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    async def accept(self, proof: Sequence[str], route: str, kind: str) -> bool:
        """Run the final verifier on `proof`; True when it is accepted (the first accepted proof wins)."""
        if self.won.is_set():
            return tuple(proof) == self.proof
        task = asyncio.get_running_loop().create_task(self._check(tuple(proof), route, kind))
        self._checks.append(task)
        return await asyncio.shield(task)

    async def _check(self, proof: tuple[str, ...], route: str, kind: str) -> bool:
        start = time.perf_counter()
        try:
            accepted = await self._verify(proof)
        finally:
            self.verify_seconds[route] = self.verify_seconds.get(route, 0.0) + time.perf_counter() - start
            self.verify_calls[route] = self.verify_calls.get(route, 0) + 1
        if accepted is True and not self.won.is_set():
            self.proof, self.route, self.kind = proof, route, kind
            self.won.set()
            if self._on_win is not None:
                self._on_win()
        return accepted is True

    async def drain(self) -> None:
        """Await every verifier check already started (none is cancelled: a proof found is never lost)."""
        while any(not t.done() for t in self._checks):
            await asyncio.gather(*self._checks, return_exceptions=True)


@runtime_checkable
class Route(Protocol):
    """One strategy. `run` returns its report; it must stop by `ctx.deadline` (it is cancelled past it)."""

    name: str

    async def run(self, ctx: RouteContext) -> RouteReport: ...


async def run_routes(
    routes: Sequence[Route],
    *,
    deadline: float,
    verify: Verify,
    grafts: PrefixChannel | None = None,
) -> ScheduleResult:
    """Run `routes` concurrently until a proof is verified, every route ended, or `deadline` (monotonic) passed.

    Returns a `ScheduleResult`; route faults become `error` reports, never exceptions. Route names must differ.
    """
    names = [r.name for r in routes]
    if len(set(names)) != len(names):
        raise ValueError(f"route names must differ: {names}")
    t0 = time.monotonic()
    ctx = RouteContext(deadline, verify, grafts if grafts is not None else PrefixChannel())
    loop = asyncio.get_running_loop()
    tasks = {loop.create_task(route.run(ctx), name=f"route-{route.name}"): route for route in routes}

    def cancel_stoppable() -> None:
        for task, route in tasks.items():
            if route.name != ctx.route and getattr(route, "stop_on_win", True) and not task.done():
                task.cancel()

    ctx._on_win = cancel_stoppable
    producers = {task for task, route in tasks.items() if getattr(route, "produces_prefixes", False)}

    def producer_done(task: asyncio.Task[RouteReport]) -> None:
        producers.discard(task)
        if not producers:
            ctx.grafts.close()

    if not producers:
        ctx.grafts.close()
    for task in producers:
        task.add_done_callback(producer_done)
    timed_out = False
    try:
        pending = set(tasks)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            _, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await ctx.drain()
    reports = tuple(_report(task, route, ctx) for task, route in tasks.items())
    return ScheduleResult(ctx.proof, ctx.route, ctx.kind, reports, time.monotonic() - t0, timed_out and not ctx.proof)


def _report(task: asyncio.Task[RouteReport], route: Route, ctx: RouteContext) -> RouteReport:
    if task.cancelled():
        report = RouteReport(route.name, "proved" if ctx.route == route.name else "timeout")
        partial = getattr(route, "partial_report", None)
        if callable(partial):
            report = partial("proved" if ctx.route == route.name else "timeout")
    else:
        exc = task.exception()
        if exc is not None:
            logger.warning("route %s failed: %s: %s", route.name, type(exc).__name__, exc)
            partial = getattr(route, "partial_report", None)
            base = partial("error") if callable(partial) else RouteReport(route.name, "error")
            report = RouteReport(base.route, "error", error=f"{type(exc).__name__}: {exc}", stats=base.stats,
                                 samples=base.samples)
        else:
            report = task.result()
    stats = dict(report.stats)
    stats["seconds_verify"] = round(ctx.verify_seconds.get(route.name, 0.0), 6)
    stats["verify_calls"] = ctx.verify_calls.get(route.name, 0)
    if ctx.route == route.name and report.status != "proved":
        report = RouteReport(report.route, "proved", ctx.proof, ctx.kind, report.error, stats, report.samples,
                             report.detail)
    return RouteReport(report.route, report.status, report.proof, report.kind, report.error, stats, report.samples,
                       report.detail)
