"""Goal splitting on real Lean: one proof state per goal of a multi-goal state (`search.goal_split.GoalFocus`).

A tactic-mode `sorry` cannot give a usable per-goal state: the REPL's state of a tactic-mode sorry never reaches
`Completed` when closed (`test/name_generator.expected.out`: "Incomplete: contains metavariable(s)"), so a goal
proved there would never count. Command mode can: `FocusingEnvironment.focus_goals(state)` elaborates the theorem
with the tactic path to `state` and then one `· sorry` per goal, as a sketch (`prover.lean.sketch`), on the warm
header env. Each `sorry` is a command-mode proof state holding exactly that goal, closed to `Completed` like the
root's. The split is used only when Lean accepts that command and its sorries' goals are the state's goals, in
order; otherwise the state stays whole. The search's combined proof (path, then one `·` block per goal) is what
the fresh verifier checks.

States of the per-goal environments get negative handles here, so they never collide with the proof
environment's own (0, 1, 2, …). Only states of the main environment are split (a goal state that splits again
stays whole: one level of splitting).
"""

from __future__ import annotations

from prover.lean.env import EnvStats, ProofEnvironment
from prover.lean.sketch import LeanSketchChecker
from search.goal_split import splittable
from search.outcomes import TacticResult, TacticState
from search.protocols import Env

__all__ = ["FocusingEnvironment"]


class FocusingEnvironment:
    """A `ProofEnvironment` that can also focus goals (`GoalFocus`); tactics on focused goals go to their own
    per-goal environment. `splits` counts the states split, `refused` those Lean would not split."""

    def __init__(self, base: ProofEnvironment, checker: LeanSketchChecker) -> None:
        self.base = base
        self.checker = checker
        self._focused: dict[int, tuple[Env, TacticState]] = {}  # negative handle -> (goal env, its state)
        self._handles: dict[tuple[int, int], int] = {}  # (id(goal env), its state id) -> negative handle
        self.splits = 0
        self.refused = 0

    @property
    def stats(self) -> EnvStats:
        """The main environment's counters (per-goal environments count their own)."""
        return self.base.stats

    def _wrap(self, env: Env, state: TacticState) -> TacticState:
        key = (id(env), state.id)
        handle = self._handles.get(key)
        if handle is None:
            handle = self._handles[key] = -1 - len(self._handles)
            self._focused[handle] = (env, state)
        return TacticState(state.goals, handle, state.messages)

    async def run_tac(self, state: TacticState, tactic: str, timeout: float | None = None) -> TacticResult:
        focused = self._focused.get(state.id)
        if focused is None:
            return await self.base.run_tac(state, tactic, timeout)
        env, inner = focused
        result = await env.run_tac(inner, tactic, timeout)
        return self._wrap(env, result) if isinstance(result, TacticState) else result

    async def focus_goals(self, state: TacticState) -> list[TacticState] | None:
        """One state per goal of `state` (see the module docstring), or None to keep it whole."""
        if state.id < 0 or not splittable(state.goals):
            return None
        path = self.base.tactics_to(state)
        body = "\n".join([*path, *(["· sorry"] * len(state.goals))])
        elaboration = await self.checker.elaborate(body)
        holes = elaboration.holes
        if not elaboration.accepted or tuple(h.goal for h in holes) != state.goals or any(h.env is None for h in holes):
            self.refused += 1
            return None
        self.splits += 1
        return [self._wrap(hole.env, hole.state) for hole in holes if hole.env is not None]
