"""The `lean` tier for the whole agent: `prover prove` and a three-problem MiniF2F sweep on the REAL Lean REPL.

Runs where `lake` and a built project exist (`make lean`); skipped elsewhere with the reason (tests/conftest.py).
Uses the default REPL command and the portfolio generator, as a user without a model would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shared_file
from tests.test_cli import ROOT, run_cli

pytestmark = pytest.mark.lean

MINIF2F_TEST = ROOT.parent / "shared" / "benchmarks" / "minif2f-lean4-yangky11" / "Test"


def test_prove_closes_a_minif2f_problem_with_the_portfolio(tmp_path: Path) -> None:
    source = shared_file(MINIF2F_TEST / "mathd_numbertheory_229.lean", "MiniF2F")  # (5^30) % 7 = 1: norm_num closes it
    proc = run_cli(
        "prove", "--file", str(source), "--theorem", "mathd_numbertheory_229", "--json", "--budget", "300",
        "--cache", str(tmp_path / "proofs.sqlite"), timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "proved" and out["verdict"] == "verified"
    assert out["versions"]["lean"] == "v4.24.0"


def test_a_three_problem_minif2f_sweep_records_every_problem(tmp_path: Path) -> None:
    shared_file(MINIF2F_TEST, "MiniF2F")
    proc = run_cli(
        "bench", "run", "--tasks", "minif2f-test", "--limit", "3", "--output-path", str(tmp_path),
        "--budget", "120", "--workers", "1", "--no-cache", "--log-samples", timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for p in (tmp_path / "portfolio").glob("samples_*.jsonl") for x in p.read_text().splitlines()]
    assert len(lines) == 3 and len({x["id"] for x in lines}) == 3
    assert all(x["status"] in {"proved", "failed", "timeout"} for x in lines), [x.get("error") for x in lines]
    assert all(x["verdict"] == "verified" for x in lines if x["status"] == "proved")
