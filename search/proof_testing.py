"""Synthetic stand-ins for the whole-proof side: a checker and replayer over a `SyntheticEnv`, scripted proof policies.

A proof body is a tactic script (`split_steps`); over a synthetic space it is correct when its steps, run from the
root, end in a `proof` move. `SyntheticProofLean` checks a body that way (command mode: accepted, or an error at the
line of the first failing step) and replays it (tactic mode: the longest accepted prefix, with real states of the
space), so the whole-proof route and the tactic tree meet on the same states as they do on Lean.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticState
from search.proofs import CheckResult, LeanMessage, Prefix, ProofRequest, ProofSample, split_steps
from search.protocols import Sampling
from search.testing import SyntheticEnv

HEAD = "theorem synthetic : P := by"


class SyntheticProofLean:
    """`CandidateChecker` and `PrefixReplayer` over a synthetic env. `check_cost` / `step_cost`: simulated seconds
    per check / per replayed step (sleeps; 0 runs without suspending)."""

    def __init__(self, env: SyntheticEnv, *, check_cost: float = 0.0, step_cost: float = 0.0) -> None:
        self.env = env
        self.check_cost = check_cost
        self.step_cost = step_cost
        self.checks = 0
        self.replays = 0

    async def _run(self, body: str, cost: float) -> tuple[Prefix, int]:
        """Run the steps from the root; (prefix, 1-based body line of the failing step or 0)."""
        state: TacticState = self.env.root_state()
        steps: list[tuple[str, TacticState]] = []
        line = 1
        for step in split_steps(body):
            if cost:
                await asyncio.sleep(cost)
            result = await self.env.run_tac(state, step)
            if isinstance(result, ProofFinished):
                return Prefix(tuple(steps), None, "", True), 0
            if isinstance(result, TacticState):
                steps.append((step, result))
                state = result
                line += step.count("\n") + 1
                continue
            error = result.error if isinstance(result, LeanError) else result.reason if isinstance(result, ProofGivenUp) else ""
            return Prefix(tuple(steps), state, error or "error"), line
        return Prefix(tuple(steps), state, "unsolved goals"), line

    async def check(self, body: str) -> CheckResult:
        self.checks += 1
        prefix, line = await self._run(body, self.check_cost)
        code = HEAD + "\n" + "\n".join(f"  {text}" for text in body.splitlines())
        if prefix.finished:
            return CheckResult(True, code=code, seconds=self.check_cost)
        message = LeanMessage(line + 1, 2, "error", prefix.error)
        return CheckResult(False, prefix.error, (message,), code, self.check_cost)

    async def replay(self, body: str) -> Prefix:
        self.replays += 1
        prefix, _ = await self._run(body, self.step_cost)
        return prefix


ProofScript = Callable[[ProofRequest, int, random.Random], ProofSample]
"""(request, sample index, rng) → a sample; the rng is seeded per policy."""


class ScriptedProofPolicy:
    """A `ProofPolicy` whose samples come from `script`; `latency` seconds per call; `tokens` per sample (for
    simulated model cost). `fail_after`: calls after which every call raises (a dying model server)."""

    def __init__(
        self,
        script: ProofScript,
        *,
        latency: float = 0.0,
        seed: int = 0,
        fail_after: int | None = None,
    ) -> None:
        self.script = script
        self.latency = latency
        self.rng = random.Random(seed)
        self.fail_after = fail_after
        self.calls = 0
        self.requests: list[ProofRequest] = []

    async def generate(self, requests: Sequence[ProofRequest], sampling: Sampling) -> list[list[ProofSample]]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise ConnectionError("the proof model server is gone")
        self.requests.extend(requests)
        if self.latency:
            await asyncio.sleep(self.latency)
        return [[self.script(request, i, self.rng) for i in range(sampling.n)] for request in requests]


def fixed_bodies(bodies: Sequence[str | None], *, tokens: int = 100) -> ProofScript:
    """A script cycling through `bodies` (None: a rejected sample, reason `no code block`)."""
    counter = [0]

    def script(request: ProofRequest, index: int, rng: random.Random) -> ProofSample:
        body = bodies[counter[0] % len(bodies)]
        counter[0] += 1
        if body is None:
            return ProofSample("(no code)", None, "no code block", tokens)
        return ProofSample(f"```lean4\n{body}\n```", body, tokens=tokens)

    return script
