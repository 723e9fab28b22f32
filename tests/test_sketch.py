"""Sketch-and-fill, pure side: stitching, planned-have consistency, and the route with a scripted planner."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from search.cache import ProofCache
from search.config import SearchConfig
from search.proof_testing import ScriptedProofPolicy, fixed_bodies
from search.proofs import LeanMessage, ProofRequest
from search.scheduler import run_routes
from search.sketch import Elaboration, Hole, SketchConfig, SketchRoute, StitchError, check_planned_haves, stitch
from search.subgoals import SubgoalCache
from search.testing import Move, ScriptedPolicy, SyntheticEnv, TableSpace


def holes_of(body: str) -> list[Hole]:
    out = []
    for n, line in enumerate(body.split("\n")):
        for match in re.finditer(r"\bsorry\b", line):
            out.append(Hole(len(out), n, match.start(), f"⊢ {n}", state=None))  # type: ignore[arg-type]
    return out


# ---- stitching -----------------------------------------------------------------------------------------------


def test_stitch_inline_block_and_term_holes() -> None:
    body = "have h₀ : x = 2 := by sorry\nhave h₁ : y = 3 := sorry\nhave h₂ : z = 1 := by\n  sorry\nlinarith"
    stitched = stitch(body, holes_of(body), [["norm_num"], ["intro a", "exact a"], ["simp", "ring"]])
    assert stitched == (
        "have h₀ : x = 2 := by norm_num\n"
        "have h₁ : y = 3 := by\n  intro a\n  exact a\n"
        "have h₂ : z = 1 := by\n  simp\n  ring\n"
        "linarith"
    )


def test_stitch_nested_haves_and_multiline_tactics() -> None:
    body = "have h₁ : y = 3 := by\n  have h₂ : 2 * y = 6 := by sorry\n  omega\nrw [h₁]"
    proof = ["constructor", "· simp\n  ring", "· omega"]
    stitched = stitch(body, holes_of(body), [proof])
    assert stitched == (
        "have h₁ : y = 3 := by\n  have h₂ : 2 * y = 6 := by\n    constructor\n    · simp\n      ring\n    · omega\n"
        "  omega\nrw [h₁]"
    )


def test_stitch_refuses_what_it_cannot_do_right() -> None:
    body = "have h : p := by sorry\nexact h"
    with pytest.raises(StitchError, match="no `sorry`"):
        stitch(body, [Hole(0, 1, 0, "⊢ p", state=None)], [["simp"]])  # type: ignore[arg-type]
    with pytest.raises(StitchError, match="empty proof"):
        stitch(body, holes_of(body), [[]])
    with pytest.raises(StitchError, match="before"):
        stitch("exact (f sorry h)", holes_of("exact (f sorry h)"), [["simp", "ring"]])
    assert stitch("exact (f sorry h)", holes_of("exact (f sorry h)"), [["simp"]]) == "exact (f (by simp) h)"


def test_a_dropped_planned_have_is_refused() -> None:
    sketch = "have h₀ : x = 2 := by sorry\nhave h₁ : y = 3 := by sorry\nlinarith"
    check_planned_haves(sketch, "have h₀ : x = 2 := by simp\nhave h₁ : y  =  3 := by simp\nlinarith")
    with pytest.raises(StitchError, match="h₁"):
        check_planned_haves(sketch, "have h₀ : x = 2 := by simp\nlinarith")
    with pytest.raises(StitchError, match="h₀"):  # the type changed: not the planned have
        check_planned_haves(sketch, "have h₀ : x = 3 := by simp\nhave h₁ : y = 3 := by simp\nlinarith")
    # A `sorry` Lean reports inside a have's type is a hole too; filling it would change the planned have: refused.
    typed = "have h₀ : x = 2 := by sorry\nhave h₁ : g sorry = 3 := by simp\nlinarith"
    with pytest.raises(StitchError, match="h₁"):
        stitch(typed, holes_of(typed), [["simp"], ["exact 0"]])


# ---- the route -------------------------------------------------------------------------------------------------

# One space holding every hole's subproblem: hole goals by the planned have's type (two provable chains, one dead end).
SPACE = TableSpace(
    {
        "a0": [Move("step 0", -0.5, "a1")],
        "a1": [Move("step 1", -0.5, "a2")],
        "a2": [Move("qed", -0.5, kind="proof")],
        "b0": [Move("step 0", -0.5, "b1")],
        "b1": [Move("qed", -0.5, kind="proof")],
        "f": [Move("simp", -0.5, kind="error")],
    },
    "a0",
)
ROOTS = {"x = 2": "a0", "y = 3": "b0", "false": "f"}


class SyntheticSketchChecker:
    """Elaborates a body the way Lean would for these tests: `bad` does not elaborate; every `sorry` on a
    `have … : T` line is a hole rooted at `ROOTS[T]` of `SPACE`."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def elaborate(self, body: str) -> Elaboration:
        self.calls.append(body)
        if "bad" in body:
            message = LeanMessage(2, 2, "error", "unknown identifier 'bad'")
            return Elaboration(False, reason="unknown identifier 'bad'", messages=(message,), code=body)
        holes = []
        for hole in holes_of(body):
            kind = re.search(r":\s*(.+?)\s*:=", body.split("\n")[hole.line])
            goal = kind.group(1) if kind else "false"
            holes.append(Hole(hole.index, hole.line, hole.column, f"h ctx\n⊢ {goal}", SPACE.state(ROOTS[goal]),
                              SyntheticEnv(SPACE)))
        return Elaboration(True, tuple(holes), code=body)


