"""The sweep runner across a Ray cluster (extra `ray`): problems run on prover actors, results come back to the
driver, which alone writes the run directory.

Each actor builds its prove function once (`prove_factory()`: warm REPL pools, a loaded model) and proves problems
sent to it, `per_actor` at a time. The driver is `benchmarks.sweep.run_sweep` itself, with a prove function that
forwards each problem to a free actor; so resume, records, progress and competition mode behave exactly as in a
local sweep: one writer, atomic appends, done ids skipped, nothing lost or repeated after a kill of the driver.

A problem whose actor dies (out of memory, node lost) is recorded as an `error` (prove it again with
`retry_errors=True`); Ray restarts the actor for the next problems.

Examples:
    >>> summary = asyncio.run(run_sweep_ray(problems, make_prover, records=records, address="auto"))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from benchmarks.loaders import Problem
from benchmarks.records import RunRecords
from benchmarks.sweep import (
    ProveFn,
    SweepProgress,
    SweepSummary,
    error_result,
    is_fatal,
    log_prove_error,
    run_sweep,
)
from prover.errors import EnvironmentProblem
from prover.results import ProofResult

__all__ = ["run_sweep_ray"]

logger = logging.getLogger(__name__)


class ProverActor:
    """Holds one prove function (built once per actor) and proves the problems sent to it."""

    def __init__(self, prove_factory: Callable[[], ProveFn]) -> None:
        self._prove = prove_factory()

    async def prove(self, problem: Problem, kwargs: Mapping[str, Any]) -> ProofResult:
        try:
            return await self._prove(problem, **kwargs)
        except Exception as exc:
            if is_fatal(exc):
                raise
            log_prove_error(problem, exc)
            return error_result(problem, exc)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise EnvironmentProblem(
            "the Ray runner needs ray, which is not installed", fix="pip install 'prover[ray]'"
        ) from None
    return ray


async def run_sweep_ray(
    problems: Sequence[Problem],
    prove_factory: Callable[[], ProveFn],
    *,
    records: RunRecords,
    address: str | None = None,
    actors: int | None = None,
    per_actor: int = 1,
    actor_options: Mapping[str, Any] | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    on_result: Callable[[Problem, ProofResult], None] | None = None,
    on_progress: Callable[[SweepProgress], None] | None = None,
    total_budget_s: float | None = None,
    rounds: Sequence[float | None] = (None,),
    reserve_s: float = 0.0,
    include_steps: bool = True,
    retry_errors: bool = False,
    max_consecutive_errors: int | None = 10,
) -> SweepSummary:
    """Prove `problems` on Ray actors, recording each result in the driver's run directory.

    Args:
        problems: the run's problems (as for `run_sweep`).
        prove_factory: a picklable callable, run once in each actor, returning the async prove function.
        records: the run's records (the driver is their single writer).
        address: the cluster to join (`ray.init(address=…)`; "auto" finds a running one; None starts a local
            one). Ignored when Ray is already initialised.
        actors: how many actors (default: the cluster's CPU count divided by the actor's `num_cpus`).
        per_actor: problems one actor proves at once (its `max_concurrency`).
        actor_options: Ray options for each actor (`num_cpus`, `num_gpus`, `memory`, `resources`, …; default
            one CPU and `max_restarts=3`).
        init_kwargs: extra `ray.init` arguments (`runtime_env`, `namespace`, …).
        on_result, on_progress, total_budget_s, rounds, reserve_s, include_steps, retry_errors,
            max_consecutive_errors: as for `run_sweep`.

    Returns:
        The SweepSummary of this call.

    Raises:
        EnvironmentProblem: ray is not installed, or an actor's prove function reported one.
    """
    if address is not None:
        await asyncio.to_thread(check_reachable, address)
    ray = _import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address, **dict(init_kwargs or {}))
        except Exception as exc:  # `auto` with no cluster running here, a local cluster whose raylet did not start
            raise EnvironmentProblem(
                f"Ray could not join or start a cluster: {exc}",
                fix="start one with `ray start --head`, or use --ray-address local",
            ) from None
    options = {"num_cpus": 1, "max_restarts": 3, **dict(actor_options or {}), "max_concurrency": per_actor}
    if actors is None:
        cpus = ray.cluster_resources().get("CPU", 1)
        actors = max(1, int(cpus // max(options["num_cpus"], 1e-9)))
    remote_cls = ray.remote(**options)(ProverActor)
    handles = [remote_cls.remote(prove_factory) for _ in range(actors)]
    free: asyncio.Queue[Any] = asyncio.Queue()
    for handle in handles:
        for _ in range(per_actor):
            free.put_nowait(handle)

    async def prove_on_actor(problem: Problem, **kwargs: Any) -> ProofResult:
        handle = await free.get()
        try:
            return await _await_remote(ray, handle.prove.remote(problem, kwargs), problem)
        finally:
            free.put_nowait(handle)

    try:
        return await run_sweep(
            problems,
            prove_on_actor,
            workers=actors * per_actor,
            records=records,
            on_result=on_result,
            on_progress=on_progress,
            total_budget_s=total_budget_s,
            rounds=rounds,
            reserve_s=reserve_s,
            include_steps=include_steps,
            retry_errors=retry_errors,
            max_consecutive_errors=max_consecutive_errors,
        )
    finally:
        for handle in handles:
            ray.kill(handle)


# How long the cluster's head may take to accept a connection (ray.init itself retries for minutes, silently).
CONNECT_TIMEOUT_S = 10.0


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast when an explicit `host:port` (or `ray://host:port`) has no server listening.

    `auto` and `local` are left to Ray (it finds or starts a cluster on this machine, and fails at once when
    `auto` finds none).

    Raises:
        EnvironmentProblem: nothing accepts a connection there within `timeout` seconds.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address in ("auto", "local") or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EnvironmentProblem(
            f"no Ray cluster answers at {address} ({exc.strerror or exc})",
            fix="start one with `ray start --head`, check the address, or use --ray-address local",
        ) from None


async def _await_remote(ray: Any, ref: Awaitable[ProofResult], problem: Problem) -> ProofResult:
    """The actor's result; its fatal exception re-raised as itself; a dead actor turned into an error result."""
    try:
        return await ref
    except ray.exceptions.RayActorError as exc:
        logger.warning("%s/%s: the actor died (%s); recording an error", problem.task, problem.id, exc)
        return error_result(problem, RuntimeError(f"the Ray actor died: {str(exc).splitlines()[0]}"))
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise
