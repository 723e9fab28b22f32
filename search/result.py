"""What a search returns: a frozen `SearchResult` with the status, the stop reason, the proof and the stats."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from collections.abc import Sequence
from typing import Any

from search.outcomes import TacticResult, TacticState
from search.tree import EdgeOutcome, SearchTree, Status


class SearchStatus(str, enum.Enum):
    """How the search ended, in the vocabulary of the CLI's `--json` status (DESIGN contract 5)."""

    PROVED = "proved"
    FAILED = "failed"  # exhausted, root failed, or an expansion / env-call cap was hit
    TIMEOUT = "timeout"  # the wall clock ran out first
    ERROR = "error"  # the environment, the policy or the verifier hook raised


class StopReason(str, enum.Enum):
    """Why the search stopped, kept apart from the status."""

    PROVED = "proved"
    EXHAUSTED = "exhausted"  # nothing left to expand (the depth cap may leave the root OPEN)
    TIMEOUT = "timeout"
    BUDGET = "budget"  # max_expansions or max_env_calls
    ROOT_FAILED = "root_failed"
    ERROR = "error"

    @property
    def status(self) -> SearchStatus:
        """The status this stop reason gives."""
        return _STATUS_OF[self]


_STATUS_OF = {
    StopReason.PROVED: SearchStatus.PROVED,
    StopReason.EXHAUSTED: SearchStatus.FAILED,
    StopReason.TIMEOUT: SearchStatus.TIMEOUT,
    StopReason.BUDGET: SearchStatus.FAILED,
    StopReason.ROOT_FAILED: SearchStatus.FAILED,
    StopReason.ERROR: SearchStatus.ERROR,
}


@dataclass(frozen=True)
class SearchStats:
    """Counts and the time split of one search (or the sum over attempts).

    Seconds: `seconds_total` is wall clock; `seconds_model` the wall time with a policy call in flight;
    `seconds_env` the wall time with at least one tactic run in flight; `seconds_search` the wall time with neither
    (the search's own overhead). Model and env time overlap when expansions are concurrent, so the three may add
    up to more than the total. `seconds_env_calls` sums the durations of all runs; `seconds_accept` the verifier
    hook's time. `batch_sizes` is a histogram of policy-call sizes as (requests, calls) pairs.
    """

    expansions: int = 0
    nodes: int = 0
    max_depth: int = 0
    duplicate_hits: int = 0
    env_calls: int = 0
    env_states: int = 0
    env_cycles: int = 0
    env_errors: int = 0
    env_given_up: int = 0
    env_proofs: int = 0
    env_rejected: int = 0
    model_calls: int = 0
    model_requests: int = 0
    batch_sizes: tuple[tuple[int, int], ...] = ()
    tactics_proposed: int = 0
    tactics_duplicate: int = 0
    tactics_banned: int = 0
    tactics_empty: int = 0
    accept_calls: int = 0
    goal_splits: int = 0  # states split into independent goals (AND nodes, `search.goal_split`)
    seconds_total: float = 0.0
    seconds_model: float = 0.0
    seconds_env: float = 0.0
    seconds_search: float = 0.0
    seconds_env_calls: float = 0.0
    seconds_accept: float = 0.0

    @property
    def env_by_outcome(self) -> dict[str, int]:
        """Tactic runs by outcome (`EdgeOutcome` values); they add up to `env_calls`. `env_proofs` counts every run
        Lean finished, so the accepted ones (`proved`) are those less the rejected."""
        return {
            EdgeOutcome.STATE.value: self.env_states,
            EdgeOutcome.CYCLE.value: self.env_cycles,
            EdgeOutcome.ERROR.value: self.env_errors,
            EdgeOutcome.GIVEN_UP.value: self.env_given_up,
            EdgeOutcome.PROVED.value: self.env_proofs - self.env_rejected,
            EdgeOutcome.REJECTED.value: self.env_rejected,
        }

    @property
    def mean_batch_size(self) -> float:
        return self.model_requests / self.model_calls if self.model_calls else 0.0

    @property
    def max_batch_size(self) -> int:
        return max((size for size, _ in self.batch_sizes), default=0)

    def __add__(self, other: SearchStats) -> SearchStats:
        """Sum of two stats (attempts); `max_depth` is the larger, batch histograms merge."""
        values: dict[str, Any] = {}
        for name, mine in asdict(self).items():
            theirs = getattr(other, name)
            if name == "max_depth":
                values[name] = max(mine, theirs)
            elif name == "batch_sizes":
                merged: dict[int, int] = dict(self.batch_sizes)
                for size, count in other.batch_sizes:
                    merged[size] = merged.get(size, 0) + count
                values[name] = tuple(sorted(merged.items()))
            else:
                values[name] = mine + theirs
        return SearchStats(**values)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch_sizes"] = [list(pair) for pair in self.batch_sizes]
        data["env_by_outcome"] = self.env_by_outcome
        data["mean_batch_size"] = self.mean_batch_size
        return data


