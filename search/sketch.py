"""Sketch-and-fill: a planner writes `have … := by sorry` sketches, Lean turns each `sorry` into a hole, holes are
proved apart and stitched back, and the whole proof goes through the verifier.

A *sketch* is a proof body (the tactic script after the theorem's `:= by`, as `ProofSample.body` holds it) with
`sorry` holes, e.g. (DeepSeek-Prover-V2's "Lean 4 Proof with `have` Statements" block):

    have h₀ : x = 2 := by sorry
    have h₁ : y = 3 := by
      have h₂ : 2 * y = 6 := by sorry
      omega
    rw [h₀, h₁]

The Lean layer elaborates it once in command mode on the warm header env (`SketchChecker.elaborate`): Lean's
errors reject it; otherwise the REPL gives one proof state per `sorry` (`Hole`: the sorry's position in the body,
its goal with context, and an `Env` rooted at it). Lean checks the closing steps at that point, against the
`have`s' stated types, so a sketch that elaborates needs only its holes.

`SketchRoute` (a `search.scheduler` route): asks the planner (any `ProofPolicy`; a whole-proof model can double as
planner) for sketches; for each, proves its holes concurrently by tactic search under the route's shared deadline,
closing holes met before from the subgoal cache (`HoleCache`); a hole that fails ends its sketch at once (the other
holes are cancelled) and the time left moves on to the next sketch. Proved holes are stitched back (`stitch`),
every planned `have` must still be there (`check_planned_haves`: DeepSeek-Prover-V2's consistency rule), and the
stitched proof goes to the scheduler's verifier with kind `sketch`. Rejected sketches (with Lean's messages) go
back to the planner for the next round.

Pure: no Lean, no model, no subprocess.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from search.best_first import search
from search.config import SearchConfig
from search.outcomes import TacticState
from search.proofs import Attempt, LeanMessage, ProofPolicy, ProofRequest, split_steps
from search.protocols import Env, Policy, Sampling
from search.scheduler import RouteContext, RouteReport

logger = logging.getLogger(__name__)

SORRY = "sorry"


class StitchError(ValueError):
    """A sketch cannot be stitched: a hole is not where Lean said, a proof is empty, or a planned `have` is gone."""


@dataclass(frozen=True)
class Hole:
    """One `sorry` of an elaborated sketch: 0-based `line` and `column` of the `sorry` token in the body, its goal
    (context and `⊢`), and where to run tactics on it (`env`, `state`)."""

    index: int
    line: int
    column: int
    goal: str
    state: TacticState
    env: Env | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Elaboration:
    """A sketch elaborated in command mode: `accepted` when Lean reported no error; `holes` in body order."""

    accepted: bool
    holes: tuple[Hole, ...] = ()
    reason: str = ""
    messages: tuple[LeanMessage, ...] = ()
    code: str = ""
    seconds: float = 0.0


@runtime_checkable
class SketchChecker(Protocol):
    """Elaborates sketch bodies of one problem (the Lean layer: `prover.lean.sketch.LeanSketchChecker`)."""

    async def elaborate(self, body: str) -> Elaboration: ...


@runtime_checkable
class HoleCache(Protocol):
    """The subgoal cache: proofs of holes by goal text (context included); the key's other parts (Lean, Mathlib,
    header) are the implementation's. `get` returns a tactic script or None."""

    def get(self, goal: str) -> tuple[str, ...] | None: ...

    def put(self, goal: str, proof: Sequence[str]) -> None: ...


# ---- text: planned haves and stitching ---------------------------------------------------------------------

_HAVE = re.compile(r"^\s*(?:·\s*)?have\s+([^\s:]+)\s*:\s*(.+?)\s*:=", re.M)


def planned_haves(body: str) -> list[tuple[str, str]]:
    """The `have name : type :=` steps of a body, in order, types with whitespace collapsed (one-line haves)."""
    out = []
    for line in body.splitlines():
        code = line.split("--", 1)[0]
        match = _HAVE.match(code)
        if match is not None:
            out.append((match.group(1), " ".join(match.group(2).split())))
    return out


