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

from prover.config import DEFAULT_HEADER, LeanConfig
from prover.errors import ProverError, ReplError, ReplStartError, StatementError, UsageError
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.project import read_versions
from prover.lean.statement import Statement, split_header
from prover.lean.verifier import Verification, verify_proof
from prover.models import TacticGenerator, build_generator
from prover.results import ProofResult, ProofStats, ProofStatus, ProofStep, Versions
from search import SearchConfig, SearchProgress, SearchResult, SearchStatus, search_attempts
from search.cache import CacheKey, ProofCache
from search.errors import CacheError
from search.outcomes import ProofFinished, TacticState

logger = logging.getLogger(__name__)

# Training data keeps at most this many rejected tactics per problem (the tree can hold tens of thousands).
MAX_FAILED_STEPS = 256


@dataclass(frozen=True)
class ModelConfig:
    """Which tactic generator to use (see `prover models`)."""

    generator: str | None = None
    model: str | None = None
    prompt_format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    allow_download: bool = False

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
    """

    lean: LeanConfig = field(default_factory=LeanConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    cache_path: Path | None = None
    trust_cache: bool = False
    keep_tree: bool = False

    def config_hash(self) -> str:
        """A short hash of the settings that shape a search (not of paths or timeouts of the machine)."""
        search = {k: v for k, v in asdict(self.search).items() if k != "banned"}
        payload = json.dumps({"search": search, "model": asdict(self.model)}, sort_keys=True, default=str)
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

    def __init__(self, config: AgentConfig, *, generator: TacticGenerator | None = None) -> None:
        self.config = config
        self.versions = read_versions(config.lean.project_dir)
        self._generator = generator
        self._pools: dict[str, ReplPool] = {}
        self._pool_locks: dict[str, asyncio.Lock] = {}
        self._stack = AsyncExitStack()
        self._cache: ProofCache | None = None

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
        if self.config.cache_path is not None:
            self._cache = self._stack.enter_context(ProofCache(self.config.cache_path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    @property
    def generator(self) -> TacticGenerator:
        if self._generator is None:
            raise UsageError("Agent used outside `async with`")
        return self._generator

    async def pool(self, imports: str) -> ReplPool:
        """The warm pool for a header's import lines (see `split_header`), started on first use."""
        # One lock per header: starting a pool imports Mathlib (a minute or more), which must not hold up
        # problems whose pool is already warm or whose header differs.
        async with self._pool_locks.setdefault(imports, asyncio.Lock()):
            pool = self._pools.get(imports)
            if pool is None:
                pool = ReplPool(self.config.lean, imports)
                await self._stack.enter_async_context(pool)
                self._pools[imports] = pool
            return pool

    async def prove(
        self,
        statement: str,
        *,
        header: str = DEFAULT_HEADER,
        budget_s: float | None = None,
        on_progress: Callable[[SearchProgress], None] | None = None,
        allowed_axioms: Iterable[str] = (),
    ) -> ProofResult:
        """Prove one statement within the budget (default `config.search.budget_s`), everything included.

        Args:
            statement: `theorem name … := by sorry`, any other form `Statement.parse` accepts, or a bare proposition.
            header: imports and options elaborated before the statement (each worker imports it once).
            budget_s: this problem's wall-clock budget (a competition time manager sets it per problem).
            on_progress: called with the search's progress (the CLI draws its progress line from it).
            allowed_axioms: axioms the header declares that a proof may use (see `verify_proof`).

        Returns:
            A frozen ProofResult; `proved` only with a verifier-accepted proof.

        Raises:
            UsageError / StatementError: the statement is malformed or does not elaborate.
            EnvironmentProblem / ReplStartError: Lean or the model cannot be started.
        """
        config = self.config
        search_config = config.search if budget_s is None else replace(config.search, budget_s=budget_s)
        started = time.monotonic()
        deadline = started + search_config.budget_s
        parsed = Statement.parse(statement)
        versions = self.versions
        clock = _Clock()
        cache = self._cache
        key = cache_key(versions, header, parsed)
        allowed = frozenset(allowed_axioms)

        async def verify(proof: tuple[str, ...]) -> Verification:
            t0 = time.monotonic()
            verification = await verify_proof(
                parsed, proof, header=header, config=config.lean, original=statement, banned=search_config.banned,
                allowed_axioms=allowed,
            )
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
        pool = await self.pool(imports)
        env = ProofEnvironment(pool, parsed, tactic_timeout=search_config.tactic_timeout, preamble=preamble)
        try:
            root = await env.start()
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

        try:
            result = await search_attempts(
                env,
                self.generator,
                root,
                search_config,
                theorem_name=parsed.name,
                deadline=deadline,
                accept=accept,
                on_progress=on_progress,
            )
        except ProverError as exc:
            logger.warning("search stopped by an infrastructure fault: %s", exc)
            return _errored(statement, str(exc), started, versions)

        proof_result = _to_proof_result(statement, result, env, clock, started, versions)
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
    return ProofResult(
        status=ProofStatus.ERROR,
        statement=statement,
        stop_reason="error",
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
        ),
        steps=tuple(_path_steps(result)) if proved else (),
        failed_steps=tuple(_failed_steps(result)),
        versions=versions,
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
