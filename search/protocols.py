"""The two small protocols the search talks to: an environment (Lean) and a policy (a tactic model).

Both are async so that many tactic runs and model calls can be in flight; the policy is batch-first so a
model sees whole waves of requests at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from search.outcomes import TacticResult, TacticState


@dataclass(frozen=True, slots=True)
class Sampling:
    """Decoding settings for one policy call, kept apart from model configuration.

    `n` is the number of candidates wanted per request (the search width).
    """

    n: int = 8
    temperature: float = 1.1
    top_p: float = 1.0
    max_tokens: int = 128
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """What a prompt adapter may need to ask for tactics at one state.

    `tactics_so_far` is the path from the root that first reached the state (InternLM2.5-style prompts use it;
    state-only prompts ignore it).
    """

    state: TacticState
    theorem_name: str = ""
    tactics_so_far: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One proposed tactic and its score (a log-probability; higher is better)."""

    tactic: str
    logprob: float


@runtime_checkable
class Policy(Protocol):
    """Proposes tactics: for each request, in order, a list of candidates (best first, possibly fewer than n)."""

    async def propose(self, requests: Sequence[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]: ...


@runtime_checkable
class Env(Protocol):
    """Runs tactics on states of one problem whose root state the caller already has.

    `timeout` is the per-tactic wall-clock limit in seconds; past it the result is `ProofGivenUp`.
    States are immutable: running several tactics on the same state is allowed, concurrently too.
    """

    async def run_tac(self, state: TacticState, tactic: str, timeout: float | None = None) -> TacticResult: ...
