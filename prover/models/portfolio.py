"""The `portfolio` generator: no model, a fixed list of automation tactics with fixed priors.

It is the default when no model is configured, and part of the core install (no torch). Every state gets the
same candidates: the first `sampling.n` tactics of the list, best prior first. Priors are log-probabilities of a
geometric distribution over the list (`decay` between neighbours), so the search's path scores stay comparable
with those of a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from prover.errors import UsageError
from prover.models.base import TacticGenerator
from prover.models.registry import Option, parse_options
from search.banned import BannedTokens
from search.protocols import Candidate, PolicyRequest, Sampling

# Ordered by how often each closes a competition goal on its own (closing tactics first, then normalisers).
DEFAULT_TACTICS: tuple[str, ...] = (
    "norm_num",
    "linarith",
    "nlinarith",
    "positivity",
    "omega",
    "simp_all",
    "aesop",
    "decide",
    "ring_nf",
    "field_simp",
    "simp",
    "norm_num at *",
    "ring",
    "tauto",
    "push_cast",
    "intro",
    "constructor",
    "gcongr",
)


def split_tactics(text: str) -> list[str]:
    """Split a comma-separated tactic list, ignoring commas inside brackets (`simp [a, b],linarith`)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _decay(value: str) -> float:
    x = float(value)
    if not 0.0 < x <= 1.0:
        raise ValueError("decay must be in (0, 1]")
    return x


OPTIONS: dict[str, Option] = {
    "tactics": Option(split_tactics, None, "comma-separated tactics, best first (default: the built-in list)"),
    "decay": Option(_decay, 0.8, "prior ratio between neighbours in the list (1 = uniform)"),
}


class PortfolioGenerator(TacticGenerator):
    """Fixed automation tactics with fixed priors; needs no model.

    Args:
        tactics: the tactics, best first (duplicates are dropped).
        decay: prior of tactic i ∝ decay**i, normalised over the list.
        banned: tactics containing a banned token are refused (UsageError).

    Examples:
        >>> import asyncio
        >>> from search.outcomes import TacticState
        >>> gen = PortfolioGenerator(["simp", "omega"])
        >>> [c.tactic for c in asyncio.run(gen.propose([PolicyRequest(TacticState(("⊢ 1 = 1",)))], Sampling(n=8)))[0]]
        ['simp', 'omega']
    """

    name = "portfolio"

    def __init__(
        self, tactics: Sequence[str] = DEFAULT_TACTICS, decay: float = 0.8, banned: BannedTokens | None = None
    ) -> None:
        super().__init__()
        policy = banned or BannedTokens()
        unique = list(dict.fromkeys(t.strip() for t in tactics if t.strip()))
        if not unique:
            raise UsageError("the portfolio needs at least one tactic")
        for tactic in unique:
            token = policy.find(tactic)
            if token is not None:
                raise UsageError(f"portfolio tactic '{tactic}' contains the banned token '{token}'")
        weights = [decay**i for i in range(len(unique))]
        log_total = math.log(sum(weights))
        self.candidates: tuple[Candidate, ...] = tuple(
            Candidate(t, math.log(w) - log_total) for t, w in zip(unique, weights)
        )

    @classmethod
    def build(
        cls, model: str | None, prompt_format: str | None, options: Mapping[str, str] | None, allow_download: bool
    ) -> PortfolioGenerator:
        if model not in (None, "", "portfolio"):
            raise UsageError(f"the portfolio generator takes no model (got '{model}'); drop --model or pick a backend")
        if prompt_format:
            raise UsageError("the portfolio generator has no prompt; drop --prompt-format")
        opts = parse_options(cls.name, OPTIONS, options)
        return cls(opts["tactics"] or DEFAULT_TACTICS, decay=opts["decay"])

    async def propose(self, requests: Sequence[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]:
        if not requests:
            return []
        self.calls += 1
        top = list(self.candidates[: max(sampling.n, 0)])
        return [list(top) for _ in requests]

    def describe(self) -> dict[str, Any]:
        return {"generator": self.name, "tactics": [c.tactic for c in self.candidates]}
