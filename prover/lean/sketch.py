"""Sketch elaboration on real Lean: a `have … := by sorry` sketch in command mode, one hole per `sorry`.

`LeanSketchChecker.elaborate(body)` sends `statement.with_proof(split_block(body))` as one command on a warm worker's header
env (`Worker.env_for(preamble)`, so tactic mode sees the preamble). Lean's errors reject the sketch (their
messages go back to the planner). Otherwise every `sorry` the REPL reports (REPL v4.24.0 `REPL/Main.lean:312`: one
entry per `sorry` of the command, with its goal, proof state and position; `test/have_by_sorry.expected.out`) is a
`Hole` whose position is mapped back into the body, and whose `env` is a `HoleEnvironment`: the ordinary proof
environment with the sketch command as its "statement" and that sorry as its root, so that a state lost with a
worker is rebuilt the usual way (re-elaborate the sketch on another worker, pick the sorry at the same position,
replay the tactics).
"""

from __future__ import annotations

import time

from prover.errors import ReplCrashError, ReplTimeoutError, StatementError
from prover.lean.env import ROOT, ProofEnvironment, _Node
from prover.lean.pool import ReplPool, Worker
from prover.lean.protocol import CommandResponse, ErrorResponse, Sorry, has_errors
from prover.lean.statement import Statement, split_block
from search.outcomes import TacticState
from search.proofs import LeanMessage
from search.sketch import SORRY, Elaboration, Hole

__all__ = ["HoleEnvironment", "LeanSketchChecker"]

_BODY_INDENT = 2  # `Statement.with_proof` indents every body line by two spaces


class HoleEnvironment(ProofEnvironment):
    """A proof environment rooted at one `sorry` of an elaborated sketch (see the module docstring)."""

    def __init__(
        self, pool: ReplPool, statement: Statement, code: str, line: int, column: int, *, tactic_timeout: float,
        preamble: str,
    ) -> None:
        super().__init__(pool, statement, tactic_timeout=tactic_timeout, preamble=preamble)
        self.code = code
        self.at = (line, column)  # the sorry's REPL position in `code` (line 1-based, column 0-based)

    def seed(self, worker: Worker, proof_state: int, goal: str) -> TacticState:
        """Take the hole's proof state from the elaboration that found it (no second command)."""
        self._held.setdefault(worker, {})[ROOT] = proof_state
        self._nodes[ROOT] = _Node(ROOT, "", (goal,))
        self._root = TacticState(goals=(goal,), id=ROOT)
        return self._root

    async def _elaborate(self, worker: Worker) -> CommandResponse | ErrorResponse:
        started = time.perf_counter()
        self.stats.lean_calls += 1
        try:
            timeout = self.pool.config.command_timeout
            env = await worker.env_for(self.preamble, timeout)
            return await worker.process.command(self.code, env=env, timeout=timeout)
        finally:
            self.stats.seconds_lean += time.perf_counter() - started

    def _root_of(self, resp: CommandResponse | ErrorResponse) -> tuple[int, str]:
        if isinstance(resp, ErrorResponse):
            raise StatementError(f"Lean rejected the sketch: {resp.message}", (resp.message,))
        for found in resp.sorries:
            if found.pos is not None and (found.pos.line, found.pos.column) == self.at and found.proof_state is not None:
                return found.proof_state, found.goal
        raise StatementError(f"the sketch no longer has a sorry at {self.at}")


class LeanSketchChecker:
    """`search.sketch.SketchChecker` for one problem on a warm pool (see the module docstring)."""

    def __init__(self, pool: ReplPool, statement: Statement, *, preamble: str = "", tactic_timeout: float = 10.0) -> None:
        self.pool = pool
        self.statement = statement
        self.preamble = preamble
        self.tactic_timeout = tactic_timeout
        self.elaborations = 0

    async def elaborate(self, body: str) -> Elaboration:
        """Elaborate a sketch body; reject it on Lean's errors or on sorries that are not the body's `sorry`s."""
        # One entry per top-level tactic: a single multi-line entry would be re-indented as one tactic (F7).
        code = self.statement.with_proof(split_block(body))
        started = time.perf_counter()
        self.elaborations += 1
        timeout = self.pool.config.command_timeout
        try:
            async with self.pool.acquire() as worker:
                env = await worker.env_for(self.preamble, timeout)
                resp = await worker.process.command(code, env=env, timeout=timeout)
                return self._holes(body, code, resp, worker, time.perf_counter() - started)
        except (ReplTimeoutError, ReplCrashError) as exc:  # the sketch's own fault (too slow, crashes Lean)
            return Elaboration(False, reason=f"elaboration gave up: {type(exc).__name__}: {exc}", code=code)
        except ValueError as exc:  # the text cannot be sent to Lean; nothing was sent
            return Elaboration(False, reason=f"the sketch cannot be sent to Lean: {exc}", code=code)

    def _holes(
        self, body: str, code: str, resp: CommandResponse | ErrorResponse, worker: Worker, seconds: float
    ) -> Elaboration:
        if isinstance(resp, ErrorResponse):
            return Elaboration(False, reason=resp.message, code=code, seconds=seconds)
        messages = tuple(
            LeanMessage(m.pos.line, m.pos.column, m.severity, m.data, m.end_pos.line if m.end_pos else 0,
                        m.end_pos.column if m.end_pos else 0)
            for m in resp.messages
        )
        if has_errors(resp.messages):
            first = next(m for m in messages if m.severity == "error")
            return Elaboration(False, reason=first.text.splitlines()[0] if first.text else "error", messages=messages,
                               code=code, seconds=seconds)
        first_body_line = self.statement.head.count("\n") + 2  # the head, then ` by`, then the body
        body_lines = body.split("\n")
        holes: list[Hole] = []
        for found in resp.sorries:
            hole = self._hole(len(holes), found, first_body_line, body_lines, code, worker)
            if hole is None:
                return Elaboration(False, reason=f"a sorry outside the sketch's holes: {found.goal[:80]!r}",
                                   messages=messages, code=code, seconds=seconds)
            holes.append(hole)
        holes.sort(key=lambda h: (h.line, h.column))
        holes = [Hole(i, h.line, h.column, h.goal, h.state, h.env) for i, h in enumerate(holes)]
        return Elaboration(True, tuple(holes), messages=messages, code=code, seconds=seconds)

    def _hole(
        self, index: int, found: Sorry, first_body_line: int, body_lines: list[str], code: str, worker: Worker
    ) -> Hole | None:
        if found.pos is None or found.proof_state is None:
            return None
        line = found.pos.line - first_body_line
        column = found.pos.column - _BODY_INDENT
        if not (0 <= line < len(body_lines)) or body_lines[line][column : column + len(SORRY)] != SORRY:
            return None
        env = HoleEnvironment(self.pool, self.statement, code, found.pos.line, found.pos.column,
                              tactic_timeout=self.tactic_timeout, preamble=self.preamble)
        state = env.seed(worker, found.proof_state, found.goal)
        return Hole(index, line, column, found.goal, state, env)
