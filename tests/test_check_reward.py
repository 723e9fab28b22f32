"""The TRL-style reward function (prover/service/reward.py) on local warm workers, against the fake REPL."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prover.service.reward import LeanReward, extract_proof

ROOT = Path(__file__).resolve().parent.parent
REPL = shlex.join([sys.executable, str(ROOT / "tests" / "fake_repl.py"), "--scenario", str(ROOT / "tests" / "scenarios" / "check.json")])
HEADER = "import Mathlib\n\nopen Nat\n\n"
STATEMENT = "theorem two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"


@pytest.fixture(scope="module")
def reward() -> Iterator[LeanReward]:
    r = LeanReward(repl_cmd=REPL, workers=2, timeout=10)
    yield r
    r.close()


def test_rewards_follow_the_verifier_and_the_statement_guard(reward: LeanReward) -> None:
    completions = [
        # conversational format, a whole file in a fence after some reasoning
        [{"role": "assistant", "content": "Rewrite, then linarith.\n```lean4\n" + HEADER
          + "theorem two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by\n  norm_num\n  linarith\n```"}],
        # only the tactics: put under the expected statement
        "```lean\nnorm_num\nexact h.symm\n```",
        # reward hacking: an easier statement under the same name
        "```lean\n" + HEADER + "theorem two_steps (a b : ℕ) (h : a = b) : b = a := by\n  linarith\n```",
        # sorry, and plain failure
        "```lean\nsorry\n```",
        "no code at all",
    ]
    rewards = reward(completions, prompts=["p"] * 5, statement=[STATEMENT] * 5, header=[HEADER] * 5)
    assert rewards == [1.0, 1.0, 0.0, 0.0, 0.0]
    verdicts = [r.verdict for r in reward.check(completions, statement=[STATEMENT] * 5, header=[HEADER] * 5)]
    assert verdicts[2] == "statement_changed" and verdicts[3] == "banned"


def test_without_a_statement_column_any_theorem_is_checked_as_given(reward: LeanReward) -> None:
    code = HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by simp"
    assert reward([code, code.replace("simp", "omega")]) == [1.0, 0.0]
    assert reward.__name__ == "lean_reward"  # TRL logs reward functions by name


def test_extract_proof_takes_the_last_lean_block() -> None:
    assert extract_proof("```lean\na\n```\ntext\n```lean4\nb\n```") == "b\n"
    assert extract_proof("simp") == "simp"
