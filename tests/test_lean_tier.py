"""The `lean` tier: the client, the proof environment and the verifier against the REAL Lean REPL.

Runs where `lake` is on PATH and the project is built (`make lean`); tests/conftest.py skips it elsewhere with the
reason. Everything goes through the default command (`lake env .lake/packages/REPL/.lake/build/bin/repl` in the
project), exactly as `prover prove` runs Lean. Slow on purpose: each fresh process imports Mathlib.

The looping tactic is `sleep 1000000` (Lean core, Init/Tactics.lean: "sleeps for ms milliseconds and does
nothing"): it holds the REPL for 1000 s whatever the heartbeat settings. `repeat`/`iterate` are no good for this:
both expand recursively, so they end in a maxRecDepth error, a heartbeat timeout or a stack overflow, not in a
wall-clock timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from prover.config import LeanConfig
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.process import ReplProcess
from prover.lean.protocol import Response, parse_request, parse_response
from prover.lean.statement import Statement, split_file
from prover.lean.verifier import STANDARD_AXIOMS, Verdict, Verification, verify_proof
from search.banned import BannedTokens
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticResult, TacticState

pytestmark = pytest.mark.lean

ROOT = Path(__file__).resolve().parent.parent
MINIF2F = ROOT.parent / "shared" / "benchmarks" / "minif2f-lean4-yangky11" / "Test"
PROBLEM = "mathd_numbertheory_229"  # (5^30) % 7 = 1: `norm_num` closes it
CONFIG = LeanConfig(tactic_timeout=60.0, command_timeout=600.0, verify_timeout=600.0)
LOOP = "sleep 1000000"
LOOP_TIMEOUT = 5.0


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def blocks(text: str) -> list[str]:
    return [part for part in text.split("\n\n") if part.strip()]


# --------------------------------------------------------------------------- transcripts replayed live


@pytest.mark.parametrize("name", ["readme", "proof_step", "invalid_tactic"])
def test_core_transcripts_replay_on_the_real_repl(transcripts: Path, name: str) -> None:
    """Recorded at REPL v4.33.0-rc2; at v4.24.0 these three differ only in the sorry warning's quotes (notes:
    "Differences at the pinned v4.24.0", C), so the expected answers are compared with that one substitution."""
    requests = [parse_request(q) for q in blocks((transcripts / "test" / f"{name}.in").read_text(encoding="utf-8"))]
    expected_text = (transcripts / "test" / f"{name}.expected.out").read_text(encoding="utf-8")
    expected = [parse_response(r.replace("declaration uses `sorry`", "declaration uses 'sorry'")) for r in blocks(expected_text)]
    assert len(requests) == len(expected)

    async def replay() -> list[Response]:
        async with ReplProcess.from_config(CONFIG, name=f"transcript-{name}") as repl:
            return [await repl.request(req, CONFIG.command_timeout) for req in requests]

    answers = run(replay())
    for i, (got, want) in enumerate(zip(answers, expected)):
        assert got == want, f"{name} response {i}: {got!r} != {want!r}"


# ------------------------------------------------------------------------- a MiniF2F problem, live


def minif2f(name: str) -> tuple[str, Statement]:
    path = MINIF2F / f"{name}.lean"
    if not path.is_file():
        pytest.skip(f"MiniF2F statements not found at {path}")
    header, text = split_file(path.read_text(encoding="utf-8"), name)
    return header, Statement.parse(text)


def test_a_minif2f_statement_starts_and_norm_num_closes_it() -> None:
    header, statement = minif2f(PROBLEM)

    async def search() -> tuple[TacticState, TacticResult, TacticResult]:
        async with ReplPool(CONFIG, header) as pool:
            env = ProofEnvironment(pool, statement, tactic_timeout=CONFIG.tactic_timeout)
            root = await env.start()
            wrong = await env.run_tac(root, "exact foo_bar_baz")
            done = await env.run_tac(root, "norm_num")
            return root, wrong, done

    root, wrong, done = run(search())
    assert len(root.goals) == 1 and "5 ^ 30 % 7 = 1" in root.goals[0]
    assert isinstance(wrong, LeanError)
    assert isinstance(done, ProofFinished)


def test_a_looping_tactic_is_stopped_and_the_environment_stays_usable() -> None:
    header, statement = minif2f(PROBLEM)

    async def search() -> tuple[TacticResult, float, TacticResult, int]:
        async with ReplPool(CONFIG, header) as pool:
            env = ProofEnvironment(pool, statement, tactic_timeout=CONFIG.tactic_timeout)
            root = await env.start()
            started = time.monotonic()
            looped = await env.run_tac(root, LOOP, timeout=LOOP_TIMEOUT)
            seconds = time.monotonic() - started
            after = await env.run_tac(root, "norm_num")  # on a new worker: the root is rebuilt by replay
            return looped, seconds, after, env.stats.timeouts

    looped, seconds, after, timeouts = run(search())
    assert looped == ProofGivenUp("timeout") and timeouts == 1
    assert seconds < LOOP_TIMEOUT + 30  # the kill is prompt; the slack is for a loaded machine
    assert isinstance(after, ProofFinished)


# --------------------------------------------------------------------------------- the verifier, live


def test_the_verifier_accepts_a_real_proof_and_rejects_sorry() -> None:
    header, statement = minif2f(PROBLEM)

    def verify(tactics: list[str], banned: BannedTokens = BannedTokens()) -> Verification:
        return run(verify_proof(statement, tactics, header=header, config=CONFIG, original=statement.original, banned=banned))

    good = verify(["norm_num"])
    assert good.verdict is Verdict.VERIFIED, good
    assert set(good.axioms) <= STANDARD_AXIOMS
    assert verify(["sorry"]).verdict is Verdict.BANNED
    sorry = verify(["sorry"], BannedTokens(()))  # let Lean see it: the warning and sorryAx
    assert sorry.verdict is Verdict.USES_SORRY, sorry
    extra = verify(["norm_num", "rfl"])  # "no goals to be proved"
    assert extra.verdict is Verdict.LEAN_ERROR, extra
