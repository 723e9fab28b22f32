"""Goal splitting: when a tactic leaves several goals that share no metavariable, prove them apart (an AND node).

A state with goals `[G1, …, Gk]` is one node of the search tree; plain best-first then searches the product of the
goals' alternatives whenever the policy may work on any of them (`on_goal`, `case`, `all_goals`, `<;>`). Splitting
turns such a node into an AND node with one single-goal child per goal: each child is searched on its own, the
node is proved when every child is, and failed as soon as one child fails. The proof of the node is the children's
proofs in goal order, each under a focusing bullet (`·`), which closes exactly the main goal:

    constructor
    · simp
    · omega

**When goals count as independent.** Lean prints an unassigned metavariable in a goal as `?name` — a named hole
`?w`, an anonymous `?m.123`, a universe `?u.7` — and a goal that *is* a metavariable other goals depend on (the
witness of `refine ⟨?w, ?_⟩`) is tagged `case w` while the others mention `?w`. A goal without a tag can still be
referenced as `?m.N`, and nothing in the goal text tells which goal that is. So the rule is conservative: a state
splits only when none of its goals mentions a metavariable (`mentions_metavariable`); any `?name` in any goal
keeps the whole state together, as one node, exactly as without splitting. Instantiating one goal's metavariable
from another goal is then impossible by construction, so the goals' proofs compose. Metavariables that the pretty
printer hides (implicit arguments) are not seen; the combined proof still goes through the verifier, which is the
judge (a proof is never reported unless it accepts the combined script).

The environment side is the optional `GoalFocus` protocol: given a multi-goal state, one state per goal holding
only that goal (for a REPL: the state after closing the other goals; for `search.testing.ProductSpace`, the
component alone). An environment without it never splits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from search.outcomes import TacticState

FOCUS_TACTIC = "·"
"""The tactic text of the edges from an AND node to its children (a marker: the bullet added when combining)."""

# `?` then a Lean identifier start: `?w`, `?m.12`, `?u.3`, `?a✝`. `?_` never appears in a goal (it is syntax for a
# new anonymous hole, printed as `?m.N` once elaborated). Preceded by a non-identifier character so that `h?` or
# `x?` (rare, but valid identifier characters in Lean names) do not count.
_METAVARIABLE = re.compile(r"(?<![\w.'?!])\?[^\W\d]")


def mentions_metavariable(goal: str) -> bool:
    """Whether a pretty-printed goal mentions a metavariable (`?w`, `?m.12`, `?u.3`)."""
    return _METAVARIABLE.search(goal) is not None


def splittable(goals: Sequence[str]) -> bool:
    """Whether a state with these goals splits into independent single-goal subproblems (see the module doc)."""
    return len(goals) > 1 and not any(mentions_metavariable(goal) for goal in goals)


def focused(script: Sequence[str]) -> str:
    """One focused block: `· ` before the first line of the script, two spaces before every later line.

    Each entry of `script` is a tactic, possibly over several lines whose own indentation is relative to it.
    """
    lines = [line for tactic in script for line in tactic.splitlines()]
    if not lines:
        raise ValueError("an empty script cannot close a goal")
    return "\n".join([f"{FOCUS_TACTIC} {lines[0]}", *(f"  {line}" if line.strip() else line for line in lines[1:])])


def combine(scripts: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """The proof of an AND node from its children's proofs, in goal order: one focused block per goal."""
    return tuple(focused(script) for script in scripts)


@runtime_checkable
class GoalFocus(Protocol):
    """An environment that can give each goal of a multi-goal state as a state of its own.

    `focus_goals(state)` returns one single-goal state per goal of `state`, in order, on which tactics run as
    they would on that goal inside `state`; or None when it cannot (the search then keeps the state whole).
    """

    async def focus_goals(self, state: TacticState) -> list[TacticState] | None: ...


__all__ = ["FOCUS_TACTIC", "GoalFocus", "combine", "focused", "mentions_metavariable", "splittable"]
