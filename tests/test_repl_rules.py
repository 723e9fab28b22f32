"""What the real REPL v4.24.0 does with headers, heartbeats and kernel time, and how the Lean layer lives with it
(notes/real-repl-behaviour.md F1, F2, F5, repl #66), against the FAKE REPL, which copies each rule and cites the
REPL source for it (tests/fake_repl.py, "Rules copied from the real REPL").

Scenario: tests/scenarios/real_rules.json.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from fake_repl import fake_command
from prover.agent import Agent, AgentConfig, ModelConfig
from prover.config import LeanConfig
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.protocol import CommandResponse, ErrorResponse, ProofStepResponse
from prover.lean.statement import Statement, split_header
from prover.results import ProofResult
from search import SearchConfig
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticState
from tests.test_cli import repl_cmd, run_cli

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
PREAMBLE_HEADER = "import Mathlib\n\nopen Nat\n\ndef double (n : ℕ) : ℕ := 2 * n\n\n"
FACT_DOUBLE = "theorem fact_double : double 3 = 3 ! := by sorry"
AUX = "theorem aux_thm : aux_thm.match_1 0 = 0 := by sorry"
HEAVY = "theorem heavy (a b : ℝ) : 2 * a * b ≤ a ^ 2 + b ^ 2 := by sorry"
HEAVY_STEP = "theorem heavy_step (a b : ℝ) (h : 0 ≤ (a - b) ^ 2) : 2 * a * b ≤ a ^ 2 + b ^ 2 := by sorry"
SLOW_KERNEL = "theorem slow_kernel : 2 ^ 64 % 7 = 2 := by sorry"
UNLIMITED = "import Mathlib\n\nset_option maxHeartbeats 0\n\n"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def lean(**changes: Any) -> LeanConfig:
    return LeanConfig(project_dir=ROOT, repl_command=fake_command("--scenario", "real_rules"), **changes)


def agent_prove(statement: str, header: str, tactics: str, **lean_changes: Any) -> ProofResult:
    config = AgentConfig(
        lean=lean(**lean_changes),
        search=SearchConfig(budget_s=30),
        model=ModelConfig(generator="portfolio", options={"tactics": tactics}),
    )

    async def go() -> ProofResult:
        async with Agent(config) as agent:
            return await agent.prove(statement, header=header)

    return run(go())


# ------------------------------------------------------------------------ F1: the preamble in tactic mode


def test_the_fake_gives_a_commands_sorries_the_env_from_before_that_command() -> None:
    """The rule itself (REPL/Main.lean:312): a preamble sent with the statement is not there in tactic mode."""
    imports, preamble = split_header(PREAMBLE_HEADER)
    statement = Statement.parse(FACT_DOUBLE).with_sorry()

    async def go() -> tuple[object, object]:
        async with ReplPool(lean(), imports) as pool, pool.acquire() as worker:
            together = await worker.process.command(preamble + "\n\n" + statement, env=worker.header_env)
            assert isinstance(together, CommandResponse) and together.sorries
            ps = together.sorries[0].proof_state
            assert ps is not None
            same_command = await worker.process.tactic("decide", ps)
            own = await worker.process.command(preamble, env=worker.header_env)
            assert isinstance(own, CommandResponse)
            after = await worker.process.command(statement, env=own.env)
            assert isinstance(after, CommandResponse) and after.sorries[0].proof_state is not None
            return same_command, await worker.process.tactic("decide", after.sorries[0].proof_state)

    same_command, own_command = run(go())
    assert isinstance(same_command, ErrorResponse) and "unknown identifier 'double'" in same_command.message
    assert isinstance(own_command, ProofStepResponse) and own_command.proof_status == "Completed"


def test_a_preamble_definition_and_open_nat_are_in_effect_in_tactic_mode() -> None:
    result = agent_prove(FACT_DOUBLE, PREAMBLE_HEADER, "decide")
    assert result.proved and result.proof == ("decide",) and result.verdict == "verified", result
    assert result.limitations == ()


def test_the_preamble_is_elaborated_once_per_worker_and_replayed_on_a_new_one() -> None:
    imports, preamble = split_header(PREAMBLE_HEADER)

    async def go() -> tuple[object, object, int]:
        async with ReplPool(lean(workers=1), imports) as pool:
            env = ProofEnvironment(pool, Statement.parse(FACT_DOUBLE), preamble=preamble)
            root = await env.start()
            async with pool.acquire() as worker:
                first = dict(worker.preamble_envs)
                await worker.process.close()  # the worker dies: its replacement has never seen the preamble
            done = await env.run_tac(root, "decide")
            async with pool.acquire() as worker:
                return first, dict(worker.preamble_envs), env.stats.replays

    first, second, replays = run(go())
    assert list(first) == [preamble] and list(second) == [preamble]
    assert replays >= 1


# ------------------------------------------------------- repl #66: the statement's own auxiliary definitions


def test_a_step_that_needs_the_statements_match_aux_is_decided_in_command_mode() -> None:
    result = agent_prove(AUX, UNLIMITED, "simp [aux_thm.match_1]")
    assert result.proved and result.proof == ("simp [aux_thm.match_1]",) and result.verdict == "verified"
    assert any("aux_thm.match_1" in x and "repl #66" in x for x in result.limitations), result.limitations


def test_a_match_aux_limitation_is_reported_in_the_json_when_the_search_fails(tmp_path: Path) -> None:
    proc = run_cli(
        "prove", AUX, "--repl-cmd", repl_cmd("real_rules.json"), "--json", "--no-cache", "--budget", "20",
        "--model-args", "tactics=cases h : aux_thm.match_1 0",
    )
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "failed"
    assert any("aux_thm.match_1" in x and "repl #66" in x for x in out["limitations"]), out
    assert out["tactic_heartbeats"] == 200000


# ------------------------------------------------------------------------- F2: tactic-mode heartbeats


def test_a_heavy_tactic_succeeds_in_the_search_exactly_when_the_final_check_accepts_it() -> None:
    unlimited = agent_prove(HEAVY, UNLIMITED, "nlinarith [sq_nonneg (a - b)]")
    assert unlimited.proved and unlimited.verdict == "verified", unlimited
    assert any("200000" in x for x in unlimited.limitations)
    # Under 400000 the final check would reject it too (500000 needed): the search does not pretend otherwise.
    capped = agent_prove(HEAVY, "import Mathlib\n\nset_option maxHeartbeats 400000\n\n", "nlinarith [sq_nonneg (a - b)]")
    assert not capped.proved and capped.verdict is None, capped
    # Without an option the header has Lean's default, the same as tactic mode's: no re-run is tried.
    default = agent_prove(HEAVY, "import Mathlib\n\n", "nlinarith [sq_nonneg (a - b)]")
    assert not default.proved and default.limitations == ()


def test_a_heavy_intermediate_step_gives_a_real_state_that_survives_a_restart() -> None:
    imports, preamble = split_header(UNLIMITED)

    async def go() -> tuple[object, object, object]:
        async with ReplPool(lean(workers=1), imports) as pool:
            env = ProofEnvironment(pool, Statement.parse(HEAVY_STEP), preamble=preamble)
            root = await env.start()
            mid = await env.run_tac(root, "ring_nf at h ⊢")
            assert isinstance(mid, TacticState)
            async with pool.acquire() as worker:
                await worker.process.close()  # rebuilt on the new worker by the same command, not by a tactic
            done = await env.run_tac(mid, "linarith")
            return mid, done, env.stats

    mid, done, stats = run(go())
    assert isinstance(mid, TacticState) and "a * b * 2" in mid.goals[0]
    assert isinstance(done, ProofFinished)
    assert stats.command_decided == 1 and stats.replays >= 1  # type: ignore[attr-defined]


# ----------------------------------------------------------------- F5: the closing step's kernel check


def test_a_closing_step_whose_kernel_check_outlasts_the_tactic_timeout_is_rechecked_in_command_mode() -> None:
    async def go(retries: int) -> tuple[object, float]:
        async with ReplPool(lean(verify_timeout=20), "import Mathlib") as pool:
            env = ProofEnvironment(pool, Statement.parse(SLOW_KERNEL), tactic_timeout=0.5, timeout_retries=retries)
            root = await env.start()
            started = time.monotonic()
            return await env.run_tac(root, "norm_num"), time.monotonic() - started

    given_up, _ = run(go(0))
    assert given_up == ProofGivenUp("timeout")
    finished, seconds = run(go(1))
    assert isinstance(finished, ProofFinished), finished
    assert seconds < 15


def test_the_agent_keeps_a_proof_whose_kernel_check_is_slow() -> None:
    result = agent_prove(SLOW_KERNEL, UNLIMITED, "norm_num", tactic_timeout=0.5, verify_timeout=20)
    assert result.proved and result.proof == ("norm_num",), result


def test_a_step_command_mode_also_rejects_stays_an_error() -> None:
    async def go() -> object:
        async with ReplPool(lean(), "import Mathlib") as pool:
            env = ProofEnvironment(pool, Statement.parse(AUX), preamble="set_option maxHeartbeats 0\n")
            root = await env.start()
            return await env.run_tac(root, "cases h : aux_thm.match_1 0")

    result = run(go())
    assert isinstance(result, LeanError) and "2 goals" in result.error


# ------------------------------------------------------------------------------- F10: the default header


def test_the_default_header_is_exactly_the_minif2f_files_header() -> None:
    """yangky11/miniF2F-lean4 @5746b7d: every file opens with the same six lines, the last one blank; a bare
    statement and a MiniF2F problem must get the same proof-cache key."""
    from conftest import shared_benchmarks_dir, shared_file
    from prover.agent import cache_key
    from prover.config import DEFAULT_HEADER
    from prover.lean.statement import split_file
    from prover.results import Versions

    source = shared_file(shared_benchmarks_dir() / "minif2f-lean4-yangky11" / "Test" / "mathd_numbertheory_229.lean", "MiniF2F")
    header, text = split_file(source.read_text(encoding="utf-8"), "mathd_numbertheory_229")
    assert header == DEFAULT_HEADER
    versions = Versions(lean="v4.24.0", mathlib="v4.24.0")
    assert cache_key(versions, header, Statement.parse(text)) == cache_key(versions, DEFAULT_HEADER, Statement.parse(text))