def check_planned_haves(sketch: str, stitched: str) -> None:
    """Raise `StitchError` unless every planned `have` of `sketch` is in `stitched`, as often, with its type."""
    left = planned_haves(stitched)
    for have in planned_haves(sketch):
        if have not in left:
            raise StitchError(f"the stitched proof drops the planned `have {have[0]} : {have[1]}`")
        left.remove(have)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def stitch(body: str, holes: Sequence[Hole], proofs: Sequence[Sequence[str]]) -> str:
    """Put each hole's proof (a tactic script, one tactic per entry, entries possibly multi-line) where its `sorry`
    is, with the indentation Lean needs; then check that every planned `have` stayed.

    A one-line proof replaces the `sorry` in place (`:= by simp`); a longer one opens a block two columns deeper
    than the line of its `have` (or at the `sorry`'s own column when the `sorry` is a tactic on its own line). A
    term-mode `:= sorry` becomes `:= by …`.

    Raises:
        StitchError: a hole's position does not hold `sorry`, a proof is empty, a multi-line proof would have to go
            before more code on the same line, or a planned `have` is gone.
    """
    if len(holes) != len(proofs):
        raise StitchError(f"{len(proofs)} proofs for {len(holes)} holes")
    lines = body.split("\n")
    order = sorted(range(len(holes)), key=lambda i: (holes[i].line, holes[i].column), reverse=True)
    for i in order:
        hole, script = holes[i], [line for tactic in proofs[i] for line in tactic.splitlines() if line.strip()]
        if not script:
            raise StitchError(f"hole {hole.index} has an empty proof")
        if not (0 <= hole.line < len(lines)) or lines[hole.line][hole.column : hole.column + len(SORRY)] != SORRY:
            raise StitchError(f"hole {hole.index}: no `sorry` at line {hole.line + 1}, column {hole.column}")
        text = lines[hole.line]
        before, after = text[: hole.column], text[hole.column + len(SORRY) :]
        tactic_position = not before.strip() or re.search(r"(?:\bby|=>|·|;|\()\s*$", before) is not None
        opener = "" if tactic_position else "by "
        base = min(_indent(line) for line in script)
        script = [line[base:] for line in script]
        if len(script) == 1:
            one = script[0]
            inline = f"{opener}{one}" if not after.strip() or tactic_position else f"(by {one})"
            lines[hole.line] = before + inline + after
            continue
        if after.strip() and not after.strip().startswith("--"):
            raise StitchError(f"hole {hole.index}: a multi-line proof cannot go before {after.strip()!r}")
        if not before.strip():
            block = [before + line for line in script]
        else:
            pad = " " * (_indent(text) + 2)
            head = before.rstrip() + ("" if tactic_position else " by")
            block = [head, *(pad + line for line in script)]
        lines[hole.line : hole.line + 1] = block
    stitched = "\n".join(lines)
    check_planned_haves(body, stitched)
    return stitched


# ---- the route ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SketchConfig:
    """Sketch-and-fill settings.

    sketches: sketches asked of the planner per round (one call with `n = sketches`).
    rounds: feedback rounds after the first: rejected sketches go back to the planner with Lean's messages.
    hole_budget_s: wall-clock cap per hole (None: up to the route's deadline).
    sampling: the planner's decoding settings (`n` is overridden).
    """

    sketches: int = 4
    rounds: int = 0
    hole_budget_s: float | None = None
    sampling: Sampling = field(default_factory=lambda: Sampling(n=4, temperature=0.7, max_tokens=2048))


@dataclass
class SketchRecord:
    """What happened to one sketch (for `--json` stats and datagen)."""

    body: str
    status: str = "pending"  # rejected_by_planner / not_elaborated / hole_failed / stitch_refused / rejected / proved
    reason: str = ""
    holes: list[dict[str, Any]] = field(default_factory=list)  # {"goal", "proof", "source": search|cache}
    stitched: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"body": self.body, "status": self.status, "reason": self.reason, "holes": self.holes,
                "stitched": self.stitched}


