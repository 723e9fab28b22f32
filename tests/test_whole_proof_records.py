"""Whole-proof samples in sweep records: pass@k (unbiased), tokens, route shares, report rows, repair triples."""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import pytest

from benchmarks.loaders import Problem
from benchmarks.pass_at_k import ks_up_to, pass_at_k, whole_proof_metrics
from benchmarks.records import RunRecords, TaskEntry, load_run
from benchmarks.report import markdown_table
from prover.datagen import export_training_data
from prover.results import ProofResult, ProofStatus

HEADER = "import Mathlib\n"


def test_pass_at_k_is_the_unbiased_estimator():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 4) == pytest.approx(1 - comb(7, 4) / comb(10, 4))
    assert pass_at_k(4, 2, 3) == 1.0  # fewer wrong samples than k: some draw of k always holds a right one
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 8)
    assert ks_up_to(1) == [1] and ks_up_to(32) == [1, 8, 32] and ks_up_to(200) == [1, 8, 32, 128]


def sample(i: int, round_: int, outcome: str, parent: int = -1, body: str = "", errors=()) -> dict:
    return {"index": i, "round": round_, "parent": parent, "outcome": outcome, "reason": "", "tokens": 100,
            "truncated": False, "body": body, "errors": list(errors)}


def result(route: str, samples: list[dict]) -> ProofResult:
    status = ProofStatus.PROVED if route else ProofStatus.FAILED
    proof = ("simp",) if route else ()
    return ProofResult(status, "", proof=proof, route=route, samples=tuple(samples), policies={"whole": {"samples": len(samples)}})


def make_run(root: Path) -> Path:
    with RunRecords.create(root, "goedel", config={"model": "goedel"}, versions={}) as records:
        records.register_task(TaskEntry(name="toy", version="1.0", effective=2))
        a = [sample(0, 0, "failed", body="norm_num", errors=["3:2: error: linarith failed"]),
             *[sample(i, 0, "failed") for i in range(1, 8)], sample(8, 1, "passed", parent=0, body="simp")]
        b = [sample(i, 0, "passed" if i < 2 else "failed") for i in range(8)]
        records.append(Problem("toy", "a", "a", "theorem a : True :=", HEADER, ""), result("repaired", a))
        records.append(Problem("toy", "b", "b", "theorem b : True :=", HEADER, ""), result("whole", b))
        records.write_results()
        return records.run_dir


def test_sweep_records_give_pass_at_k_tokens_and_route_shares(tmp_path: Path):
    run_dir = make_run(tmp_path)
    results, samples = load_run(run_dir)
    metrics = whole_proof_metrics(samples["toy"])
    # a: 0 of 8 first-round samples right; b: 2 of 8
    assert metrics["pass_at_k"][1] == pytest.approx((0 + 2 / 8) / 2)
    assert metrics["pass_at_k"][8] == pytest.approx((0 + 1) / 2)
    assert metrics["tokens_per_problem"] == pytest.approx((900 + 800) / 2)
    assert metrics["route_share"] == {"whole": 0.5, "repaired": 0.5}
    assert json.loads(json.dumps(results))["results"]["toy"]["whole_proofs"]["pass_at_k"]["8"] == pytest.approx(0.5)
    table = markdown_table(results, samples)
    assert "whole pass@8" in table and "proofs by repaired" in table and "tokens / problem" in table


def test_datagen_exports_repair_triples(tmp_path: Path):
    make_run(tmp_path / "runs")
    summary = export_training_data([tmp_path / "runs"], tmp_path / "data")
    (triple,) = [json.loads(line) for line in summary.files["repairs"].read_text(encoding="utf-8").splitlines()]
    assert (triple["failed_proof"], triple["repaired_proof"]) == ("norm_num", "simp")
    assert triple["errors"] == ["3:2: error: linarith failed"] and triple["round"] == 1
