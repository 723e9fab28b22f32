"""The `lean` tier for what the REAL REPL v4.24.0 does with headers, heartbeats and set-up (notes/real-repl-behaviour.md
F1, F2, F3). Runs where `lake` and a built project exist (`make lean`); skipped elsewhere with the reason
(tests/conftest.py). The default-tier twins, against the fake REPL, are in tests/test_repl_rules.py and
tests/test_doctor.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from prover.agent import Agent, AgentConfig, ModelConfig
from prover.config import LeanConfig, elan_bin_dir, find_lean_program
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.statement import Statement, split_header
from prover.lean.verifier import verify_proof
from prover.results import ProofResult
from search import SearchConfig
from search.outcomes import LeanError
from tests.test_cli import ROOT

pytestmark = pytest.mark.lean

T = TypeVar("T")
CONFIG = LeanConfig(tactic_timeout=120.0, command_timeout=600.0, verify_timeout=600.0)
UNLIMITED = "import Mathlib\n\nset_option maxHeartbeats 0\n\n"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def agent_prove(statement: str, header: str, tactic: str, budget: float = 900) -> ProofResult:
    config = AgentConfig(
        lean=CONFIG,
        search=SearchConfig(budget_s=budget, tactic_timeout=CONFIG.tactic_timeout),
        model=ModelConfig(generator="portfolio", options={"tactics": tactic}),
    )

    async def go() -> ProofResult:
        async with Agent(config) as agent:
            return await agent.prove(statement, header=header)

    return run(go())


# ------------------------------------------------------------- F1: a preamble `def` and `open Nat`, live


def test_a_preamble_def_and_open_nat_are_usable_by_a_tactic_through_the_agent() -> None:
    """`double` exists only in the preamble and `(3)!` parses only with `open Nat` active (Mathlib's scoped
    `notation:10000 n "!" => Nat.factorial n`); with the preamble in the statement's command, tactic mode has
    neither (REPL/Main.lean:312) and this tactic is an error."""
    header = "import Mathlib\n\nopen Nat\n\ndef double (n : ℕ) : ℕ := 2 * n\n\n"
    result = agent_prove("theorem fact_double : double 3 = 3 ! := by sorry", header, "show double 3 = (3)! ; decide")
    assert result.proved and result.verdict == "verified", result
    assert result.proof == ("show double 3 = (3)! ; decide",)


# ------------------------------------------------------------------------ F2: heartbeats, live

# ∑ i in range N, i by unfolding: the cost grows with N; the test uses the first N that runs out of tactic mode's
# 200000 heartbeats, so it does not depend on guessing Lean's exact cost.
SUM_SIZES = (50, 100, 200, 400, 800)


def _sum_statement(n: int) -> str:
    return f"theorem sum_to_{n} : ∑ i ∈ Finset.range {n}, i = {n * (n - 1) // 2} := by sorry"


SUM_TACTIC = "norm_num [Finset.sum_range_succ]"


async def _tactic_mode_only(statement: str) -> object:
    imports, preamble = split_header(UNLIMITED)
    async with ReplPool(CONFIG, imports) as pool:
        env = ProofEnvironment(pool, Statement.parse(statement), preamble=preamble, command_steps=0)
        root = await env.start()
        return await env.run_tac(root, SUM_TACTIC)


def test_under_max_heartbeats_0_a_heavy_tactic_succeeds_in_the_search_exactly_when_the_final_check_accepts() -> None:
    for n in SUM_SIZES:
        raw = run(_tactic_mode_only(_sum_statement(n)))
        if isinstance(raw, LeanError) and "maximum number of heartbeats (200000)" in raw.error:
            break
    else:
        pytest.fail(f"{SUM_TACTIC!r} never ran out of 200000 heartbeats in tactic mode up to N={SUM_SIZES[-1]}: "
                    "either the REPL now honours the header's maxHeartbeats (update prover.config."
                    "TACTIC_MODE_HEARTBEATS and the README), or pick a heavier tactic")
    statement = _sum_statement(n)
    searched = agent_prove(statement, UNLIMITED, SUM_TACTIC)
    checked = run(verify_proof(Statement.parse(statement), [SUM_TACTIC], header=UNLIMITED, config=CONFIG))
    assert searched.proved == checked.accepted, (searched, checked)
    assert checked.accepted, checked  # unbounded in command mode: the proof is good
    assert any("200000" in x for x in searched.limitations)


# ------------------------------------------------------------------- F3: `make lean`, then `prover doctor`


def test_make_lean_then_doctor_in_a_shell_where_elan_is_not_on_path() -> None:
    """`make lean` installs elan with --no-modify-path: in the user's next shell `lake` is in ~/.elan/bin only.
    Run it (idempotent: quick where everything is built), then `prover doctor` with elan's folder off PATH."""
    if shutil.which("curl") is None and find_lean_program("elan") is None:
        pytest.skip("neither curl nor elan: `make lean` cannot run here")
    make = subprocess.run(["make", "lean"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert make.returncode == 0, make.stdout[-2000:] + make.stderr[-2000:]
    elan_bin = str(elan_bin_dir())
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p.rstrip("/") != elan_bin.rstrip("/"))
    if shutil.which("lake", path=path) is not None:
        pytest.skip(f"lake is on PATH outside {elan_bin} here; this test needs the elan-only layout")
    env = dict(os.environ, PATH=path, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "prover.cli", "doctor"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "make lean" not in proc.stdout and "export PATH=" in proc.stdout
