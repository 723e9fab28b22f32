"""Run-level settings of one proof search (one object, passed down; nothing reads globals)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from search.banned import BannedTokens
from search.errors import UsageError
from search.protocols import Sampling


@dataclass(frozen=True)
class SearchConfig:
    """How one best-first search runs.

    Args:
        budget_s: wall-clock seconds for the whole search (model + Lean + search bookkeeping); split evenly over
            `attempts` by `search_attempts`.
        width: tactics asked of the policy per expansion (`Sampling.n`); after dropping empty, duplicate and banned
            candidates at most `width` reach the environment.
        alpha: length normalisation of the priority `Σ log p / depth**alpha` (0: summed log-prob, 1: mean).
        temperature, top_p, max_tokens: decoding settings handed to the policy.
        concurrency: expansions in flight at once (C). One policy call carries the requests of every expansion
            that is ready; the tactics of all in-flight expansions run concurrently.
        max_expansions: stop after this many expansions (None: no cap). In-flight work still finishes, so a
            proof found by the last expansion is kept.
        max_env_calls: stop after this many tactic runs (None: no cap).
        tactic_timeout: per-tactic wall-clock limit in seconds, passed to `Env.run_tac`.
        attempts: independent attempts the budget is split into (BFS-Prover style); stops at the first proof.
        seed: sampling seed of the first attempt; attempt i uses `seed + i`.
        attempt_alphas: α of attempt i is `attempt_alphas[i % len(attempt_alphas)]` (None: `alpha` for all).
        banned: the banned-token policy; tactics it rejects never reach the environment.
        max_depth: nodes at this depth are kept but not expanded (None: no limit). Proofs of up to
            `max_depth` tactics can be found.
        env_concurrency: most tactic runs in flight at once (None: `concurrency * width`).
        progress_interval_s: least seconds between two `on_progress` calls (the last one is always made).
        debug: run `SearchTree.check_invariants()` after every expansion (slow; for tests and debugging).

    Raises:
        UsageError: a value is out of range.

    Examples:
        >>> SearchConfig(budget_s=60, width=4).sampling().n
        4
    """

    budget_s: float = 600.0
    width: int = 8
    alpha: float = 0.5
    temperature: float = 1.1
    top_p: float = 1.0
    max_tokens: int = 128
    concurrency: int = 8
    max_expansions: int | None = None
    max_env_calls: int | None = None
    tactic_timeout: float = 10.0
    attempts: int = 1
    seed: int = 0
    attempt_alphas: tuple[float, ...] | None = None
    banned: BannedTokens = BannedTokens()
    max_depth: int | None = None
    env_concurrency: int | None = None
    progress_interval_s: float = 0.5
    debug: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not (self.budget_s > 0 and math.isfinite(self.budget_s)):
            problems.append(f"budget_s must be a positive number of seconds, got {self.budget_s!r}")
        for name in ("width", "concurrency", "attempts", "max_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("max_expansions", "max_env_calls", "env_concurrency"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be at least 1 or None, got {value!r}")
        if self.max_depth is not None and self.max_depth < 1:
            problems.append(f"max_depth must be at least 1 or None, got {self.max_depth!r}")
        alphas = (self.alpha, *(self.attempt_alphas or ()))
        if any(not (a >= 0 and math.isfinite(a)) for a in alphas):
            problems.append(f"alpha values must be finite and >= 0, got {alphas!r}")
        if self.attempt_alphas is not None and not self.attempt_alphas:
            problems.append("attempt_alphas must be None or non-empty")
        if not self.tactic_timeout > 0:
            problems.append(f"tactic_timeout must be positive, got {self.tactic_timeout!r}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            problems.append(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature!r}, {self.top_p!r}")
        if self.progress_interval_s < 0:
            problems.append(f"progress_interval_s must be >= 0, got {self.progress_interval_s!r}")
        if problems:
            raise UsageError("bad search config: " + "; ".join(problems))

    def with_(self, **changes: Any) -> SearchConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def sampling(self) -> Sampling:
        """The decoding settings of one policy call."""
        return Sampling(
            n=self.width, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, seed=self.seed
        )

    def runner_count(self) -> int:
        """How many tactic runs may be in flight at once."""
        return self.env_concurrency if self.env_concurrency is not None else self.concurrency * self.width

    def attempt_config(self, index: int, budget_s: float) -> SearchConfig:
        """The settings of attempt `index` (0-based) given its share of the budget."""
        alpha = self.attempt_alphas[index % len(self.attempt_alphas)] if self.attempt_alphas else self.alpha
        return replace(self, budget_s=budget_s, seed=self.seed + index, alpha=alpha, attempts=1)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (the banned policy as its token list)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["banned"] = list(self.banned.tokens)
        if self.attempt_alphas is not None:
            out["attempt_alphas"] = list(self.attempt_alphas)
        return out

    def config_hash(self) -> str:
        """sha256 (hex, first 16 chars) of the settings that change what a search can find.

        Budget-only knobs that do not change the search space (progress interval, debug) are left out.
        """
        data = self.as_dict()
        for volatile in ("progress_interval_s", "debug"):
            data.pop(volatile)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
