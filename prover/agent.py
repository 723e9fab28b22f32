"""The agent: prove one statement — cache, then search, then a fresh verification, then the cache again.

`prove()` is what the CLI's `prover prove`, the benchmark sweep and library users call. A proof is returned as
`proved` only after the verifier accepted it in a fresh Lean; a proof the verifier rejects is not reported and the
search goes on while budget remains.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from prover.config import DEFAULT_HEADER, LeanConfig
from prover.errors import ProverError, ReplError, ReplStartError, StatementError, UsageError
from prover.lean.env import ProofEnvironment
from prover.lean.goal_focus import FocusingEnvironment
from prover.lean.pool import ReplPool
from prover.lean.project import read_versions
from prover.lean.sketch import LeanSketchChecker
from prover.lean.statement import Statement, split_header
from prover.lean.verifier import Verdict, Verification, verify_proof
from prover.models import TacticGenerator, build_generator
from prover.models.proof_policy import ChatProofPolicy
from prover.results import ProofResult, ProofStats, ProofStatus, ProofStep, Versions
from prover.sketching import PlannerConfig, make_sketch_route, search_with_sketches, sketch_outcome
from prover.strategies import ProofModelConfig, build_proof_policy, policy_stats, run_hybrid, whole_samples
from search import SearchConfig, SearchProgress, SearchResult, SearchStatus, search_attempts
from search.cache import CacheKey, ProofCache
from search.subgoals import SubgoalCache
from search.errors import CacheError
from search.outcomes import ProofFinished, TacticState
from search.proofs import ProofPolicy
from search.scheduler import ScheduleResult

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Training data keeps at most this many rejected tactics per problem (the tree can hold tens of thousands).
MAX_FAILED_STEPS = 256

# The final check's share of a problem's budget, kept back from the search (out of the budget, never on top of
# it) so that a proof found late can still be verified before the budget ends.
VERIFY_RESERVE_FRACTION = 0.2
VERIFY_RESERVE_MAX_S = 120.0


@dataclass(frozen=True)
class Deadline:
    """One problem's wall-clock end (`time.monotonic()`): every Lean wait is clipped to what is left of it."""

    end: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def search_end(self, budget_s: float) -> float:
        """Where the search stops: the end less the final check's reserve."""
        return self.end - min(VERIFY_RESERVE_FRACTION * budget_s, VERIFY_RESERVE_MAX_S)

    def clip(self, lean: LeanConfig) -> LeanConfig:
        """`lean` with its command and verify timeouts cut to the time left."""
        left = max(self.left(), 0.001)
        return replace(lean, command_timeout=min(lean.command_timeout, left), verify_timeout=min(lean.verify_timeout, left))

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await within the time left; raises TimeoutError (and cancels the wait) when it runs out."""
        async with asyncio.timeout(self.left()):
            return await awaitable


@dataclass(frozen=True)
class ModelConfig:
    """Which tactic generator to use (see `prover models`)."""

    generator: str | None = None
    model: str | None = None
    prompt_format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    allow_download: bool = False
    preset: str | None = None  # the --preset the settings came from (recorded; its values are in the other fields)

    @property
    def label(self) -> str:
        return self.model or self.generator or "portfolio"


@dataclass(frozen=True)
class AgentConfig:
    """Everything `prove` needs besides the statement.

    Args:
        lean: how to start and police Lean.
        search: width, α, budget, attempts, seeds.
        model: the tactic generator.
        cache_path: the verified-proof cache (None: no cache).
        trust_cache: return a cache hit without re-verifying it.
        keep_tree: put the search graph (`search-tree/1` JSON) into the result, for training data.
        planner: the sketch planner (`--planner`); None: tactic search only.
        split_goals: prove goals that share no metavariable apart (`--split-goals`, `prover.lean.goal_focus`).
        proof: the whole-proof model (`--proof-model`); with one, `prove` runs the hybrid routes.
    """

    lean: LeanConfig = field(default_factory=LeanConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cache_path: Path | None = None
    trust_cache: bool = False
    keep_tree: bool = False
    planner: PlannerConfig | None = None
    split_goals: bool = False
    proof: ProofModelConfig = field(default_factory=ProofModelConfig)

    def config_hash(self) -> str:
        """A short hash of the settings that shape a search (not of paths or timeouts of the machine)."""
        search = {k: v for k, v in asdict(self.search).items() if k != "banned"}
        model = {k: v for k, v in asdict(self.model).items() if k != "preset"}  # a preset only names other values
        if self.proof.enabled:  # only then: the hashes of tactic-only configurations stay what they were
            model["proof"] = asdict(self.proof)
        shape: dict[str, object] = {"search": search, "model": model}
        if self.planner is not None:
            shape["planner"] = asdict(self.planner)
        payload = json.dumps(shape, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass
class _Clock:
    """Seconds spent verifying, so the time split adds up."""

    verify: float = 0.0
    last: Verification | None = None  # the search's latest verdict
    accepted: dict[tuple[str, ...], Verification] = field(default_factory=dict)  # proof -> its acceptance


class Agent:
    """Shared resources for many proofs: one tactic generator, warm REPL pools per header, the proof cache.

    Use as an async context manager; `prove` may be awaited concurrently (a sweep runs W problems at once).
    """

    def __init__(
        self, config: AgentConfig, *, generator: TacticGenerator | None = None, proof_policy: ProofPolicy | None = None
    ) -> None:
        self.config = config
        self.versions = read_versions(config.lean.project_dir)
        self._generator = generator
        self._proof_policy = proof_policy
        self._pools: dict[str, asyncio.Task[ReplPool]] = {}
        self._stack = AsyncExitStack()
        self._cache: ProofCache | None = None
        self._planner: ProofPolicy | None = None

    async def __aenter__(self) -> Agent:
        if self._generator is None:
            model = self.config.model
            self._generator = build_generator(
                model.generator,
                model.model,
                prompt_format=model.prompt_format,
                options=model.options,
                allow_download=model.allow_download,
            )
            self._stack.push_async_callback(self._generator.close)
        if self._proof_policy is None and self.config.proof.enabled:
            policy = build_proof_policy(self.config.proof, self.config.search.banned)
            self._proof_policy = policy
            self._stack.push_async_callback(policy.close)
        if self.config.cache_path is not None:
            self._cache = self._stack.enter_context(ProofCache(self.config.cache_path))
        planner = self.config.planner
        if planner is not None and self._planner is None:
            from prover.models.sketch_prompts import build_planner, planner_over

            proof = self.config.proof
            if isinstance(self._proof_policy, ChatProofPolicy) and (planner.model, planner.generator) == (
                proof.model, proof.generator
            ):  # the whole-proof model doubles as planner: the same loaded weights or server
                self._planner = planner_over(self._proof_policy.chat, planner.model, planner.prompt_format,
                                             self.config.search.banned)
            else:
                built = build_planner(planner.generator, planner.model, prompt_format=planner.prompt_format,
                                      options=planner.options, allow_download=self.config.model.allow_download,
                                      banned=self.config.search.banned)
                self._stack.push_async_callback(built.close)
                self._planner = built
        return self

    def _subgoals(self, header: str) -> SubgoalCache | None:
        """The subgoal cache for one header (in the proof-cache file), when the cache is on."""
        if self._cache is None:
            return None
        return SubgoalCache(self._cache, self.versions.lean, self.versions.mathlib, header)

    async def __aexit__(self, *exc: object) -> None:
        for task in self._pools.values():
            task.cancel()  # a header import still under way
        await asyncio.gather(*self._pools.values(), return_exceptions=True)
        await self._stack.aclose()

    @property
    def generator(self) -> TacticGenerator:
        if self._generator is None:
            raise UsageError("Agent used outside `async with`")
        return self._generator

    async def pool(self, imports: str) -> ReplPool:
        """The warm pool for a header's import lines (see `split_header`), started on first use.

        The start (importing Mathlib: a minute or more) runs as its own task, one per header: a problem that stops
        waiting for it (its budget ran out) leaves it running for the next problems, and problems whose pool is
        warm or whose header differs never wait on it. A start that failed is tried again by the next caller.
        """
        task = self._pools.get(imports)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(self._stack.enter_async_context(ReplPool(self.config.lean, imports)))
            self._pools[imports] = task
        return await asyncio.shield(task)

    async def prove(
        self,
        statement: str,
        *,
        header: str = DEFAULT_HEADER,
        budget_s: float | None = None,
        on_progress: Callable[[SearchProgress], None] | None = None,
        allowed_axioms: Iterable[str] = (),
        informal: str = "",
    ) -> ProofResult:
        """Prove one statement within the budget (default `config.search.budget_s`), everything included.

        Args:
            statement: `theorem name … := by sorry`, any other form `Statement.parse` accepts, or a bare proposition.
            header: imports and options elaborated before the statement (each worker imports it once).
            budget_s: this problem's wall-clock budget (a competition time manager sets it per problem).
            on_progress: called with the search's progress (the CLI draws its progress line from it).
            allowed_axioms: axioms the header declares that a proof may use (see `verify_proof`).
            informal: the problem in words, for whole-proof prompts that show it.

        Returns:
            A frozen ProofResult; `proved` only with a verifier-accepted proof.

        Raises:
            UsageError / StatementError: the statement is malformed or does not elaborate.
            EnvironmentProblem / ReplStartError: Lean or the model cannot be started.
        """
        config = self.config
        search_config = config.search if budget_s is None else replace(config.search, budget_s=budget_s)
        started = time.monotonic()
        deadline = Deadline(started + search_config.budget_s)
        parsed = Statement.parse(statement)
        versions = self.versions
        clock = _Clock()
        cache = self._cache
        key = cache_key(versions, header, parsed)
        allowed = frozenset(allowed_axioms)

        async def verify(proof: tuple[str, ...]) -> Verification:
            t0 = time.monotonic()
            try:
                verification = await deadline.run(
                    verify_proof(
                        parsed, proof, header=header, config=config.lean, original=statement,
                        banned=search_config.banned, allowed_axioms=allowed, deadline=deadline.end,
                    )
                )
            except TimeoutError:
                verification = Verification(Verdict.TIMEOUT, "the budget ran out during the final check", seconds=time.monotonic() - t0)
            clock.verify += time.monotonic() - t0
            return verification

        if cache is not None:
            hit = await _cached_proof(cache, key, parsed.name, config.trust_cache, verify)
            if hit is not None:
                return ProofResult(
                    status=ProofStatus.PROVED,
                    statement=statement,
                    proof=hit,
                    verdict="verified" if not config.trust_cache else "trusted_cache",
                    stop_reason="cached",
                    cached=True,
                    stats=ProofStats(seconds_total=time.monotonic() - started, seconds_verify=clock.verify),
                    versions=versions,
                )

        imports, preamble = split_header(header)
        try:
            pool = await deadline.run(self.pool(imports))
        except TimeoutError:
            return _timed_out(statement, "the header import did not finish within the budget", started, versions)
        env = ProofEnvironment(
            pool,
            parsed,
            tactic_timeout=search_config.tactic_timeout,
            preamble=preamble,
            timeout_retries=config.lean.timeout_rechecks,
        )
        try:
            root = await deadline.run(env.start())
        except TimeoutError:
            return _timed_out(statement, "the statement did not elaborate within the budget", started, versions)
        except (StatementError, ReplStartError):
            raise  # bad input, or a REPL that cannot start at all: it would fail the same way on every problem
        except ReplError as exc:
            return _errored(statement, str(exc), started, versions)

        async def accept(proof: tuple[str, ...]) -> bool:
            verification = await verify(proof)
            clock.last = verification
            if verification.accepted:
                clock.accepted[proof] = verification
            logger.info("verifier: %s %s", verification.name, verification.details)
            return verification.accepted

        sketch_route = None
        if self._planner is not None and self._proof_policy is not None:  # the planner joins the hybrid routes
            assert config.planner is not None
            sketch_route = make_sketch_route(
                planner=self._planner, planner_config=config.planner, policy=self.generator, pool=pool,
                statement=parsed, statement_text=statement, header=header, preamble=preamble,
                search_config=search_config, cache=self._subgoals(header),
            )
        if self._proof_policy is not None:  # ---- the hybrid routes (whole proofs + tactic search), issue 11
            try:
                scheduled, _ = await run_hybrid(
                    statement=parsed, header=header, informal=informal, pool=pool, env=env, lean=config.lean,
                    search_config=search_config, tactic_policy=self.generator, proof_policy=self._proof_policy,
                    proof_config=config.proof, deadline=deadline.search_end(search_config.budget_s), verify=accept, allowed_axioms=allowed,
                    extra_routes=[sketch_route] if sketch_route is not None else [],
                )
            except ProverError as exc:
                logger.warning("hybrid routes stopped by an infrastructure fault: %s", exc)
                return _errored(statement, str(exc), started, versions)
            proof_result = _hybrid_result(statement, scheduled, env, clock, started, versions)
            if sketch_route is not None:
                proof_result = replace(proof_result, sketch=sketch_outcome(sketch_route).as_result())
            if cache is not None:
                self._record(cache, key, parsed.name, proof_result, clock, search_config)
            return proof_result

        sketch = None
        try:
            if self._planner is None:
                focus = None
                if config.split_goals:
                    checker = LeanSketchChecker(pool, parsed, preamble=preamble,
                                                tactic_timeout=search_config.tactic_timeout)
                    focus = FocusingEnvironment(env, checker)
                result = await search_attempts(
                    focus or env,
                    self.generator,
                    root,
                    search_config,
                    theorem_name=parsed.name,
                    deadline=deadline.search_end(search_config.budget_s),
                    accept=accept,
                    on_progress=on_progress,
                    focus=focus,
                )
            else:
                assert self.config.planner is not None
                subgoals = self._subgoals(header)
                result, sketch = await search_with_sketches(
                    env=env, policy=self.generator, root=root, planner=self._planner,
                    planner_config=self.config.planner, pool=pool, statement=parsed, statement_text=statement,
                    header=header, preamble=preamble, search_config=search_config, deadline=deadline.search_end(search_config.budget_s),
                    accept=accept, cache=subgoals,
                )
        except ProverError as exc:
            logger.warning("search stopped by an infrastructure fault: %s", exc)
            return _errored(statement, str(exc), started, versions)

        proof_result = _to_proof_result(statement, result, env, clock, started, versions)
        if sketch is not None:
            proof_result = replace(proof_result, route=sketch.route if proof_result.proved else "",
                                   sketch={**sketch.stats, "sketches": sketch.records})
        elif proof_result.proved:
            proof_result = replace(proof_result, route="tactic")
        if config.keep_tree and result.tree is not None:
            proof_result = replace(proof_result, tree=result.tree.to_json())
        if cache is not None:
            self._record(cache, key, parsed.name, proof_result, clock, search_config)
        return proof_result

    def _record(
        self,
        cache: ProofCache,
        key: CacheKey,
        theorem_name: str,
        result: ProofResult,
        clock: _Clock,
        search_config: SearchConfig,
    ) -> None:
        label, config_hash = self.config.model.label, self.config.config_hash()
        try:
            if result.proved:
                accepted = clock.accepted[result.proof]
                cache.put(
                    key,
                    proof=result.proof,
                    verdict=accepted,
                    axioms=accepted.axioms,
                    model=label,
                    config_hash=config_hash,
                    seconds=result.stats.seconds_total,
                    theorem_name=theorem_name,
                )
            else:
                cache.record_failure(
                    key,
                    budget_s=search_config.budget_s,
                    seconds=result.stats.seconds_total,
                    status=result.status.value,
                    stop_reason=result.stop_reason,
                    model=label,
                    config_hash=config_hash,
                )
        except CacheError as exc:  # the result is already in hand: a cache fault must not lose it
            logger.warning("could not record a %s result in the proof cache: %s", result.status.value, exc)


async def prove(
    statement: str,
    config: AgentConfig,
    *,
    header: str = DEFAULT_HEADER,
    on_progress: Callable[[SearchProgress], None] | None = None,
) -> ProofResult:
    """Prove one statement with fresh resources (see `Agent.prove`; use `Agent` to prove many)."""
    async with Agent(config) as agent:
        return await agent.prove(statement, header=header, on_progress=on_progress)


def cache_key(versions: Versions, header: str, statement: Statement) -> CacheKey:
    """The proof-cache key of DESIGN contract 7: Lean version, Mathlib revision, header, statement text."""
    return ProofCache.key(versions.lean, versions.mathlib, header, statement.head)


async def _cached_proof(
    cache: ProofCache,
    key: CacheKey,
    name: str,
    trust_cache: bool,
    verify: Callable[[tuple[str, ...]], Awaitable[Verification]],
) -> tuple[str, ...] | None:
    try:
        entry = cache.get(key)
    except CacheError as exc:  # a damaged row or a lock held too long: search as if it were not there
        logger.warning("proof cache unreadable for %s (%s); searching", name, exc)
        return None
    if entry is None:
        return None
    proof = tuple(entry.proof)
    if trust_cache:
        return proof
    verification = await verify(proof)
    if verification.accepted:
        return proof
    if not verification.conclusive:
        # Lean timed out or crashed on the re-check: that says nothing about the proof, which stays cached.
        logger.warning("could not re-check the cached proof for %s (%s: %s); keeping it, searching", name,
                       verification.name, verification.details)
        return None
    # A cached proof that no longer checks (new Lean, new Mathlib, a stricter policy) must not be served again.
    logger.warning("cached proof for %s no longer verifies (%s); searching again", name, verification.name)
    try:
        cache.delete(key)
    except CacheError as exc:
        logger.warning("could not drop the stale cache entry for %s: %s", name, exc)
    return None


def _errored(statement: str, error: str, started: float, versions: Versions) -> ProofResult:
    return _ended(ProofStatus.ERROR, statement, error, started, versions)


def _timed_out(statement: str, why: str, started: float, versions: Versions) -> ProofResult:
    return _ended(ProofStatus.TIMEOUT, statement, why, started, versions)


def _ended(status: ProofStatus, statement: str, error: str, started: float, versions: Versions) -> ProofResult:
    """A result with no search behind it (the search could not start, or the budget ran out first)."""
    return ProofResult(
        status=status,
        statement=statement,
        stop_reason=status.value,
        error=error,
        stats=ProofStats(seconds_total=time.monotonic() - started),
        versions=versions,
    )


def _status_of(result: SearchResult, proved: bool) -> ProofStatus:
    if proved:
        return ProofStatus.PROVED
    if result.status is SearchStatus.PROVED:
        # The search only ends proved through an accepted proof; without one it did not prove anything.
        return ProofStatus.FAILED
    return ProofStatus(result.status.value)


def _to_proof_result(
    statement: str,
    result: SearchResult,
    env: ProofEnvironment,
    clock: _Clock,
    started: float,
    versions: Versions,
) -> ProofResult:
    # Invariant: `proved` only for the very proof text the verifier accepted.
    proved = result.proved and tuple(result.proof) in clock.accepted
    stats = result.stats
    total = time.monotonic() - started
    # The verdict shown is the accepted proof's; without one, the last rejection's.
    shown = clock.accepted[tuple(result.proof)] if proved else clock.last
    return ProofResult(
        status=_status_of(result, proved),
        statement=statement,
        proof=tuple(result.proof) if proved else (),
        verdict=shown.name if shown is not None else None,
        stop_reason=result.stop_reason.value,
        error=result.error,
        stats=ProofStats(
            expansions=stats.expansions,
            nodes=stats.nodes,
            lean_calls=env.stats.lean_calls,
            model_calls=stats.model_calls,
            replays=env.stats.replays,
            seconds_total=total,
            seconds_model=stats.seconds_model,
            seconds_lean=stats.seconds_env,
            seconds_search=stats.seconds_search,
            seconds_verify=clock.verify,
            goal_splits=stats.goal_splits,
        ),
        steps=tuple(_path_steps(result)) if proved else (),
        failed_steps=tuple(_failed_steps(result)),
        versions=versions,
        limitations=tuple(env.limitations.values()),
    )


def _hybrid_result(
    statement: str, scheduled: ScheduleResult, env: ProofEnvironment, clock: _Clock, started: float, versions: Versions
) -> ProofResult:
    """A ProofResult from the routes' schedule: `proved` only for the text the final verifier accepted."""
    tactic = scheduled.report("tactic")
    search = tactic.detail if tactic is not None and isinstance(tactic.detail, SearchResult) else None
    base = _to_proof_result(statement, search, env, clock, started, versions) if search is not None else None
    proved = bool(scheduled.proof) and scheduled.proof in clock.accepted
    errors = [f"{r.route}: {r.error}" for r in scheduled.reports if r.error]
    if proved:
        status = ProofStatus.PROVED
    elif scheduled.timed_out or any(r.status == "timeout" for r in scheduled.reports):
        status = ProofStatus.TIMEOUT
    elif errors and all(r.status == "error" for r in scheduled.reports):
        status = ProofStatus.ERROR
    else:
        status = ProofStatus.FAILED
    policies = policy_stats(scheduled)
    whole = policies.get("whole", {})
    stats = base.stats if base is not None else ProofStats()
    stats = replace(
        stats,
        lean_calls=env.stats.lean_calls,
        model_calls=stats.model_calls + int(whole.get("model_calls", 0)),
        seconds_total=time.monotonic() - started,
        seconds_model=stats.seconds_model + float(whole.get("seconds_model", 0.0)),
        seconds_verify=clock.verify,
    )
    shown = clock.accepted[scheduled.proof] if proved else clock.last
    via_tactic = proved and scheduled.route == "tactic" and base is not None and base.proved
    return ProofResult(
        status=status,
        statement=statement,
        proof=scheduled.proof if proved else (),
        verdict=shown.name if shown is not None else None,
        stop_reason="proved" if proved else (base.stop_reason if base is not None else status.value),
        error="; ".join(errors),
        stats=stats,
        steps=base.steps if via_tactic and base is not None else (),
        failed_steps=base.failed_steps if base is not None else (),
        versions=versions,
        route=scheduled.kind if proved else "",
        policies=policies,
        samples=tuple(whole_samples(scheduled)),
    )


def _state_text(outcome: object) -> str:
    if isinstance(outcome, TacticState):
        return outcome.pp
    return "no goals" if isinstance(outcome, ProofFinished) else ""


def _path_steps(result: SearchResult) -> list[ProofStep]:
    return [
        ProofStep(
            state_before=step.state_before.pp,
            tactic=step.tactic,
            state_after=_state_text(step.result),
            outcome=type(step.result).__name__,
        )
        for step in result.proof_path
    ]


def _failed_steps(result: SearchResult) -> list[ProofStep]:
    return [
        ProofStep(edge.state_before.pp, edge.tactic, "", edge.outcome, edge.error)
        for edge in result.failed_edges(limit=MAX_FAILED_STEPS)
    ]
