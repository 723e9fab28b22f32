"""The result of proving one statement: what the agent returns, the CLI prints and a sweep records."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from prover.config import TACTIC_MODE_HEARTBEATS


class ProofStatus(str, enum.Enum):
    """Final status (DESIGN contract 5). `proved` only ever follows a verifier acceptance."""

    PROVED = "proved"
    FAILED = "failed"  # the search ended (exhausted / root failed / cap) without a verified proof
    TIMEOUT = "timeout"  # the wall-clock budget ran out first
    ERROR = "error"  # an infrastructure fault stopped the attempt (REPL would not start, model crashed)


@dataclass(frozen=True)
class ProofStats:
    """Counts and the time split of one `prove` call (seconds are wall clock)."""

    expansions: int = 0
    nodes: int = 0
    lean_calls: int = 0
    model_calls: int = 0
    replays: int = 0
    seconds_total: float = 0.0
    seconds_model: float = 0.0
    seconds_lean: float = 0.0
    seconds_search: float = 0.0
    seconds_verify: float = 0.0


@dataclass(frozen=True)
class Versions:
    """Everything a result depends on, read from files (never by running Lean)."""

    prover: str = ""
    git_hash: str = ""
    lean: str = ""
    mathlib: str = ""
    repl: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class ProofStep:
    """One edge of a search tree, as training data needs it: Lean's text of the states around a tactic.

    `error` is Lean's message for a failed tactic (then `state_after` is empty); `outcome` is the result kind
    (`TacticState`, `LeanError`, `ProofFinished`, `ProofGivenUp`).
    """

    state_before: str
    tactic: str
    state_after: str = ""
    outcome: str = "TacticState"
    error: str = ""


@dataclass(frozen=True)
class ProofResult:
    """One statement's outcome.

    `proof` is the tactic script (one tactic per entry) that the verifier accepted, empty unless proved.
    `verdict` is the verifier's verdict name for the last proof checked (None when nothing was checked).
    `stop_reason` says why the search stopped, apart from the status.
    `steps` is the proved path (state before, tactic, state after), `failed_steps` a bounded sample of tactics
    Lean rejected during the search (negatives for training data).
    `limitations` says what the Lean REPL could not do for this statement (e.g. repl #66: tactic mode cannot see
    the statement's own `….match_N` definitions), so that a failure caused by the environment is not read as a
    failed search.
    """

    status: ProofStatus
    statement: str
    proof: tuple[str, ...] = ()
    verdict: str | None = None
    stop_reason: str = ""
    error: str = ""
    cached: bool = False
    stats: ProofStats = field(default_factory=ProofStats)
    steps: tuple[ProofStep, ...] = ()
    failed_steps: tuple[ProofStep, ...] = ()
    versions: Versions = field(default_factory=Versions)
    limitations: tuple[str, ...] = ()
    tree: dict[str, Any] | None = field(default=None, compare=False, repr=False)  # search-tree/1, when kept
    # The hybrid routes (issue 11): how the proof was found (`tactic`, `whole`, `repaired`, `resumed`), each
    # route's stats, and every whole-proof sample's record (outcome, reason, tokens, round, body).
    route: str = ""
    policies: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    samples: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def proved(self) -> bool:
        return self.status is ProofStatus.PROVED

    def to_json(self) -> dict[str, Any]:
        """The `--json` object of contract 5 (plus a few extra keys)."""
        stats: dict[str, Any] = asdict(self.stats)
        if self.policies:
            stats["policies"] = self.policies
        out = {
            "status": self.status.value,
            "proof": "\n".join(self.proof) if self.proof else None,
            "statement": self.statement,
            "verdict": self.verdict,
            "stop_reason": self.stop_reason,
            "error": self.error or None,
            "cached": self.cached,
            "stats": stats,
            "versions": self.versions.as_dict(),
            "limitations": list(self.limitations),
            # Every tactic in tactic mode gets this many heartbeats whatever the header sets (REPL v4.24.0,
            # repl #69); the final check honours the header. prover.config.TACTIC_MODE_HEARTBEATS.
            "tactic_heartbeats": TACTIC_MODE_HEARTBEATS,
        }
        if self.route:
            out["route"] = self.route
        return out
