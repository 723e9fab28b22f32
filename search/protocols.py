"""The two small protocols the search talks to: an environment (Lean) and a policy (a tactic model).

Both are async so that many tactic runs and model calls can be in flight; the policy is batch-first so a
model sees whole waves of requests at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from search.outcomes import TacticResult, TacticState


@dataclass(frozen=True, slots=True)
class Sampling:
    """Decoding settings for one policy call, kept apart from model configuration.

    `n` is the number of candidates wanted per request (the search width). `temperature == 0` with `n > 1` means
    beam search of width `n` (the authors' decoding for ReProver, InternLM-StepProver, LLMStep); `n == 1` at
    temperature 0 is greedy. `max_tokens` bounds each tactic; a sample cut at this limit is dropped by the model
    backends. `seed` is the attempt's seed; each request gets its own seed derived from it (`request_seed`).
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
    state-only prompts ignore it). `seed` is this request's sampling seed (`request_seed`); None leaves the
    policy to use `Sampling.seed`.
    """

    state: TacticState
    theorem_name: str = ""
    tactics_so_far: tuple[str, ...] = ()
    seed: int | None = None


def request_seed(attempt_seed: int | None, state: TacticState) -> int | None:
    """The sampling seed of one request: a hash of the attempt's seed and the node's state text.

    vLLM gives sample j of a seeded request the seed `seed + j` (v1/engine/parallel_sampling.py), so one seed
    for every request would make sample j of every state draw the same random numbers. Keying on the state
    text (the tree's node identity: one node per distinct state) rather than on node numbers keeps runs
    reproducible even when concurrent expansions number nodes in a different order. 31 bits: every server
    accepts it. None (unseeded attempt) stays None.
    """
    if attempt_seed is None:
        return None
    digest = hashlib.blake2b(f"{attempt_seed}\x00{state.pp}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


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