def route_for(bodies: list[str | None], *, rounds: int = 0, cache: object = None) -> SketchRoute:
    return SketchRoute(
        planner=ScriptedProofPolicy(fixed_bodies(bodies)),
        checker=SyntheticSketchChecker(),
        policy=ScriptedPolicy(SPACE),
        request=ProofRequest("t", "import Mathlib", "theorem t : P := by sorry"),
        search_config=SearchConfig(budget_s=5, debug=True),
        config=SketchConfig(sketches=len(bodies), rounds=rounds),
        cache=cache,  # type: ignore[arg-type]
    )


async def verifier(proof: tuple[str, ...]) -> bool:
    text = "\n".join(proof)
    return "sorry" not in text and "closing_fails" not in text


def schedule(route: SketchRoute):  # type: ignore[no-untyped-def]
    return asyncio.run(run_routes([route], deadline=time.monotonic() + 20, verify=verifier))


GOOD = "have h₀ : x = 2 := by sorry\nhave h₁ : y = 3 := by sorry\nlinarith"


def test_route_proves_a_sketch_by_filling_its_holes() -> None:
    result = schedule(route_for([GOOD]))
    assert result.proved and result.kind == "sketch"
    assert result.proof == (  # one entry per top-level step, as the verifier reads them
        "have h₀ : x = 2 := by\n  step 0\n  step 1\n  qed", "have h₁ : y = 3 := by\n  step 0\n  qed", "linarith",
    )
    stats = result.report("sketch").stats
    assert stats["sketches_tried"] == 1 and stats["holes_proved"] == 2 and stats["cache_hits"] == 0


def test_unelaborated_unprovable_and_failing_closing_sketches_are_rejected_with_reasons() -> None:
    bodies: list[str | None] = [
        None,
        "have h₀ : x = 2 := by bad\nlinarith",
        "have h₀ : x = 2 := by sorry\nhave h₂ : false := by sorry\nlinarith",
        "have h₀ : x = 2 := by sorry\nclosing_fails",
        GOOD,
    ]
    route = route_for(bodies)
    result = schedule(route)
    assert result.proved and result.proof[-1] == "linarith"
    statuses = [(r.status, r.reason) for r in route.records]
    assert statuses[0] == ("rejected_by_planner", "no code block")
    assert statuses[1] == ("not_elaborated", "unknown identifier 'bad'")
    assert statuses[2][0] == "hole_failed" and "false" in statuses[2][1]
    assert statuses[3] == ("rejected", "the stitched proof failed the verifier")
    assert statuses[4][0] == "proved"
    assert route.stats()["sketches_by_status"]["proved"] == 1


def test_rejected_sketches_go_back_to_the_planner() -> None:
    route = route_for(["have h₀ : x = 2 := by bad\nlinarith"], rounds=1)
    schedule(route)
    planner = route.planner
    assert isinstance(planner, ScriptedProofPolicy) and len(planner.requests) == 2
    feedback = planner.requests[1].history
    assert feedback and feedback[0].messages[0].text == "unknown identifier 'bad'"


def test_holes_met_again_are_closed_from_the_cache(tmp_path: Path) -> None:
    cache = SubgoalCache(ProofCache(tmp_path / "proofs.db"), "v4.24.0", "abc", "import Mathlib")
    first = route_for(["have h₀ : x = 2 := by sorry\nhave h₂ : false := by sorry\nlinarith", GOOD], cache=cache)
    assert schedule(first).proved
    # The proved holes went to the cache; a new route (another attempt or problem) closes them from it.
    assert cache.get("h ctx\n⊢ x = 2") and cache.get("h ctx\n⊢ y = 3")
    again = route_for([GOOD], cache=cache)
    result = schedule(again)
    assert result.proved and again.stats()["cache_hits"] == 2 and again.hole_searches == 0