@dataclass
class SketchRoute:
    """Sketch-and-fill as a route of `search.scheduler.run_routes` (see the module docstring)."""

    planner: ProofPolicy
    checker: SketchChecker
    policy: Policy
    request: ProofRequest
    search_config: SearchConfig
    config: SketchConfig = field(default_factory=SketchConfig)
    cache: HoleCache | None = None
    name: str = "sketch"
    stop_on_win: bool = True
    records: list[SketchRecord] = field(default_factory=list)
    cache_hits: int = 0
    holes_proved: int = 0
    hole_searches: int = 0

    async def run(self, ctx: RouteContext) -> RouteReport:
        history: list[Attempt] = []
        for _round in range(self.config.rounds + 1):
            if ctx.remaining() <= 0:
                break
            sampling = replace(self.config.sampling, n=self.config.sketches)
            request = replace(self.request, history=tuple(history[-1:]))
            samples = (await self.planner.generate([request], sampling))[0]
            history = []
            for sample in samples:
                if ctx.remaining() <= 0 or ctx.won.is_set():
                    break
                record = SketchRecord(sample.body or "")
                self.records.append(record)
                if sample.body is None:
                    record.status, record.reason = "rejected_by_planner", sample.reason
                    continue
                feedback = await self._try(sample.body, record, ctx)
                if record.status == "proved":
                    return self.partial_report("proved")
                if feedback is not None:
                    history.append(replace(feedback, output=sample.output))
        return self.partial_report("failed" if ctx.remaining() > 0 else "timeout")

    async def _try(self, body: str, record: SketchRecord, ctx: RouteContext) -> Attempt | None:
        """Elaborate, fill, stitch and verify one sketch; returns feedback for the planner when Lean rejected it."""
        elaboration = await self.checker.elaborate(body)
        if not elaboration.accepted:
            record.status, record.reason = "not_elaborated", elaboration.reason
            return Attempt("", elaboration.code, elaboration.messages)
        proofs = await self._fill(elaboration.holes, record, ctx)
        if proofs is None:
            record.status = "hole_failed"
            return None
        try:
            stitched = stitch(body, elaboration.holes, proofs)
        except StitchError as exc:
            record.status, record.reason = "stitch_refused", str(exc)
            return None
        record.stitched = stitched
        # One entry per top-level step: the verifier reads each entry as one tactic.
        if await ctx.accept(tuple(split_steps(stitched)), self.name, "sketch"):
            record.status = "proved"
        else:
            record.status, record.reason = "rejected", "the stitched proof failed the verifier"
        return None

    async def _fill(self, holes: Sequence[Hole], record: SketchRecord, ctx: RouteContext) -> list[tuple[str, ...]] | None:
        """Proofs of all holes (cache first, then concurrent searches), or None as soon as one hole fails."""
        proofs: list[tuple[str, ...] | None] = [None] * len(holes)
        record.holes = [{"goal": hole.goal, "proof": None, "source": ""} for hole in holes]
        todo = []
        for i, hole in enumerate(holes):
            cached = self.cache.get(hole.goal) if self.cache is not None else None
            if cached:
                self.cache_hits += 1
                proofs[i] = tuple(cached)
                record.holes[i].update(proof=list(cached), source="cache")
            else:
                todo.append(i)
        tasks = {asyncio.ensure_future(self._search(holes[i], ctx)): i for i in todo}
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    i = tasks[task]
                    proof = task.result()
                    if not proof:
                        record.reason = f"hole {i} not proved: {holes[i].goal.splitlines()[-1][:120]}"
                        return None
                    proofs[i] = proof
                    self.holes_proved += 1
                    record.holes[i].update(proof=list(proof), source="search")
                    if self.cache is not None:
                        self.cache.put(holes[i].goal, proof)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return [proof for proof in proofs if proof is not None]

    async def _search(self, hole: Hole, ctx: RouteContext) -> tuple[str, ...]:
        if hole.env is None:
            return ()
        self.hole_searches += 1
        config = self.search_config
        if self.config.hole_budget_s is not None:
            config = replace(config, budget_s=min(config.budget_s, self.config.hole_budget_s))
        # A hole's `ProofFinished` is Lean's `Completed` for that hole's own proof state: the hole is proved; the
        # theorem is checked once, stitched, by the scheduler's verifier.
        result = await search(hole.env, self.policy, hole.state, config, theorem_name=self.request.theorem_name,
                              deadline=ctx.deadline)
        return result.proof

    def stats(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for record in self.records:
            by_status[record.status] = by_status.get(record.status, 0) + 1
        return {"sketches_tried": len(self.records), "sketches_by_status": by_status,
                "holes_proved": self.holes_proved, "hole_searches": self.hole_searches, "cache_hits": self.cache_hits}

    def partial_report(self, status: str) -> RouteReport:
        proved = next((r for r in self.records if r.status == "proved"), None)
        return RouteReport(self.name, status, tuple(split_steps(proved.stitched)) if proved else (), "sketch" if proved else "",
                           stats=self.stats(), samples=tuple(r.to_json() for r in self.records))


__all__ = [
    "Elaboration",
    "Hole",
    "HoleCache",
    "SketchChecker",
    "SketchConfig",
    "SketchRecord",
    "SketchRoute",
    "StitchError",
    "check_planned_haves",
    "planned_haves",
    "stitch",
]