@dataclass(frozen=True)
class PathStep:
    """One step of the proof: the state before, the tactic, its score, and what Lean returned."""

    state_before: TacticState
    tactic: str
    logprob: float
    result: TacticResult


@dataclass(frozen=True)
class FailedEdge:
    """A tactic that failed at a state, with Lean's error (or the give-up reason) — a training negative.

    `outcome` is an `EdgeOutcome` value: `error`, `given_up`, `rejected` or `cycle`.
    """

    state_before: TacticState
    tactic: str
    logprob: float
    error: str
    outcome: str


@dataclass(frozen=True)
class SearchProgress:
    """A progress snapshot handed to `on_progress`."""

    elapsed_s: float
    expansions: int
    nodes: int
    best_depth: int
    env_calls: int = 0
    attempt: int = 0


@dataclass(frozen=True)
class SearchResult:
    """The outcome of `search` / `search_attempts`.

    `proof` is the tactic list (empty unless `status` is PROVED); `proof_path` the same steps with the states.
    `tree` is the search graph (for export and training data; not compared). `attempts` holds the per-attempt
    results when the budget was split; the top-level stats are then their sum and `tree` that of the last attempt
    run. `exception` is what the environment, policy or hook raised when `status` is ERROR.
    """

    status: SearchStatus
    stop_reason: StopReason
    proof: tuple[str, ...] = ()
    proof_path: tuple[PathStep, ...] = ()
    stats: SearchStats = field(default_factory=SearchStats)
    theorem_name: str = ""
    root_status: Status = Status.OPEN
    alpha: float = 0.5
    seed: int = 0
    attempt: int = 0
    error: str = ""
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    tree: SearchTree | None = field(default=None, compare=False, repr=False)
    attempts: tuple[SearchResult, ...] = field(default=(), repr=False)

    @property
    def proved(self) -> bool:
        return self.status is SearchStatus.PROVED

    def failed_edges(self, limit: int | None = None) -> list[FailedEdge]:
        """Tactics that failed during the search (all attempts), in the order they were tried, at most `limit`."""
        out: list[FailedEdge] = []
        for result in self.attempts or (self,):
            if result.tree is None:
                continue
            for edge in result.tree.failed_edges():
                if limit is not None and len(out) >= limit:
                    return out
                out.append(FailedEdge(edge.src.state, edge.tactic, edge.logprob, edge.error, edge.outcome.value))
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary (the tree is exported separately with `tree.to_json()`)."""
        return {
            "status": self.status.value,
            "stop_reason": self.stop_reason.value,
            "proof": list(self.proof) if self.proof else None,
            "theorem_name": self.theorem_name,
            "root_status": self.root_status.value,
            "alpha": self.alpha,
            "seed": self.seed,
            "attempt": self.attempt,
            "error": self.error or None,
            "stats": self.stats.to_json(),
            "steps": [
                {
                    "state_before": step.state_before.pp,
                    "tactic": step.tactic,
                    "logprob": step.logprob,
                    "result": type(step.result).__name__,
                    "state_after": step.result.pp if isinstance(step.result, TacticState) else "",
                }
                for step in self.proof_path
            ],
            "attempts": [attempt.to_json() for attempt in self.attempts],
        }


def path_steps(tree: SearchTree, edges: Sequence[int]) -> tuple[PathStep, ...]:
    """The steps of a path of edge ids: state before, tactic, log-prob, result."""
    return tuple(
        PathStep(tree.states[tree.edges[e][0]], tree.edges[e][2], tree.edges[e][3], tree.result_of(e)) for e in edges
    )


__all__ = [
    "FailedEdge",
    "PathStep",
    "SearchProgress",
    "SearchResult",
    "SearchStats",
    "SearchStatus",
    "StopReason",
    "path_steps",
]
