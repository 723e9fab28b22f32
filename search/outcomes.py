"""What running one tactic can lead to, in LeanDojo's vocabulary.

These are values, never exceptions. The Lean layer produces them (one classification function,
`prover.lean.protocol.classify_tactic_response`); the search consumes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class TacticState:
    """Open goals after a tactic (or at the root).

    `id` is the environment's handle for the state, stable for the life of the proof environment (not the raw
    REPL id, which changes when a worker is restarted and the state is rebuilt). `goals` holds one
    pretty-printed goal per entry, a `case tag` line first when Lean has one.
    """

    goals: tuple[str, ...]
    id: int = 0
    messages: tuple[str, ...] = field(default=(), compare=False)

    @property
    def pp(self) -> str:
        """The goals as one text, separated by blank lines (the form tactic models are trained on)."""
        return "\n\n".join(self.goals)

    @property
    def key(self) -> str:
        """Normalised text used to deduplicate states: whitespace runs collapse, goal order is kept.

        Two states with the same key are the same proof obligation, whatever path reached them.
        """
        return "\n\n".join(_WS.sub(" ", g).strip() for g in self.goals)

    @property
    def num_goals(self) -> int:
        return len(self.goals)


@dataclass(frozen=True, slots=True)
class LeanError:
    """The tactic failed: Lean rejected it, it used `sorry`, or it left the proof unsound."""

    error: str


@dataclass(frozen=True, slots=True)
class ProofFinished:
    """No goals remain and Lean reported the whole proof `Completed` (kernel-checked, no sorry)."""

    id: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class ProofGivenUp:
    """The environment could not decide: the tactic timed out, or the REPL crashed while running it."""

    reason: str = ""


TacticResult = Union[TacticState, LeanError, ProofFinished, ProofGivenUp]
