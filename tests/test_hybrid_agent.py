"""The hybrid routes through the agent over the fake REPL: warm command-mode checks with error positions, repair
from Lean's messages, truncate-and-resume into the tactic tree, a dying proof model, and the `--json` stats."""

from __future__ import annotations

import asyncio
import random

from prover.agent import Agent, AgentConfig
from prover.config import LeanConfig
from prover.results import ProofStatus
from prover.strategies import ProofModelConfig
from search import SearchConfig
from search.proof_testing import ScriptedProofPolicy, fixed_bodies
from search.proofs import ProofRequest, ProofSample, split_steps
from tests.test_cli import repl_cmd

STATEMENT = "theorem wp_resume (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"
WRONG = "rw [Nat.add_zero]\nexact h"
RIGHT = "rw [Nat.add_zero]\nexact h.symm"


def run(policy: ScriptedProofPolicy, **proof: object):
    config = AgentConfig(
        lean=LeanConfig(repl_command=repl_cmd("whole_proof.json"), workers=2),
        search=SearchConfig(budget_s=20),
        proof=ProofModelConfig(model="scripted", generator="openai", **proof),  # type: ignore[arg-type]
    )

    async def go():
        async with Agent(config, proof_policy=policy) as agent:
            return await agent.prove(STATEMENT)

    return asyncio.run(go())


def test_a_failed_whole_proof_is_repaired_from_leans_error_with_its_position_and_goals():
    def script(request: ProofRequest, index: int, rng: random.Random) -> ProofSample:
        return ProofSample("plan", RIGHT if request.round else WRONG, tokens=50)

    policy = ScriptedProofPolicy(script)
    result = run(policy, samples=1, repair_rounds=1, whole_only=True)
    assert result.status is ProofStatus.PROVED and result.route == "repaired" and result.proof == tuple(split_steps(RIGHT))
    assert result.verdict == "verified"
    attempt = policy.requests[-1].history[0]
    (error,) = [m for m in attempt.messages if m.severity == "error"]
    assert error.line == 3 and error.column == 2 and error.text.startswith("type mismatch")
    assert attempt.code.splitlines()[2] == "  exact h"
    assert error.goals == "a b : ℕ\nh : a = b\n⊢ b = a"
    whole = result.to_json()["stats"]["policies"]["whole"]
    assert (whole["samples"], whole["repairs"], whole["passed"], whole["tokens"]) == (2, 1, 1, 100)
    assert [s["outcome"] for s in result.samples] == ["failed", "passed"]


def test_the_valid_prefix_of_a_failed_proof_is_continued_by_the_tactic_search():
    result = run(ScriptedProofPolicy(fixed_bodies([WRONG])), samples=1, repair_rounds=0)
    assert result.proved and result.route == "resumed"
    assert result.proof == ("rw [Nat.add_zero]", "omega")
    policies = result.policies
    assert policies["whole"]["resumed_prefixes"] == 1 and policies["tactic"]["status"] == "proved"


def test_a_dying_proof_model_ends_only_its_route():
    result = run(ScriptedProofPolicy(fixed_bodies([RIGHT]), fail_after=0), samples=1)
    assert result.status is ProofStatus.FAILED  # the tactic search alone cannot prove it here
    assert "whole: ConnectionError" in result.error
    assert result.policies["tactic"]["status"] == "failed"


def test_rejected_samples_never_reach_lean_and_are_recorded():
    result = run(ScriptedProofPolicy(fixed_bodies([None, RIGHT])), samples=2, whole_only=True, repair_rounds=0)
    assert result.proved and result.route == "whole"
    assert [(s["outcome"], s["reason"]) for s in result.samples] == [("rejected", "no code block"), ("passed", "")]
