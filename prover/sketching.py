"""Sketch-and-fill for one problem, beside the tactic search, under one deadline and one verifier.

`search_with_sketches` runs the tactic route (`search.routes.TacticRoute`) and the sketch route
(`search.sketch.SketchRoute`: the planner's sketches elaborated by `prover.lean.sketch.LeanSketchChecker`, holes
proved by the same tactic generator, the subgoal cache when the proof cache is on) with `search.scheduler`; the
first proof the verifier accepts wins. It returns a `SearchResult` the agent turns into its `ProofResult` as
usual (the tactic search's, with the sketch's stitched proof when the sketch route won), the winning route's kind,
and the sketch route's stats and records (for `--json` and datagen).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from prover.lean.pool import ReplPool
from prover.lean.sketch import LeanSketchChecker
from prover.lean.statement import Statement
from search.config import SearchConfig
from search.outcomes import TacticState
from search.proofs import ProofPolicy, ProofRequest
from search.protocols import Env, Policy
from search.result import SearchResult, SearchStatus, StopReason
from search.routes import TacticRoute
from search.scheduler import run_routes
from search.sketch import HoleCache, SketchConfig, SketchRoute

__all__ = ["PlannerConfig", "SketchOutcome", "make_sketch_route", "search_with_sketches", "sketch_outcome"]


@dataclass(frozen=True)
class PlannerConfig:
    """The sketch planner (`--planner`): a chat model behind a planner prompt format, and the route's settings."""

    model: str
    generator: str = "hf"
    prompt_format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    sketches: int = 4
    rounds: int = 1


@dataclass
class SketchOutcome:
    """What the routes did: the winning kind (`tactic`, `resumed`, `sketch`; "" when nothing was proved), the
    sketch route's counters, and its per-sketch records."""

    route: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)

    def as_result(self) -> dict[str, Any]:
        """`ProofResult.sketch`: the counters and the per-sketch records."""
        return {**self.stats, "sketches": self.records}


def sketch_outcome(route: SketchRoute, kind: str = "") -> SketchOutcome:
    """What a sketch route did (its records are JSON-ready)."""
    return SketchOutcome(kind, route.stats(), [r.to_json() for r in route.records])


def make_sketch_route(
    *,
    planner: ProofPolicy,
    planner_config: PlannerConfig,
    policy: Policy,
    pool: ReplPool,
    statement: Statement,
    statement_text: str,
    header: str,
    preamble: str,
    search_config: SearchConfig,
    cache: HoleCache | None,
) -> SketchRoute:
    """The sketch route of one problem on a warm pool (holes searched with `policy` and `search_config`)."""
    return SketchRoute(
        planner=planner,
        checker=LeanSketchChecker(pool, statement, preamble=preamble, tactic_timeout=search_config.tactic_timeout),
        policy=policy,
        request=ProofRequest(statement.name, header, statement_text),
        search_config=search_config,
        config=SketchConfig(sketches=planner_config.sketches, rounds=planner_config.rounds),
        cache=cache,
    )


async def search_with_sketches(
    *,
    env: Env,
    policy: Policy,
    root: TacticState,
    planner: ProofPolicy,
    planner_config: PlannerConfig,
    pool: ReplPool,
    statement: Statement,
    statement_text: str,
    header: str,
    preamble: str,
    search_config: SearchConfig,
    deadline: float,
    accept: Callable[[tuple[str, ...]], Awaitable[bool]],
    cache: HoleCache | None,
) -> tuple[SearchResult, SketchOutcome]:
    """Run the tactic and sketch routes for one problem (see the module docstring)."""
    tactic = TacticRoute(env, policy, root, search_config, theorem_name=statement.name)
    sketch = make_sketch_route(
        planner=planner, planner_config=planner_config, policy=policy, pool=pool, statement=statement,
        statement_text=statement_text, header=header, preamble=preamble, search_config=search_config, cache=cache,
    )
    started = time.monotonic()
    schedule = await run_routes([tactic, sketch], deadline=deadline, verify=accept)
    outcome = sketch_outcome(sketch, schedule.kind)
    result = tactic.result
    if result is None:  # cancelled: the sketch route won first, or the deadline passed
        reason = StopReason.PROVED if schedule.proved else StopReason.TIMEOUT
        result = SearchResult(status=reason.status, stop_reason=reason, theorem_name=statement.name)
        result = replace(result, stats=replace(result.stats, seconds_total=time.monotonic() - started))
    if schedule.proved and schedule.route == sketch.name:
        result = replace(result, status=SearchStatus.PROVED, stop_reason=StopReason.PROVED, proof=schedule.proof,
                         proof_path=(), error="")
    return result, outcome
