"""Whole proofs against Lean: command-mode checks on a warm worker, and step-by-step prefix replay in tactic mode.

`WarmProofChecker` implements `search.proofs.CandidateChecker` and `PrefixReplayer` for one problem:

- `check(body)`: the banned-token and statement checks of the verifier (`check_proof_text`), then the original
  statement with the body, in command mode on the worker's header env (`Worker.env_for`: the preamble elaborated
  once per worker), plus `#print axioms` — `check_in_env`, the same check the final verifier makes, minus the fresh
  process. Lean's messages come back with their positions (REPL `Message.pos`: 1-based line, 0-based column,
  counted in the command text, which is `CheckResult.code`).
- `replay(body)`: the body's top-level steps (`split_steps`) run one by one through the problem's
  `ProofEnvironment`, so every state of the accepted prefix is a real REPL state with an environment handle the
  tactic search can expand; the state at the first rejected step gives the goals at the error (command mode gives
  no goals).

Only the final verifier (`verify_proof`, a fresh process) can make a proof `proved`; these checks only rank and
filter candidates.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence

from prover.config import LeanConfig
from prover.errors import ReplError
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.protocol import Message
from prover.lean.statement import Statement, split_block
from prover.lean.verifier import check_in_env, check_proof_text
from search.banned import BannedTokens
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticState
from search.proofs import CheckResult, LeanMessage, Prefix, split_steps

logger = logging.getLogger(__name__)

# `Verification.messages` renders each REPL message as "LINE:COL: SEVERITY: DATA" (verifier `_render`).
_RENDERED = re.compile(r"^(?P<line>\d+):(?P<col>\d+): (?P<sev>\w+): (?P<data>.*)$", re.S)


def lean_messages(messages: Sequence[Message]) -> tuple[LeanMessage, ...]:
    """Structured messages from the REPL's (`pos`, `endPos`: REPL/JSON.lean `Message`)."""
    return tuple(
        LeanMessage(m.pos.line, m.pos.column, m.severity, m.data, m.end_pos.line if m.end_pos else 0,
                    m.end_pos.column if m.end_pos else 0)
        for m in messages
    )


def parse_messages(rendered: tuple[str, ...]) -> tuple[LeanMessage, ...]:
    """Structured messages from the verifier's rendered ones (those that do not parse are kept as line 0)."""
    out = []
    for text in rendered:
        match = _RENDERED.match(text)
        if match is None:
            out.append(LeanMessage(0, 0, "error", text))
        else:
            out.append(LeanMessage(int(match["line"]), int(match["col"]), match["sev"], match["data"]))
    return tuple(out)


class WarmProofChecker:
    """Checks and replays whole-proof bodies of one statement on a warm pool (see the module docstring)."""

    def __init__(
        self,
        pool: ReplPool,
        env: ProofEnvironment,
        statement: Statement,
        config: LeanConfig,
        *,
        preamble: str = "",
        banned: BannedTokens = BannedTokens(),
        allowed_axioms: frozenset[str] = frozenset(),
        step_timeout: float | None = None,
    ) -> None:
        self.pool = pool
        self.env = env
        self.statement = statement
        self.config = config
        self.preamble = preamble
        self.banned = banned
        self.allowed_axioms = allowed_axioms
        self.step_timeout = step_timeout
        self.checks = 0
        self.replays = 0

    async def check(self, body: str) -> CheckResult:
        started = time.monotonic()
        self.checks += 1
        tactics = split_block(body)  # one entry per top-level tactic, as the final check gets it
        code = self.statement.with_proof(tactics)
        refusal = check_proof_text(self.statement, tactics, banned=self.banned)
        if refusal is not None:
            verdict, details = refusal
            return CheckResult(False, f"{verdict.value}: {details}", (), code, time.monotonic() - started)
        try:
            async with self.pool.acquire() as worker:
                env = await worker.env_for(self.preamble, self.config.command_timeout)
                verification = await check_in_env(
                    worker.process, env, self.statement, tactics, timeout=self.config.verify_timeout,
                    allowed_axioms=self.allowed_axioms,
                )
        except ReplError as exc:  # no worker, or the process died before the check: the candidate is not judged
            return CheckResult(False, f"repl_error: {exc}", (), code, time.monotonic() - started)
        messages = lean_messages(verification.lean_messages) or parse_messages(verification.messages)
        reason = "" if verification.accepted else f"{verification.name}: {verification.details}"
        return CheckResult(verification.accepted, reason, messages, code, time.monotonic() - started)

    async def replay(self, body: str) -> Prefix:
        started = time.monotonic()
        self.replays += 1
        state: TacticState = await self.env.start()
        steps: list[tuple[str, TacticState]] = []
        for step in split_steps(body):
            result = await self.env.run_tac(state, step, self.step_timeout)
            if isinstance(result, ProofFinished):
                return Prefix(tuple(steps), None, "", True, time.monotonic() - started)
            if isinstance(result, TacticState):
                steps.append((step, result))
                state = result
                continue
            error = result.error if isinstance(result, LeanError) else result.reason if isinstance(result, ProofGivenUp) else ""
            return Prefix(tuple(steps), state, error, False, time.monotonic() - started)
        return Prefix(tuple(steps), state, "unsolved goals", False, time.monotonic() - started)
