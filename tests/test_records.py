"""Run records: lm-eval layout, atomic appends, torn lines, resume, and a writer SIGKILLed at random points."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.loaders import Problem
from benchmarks.records import (
    RunRecords,
    TaskEntry,
    append_jsonl,
    binomial_stderr,
    cut_torn_tail,
    load_run,
    read_jsonl,
    sample_record,
    sanitize_model_name,
    task_metrics,
)
from prover.errors import UsageError
from prover.results import ProofResult, ProofStats, ProofStatus, ProofStep, Versions

ROOT = Path(__file__).resolve().parent.parent


def problem(i: int, task: str = "toy", known_wrong: bool = False) -> Problem:
    return Problem(
        task=task,
        id=f"p{i}",
        name=f"p{i}",
        statement=f"theorem p{i} : {i} = {i} :=",
        header="import Mathlib\n\n",
        declaration=f"theorem p{i} : {i} = {i} := by sorry",
        known_wrong=known_wrong,
    )


def result(status: ProofStatus = ProofStatus.PROVED, seconds: float = 1.0) -> ProofResult:
    proved = status is ProofStatus.PROVED
    return ProofResult(
        status=status,
        statement="",
        proof=("rfl",) if proved else (),
        verdict="verified" if proved else None,
        stop_reason="proved" if proved else "exhausted",
        stats=ProofStats(expansions=2, nodes=5, seconds_total=seconds, seconds_model=0.4, seconds_lean=0.5),
        steps=(ProofStep("⊢ 1 = 1", "rfl", "no goals", "ProofFinished"),) if proved else (),
        failed_steps=(ProofStep("⊢ 1 = 1", "simp", "", "LeanError", "simp made no progress"),),
    )


def test_model_names_are_sanitized_like_lm_eval() -> None:
    assert sanitize_model_name("deepseek-ai/DeepSeek-Prover-V2-7B") == "deepseek-ai__DeepSeek-Prover-V2-7B"
    assert sanitize_model_name("/models/local:ckpt") == "models__local__ckpt"
    assert sanitize_model_name("portfolio") == "portfolio"


def test_stderr_is_lm_evals_binomial_formula() -> None:
    assert binomial_stderr(1, 1) is None
    assert binomial_stderr(5, 10) == pytest.approx(math.sqrt(0.25 / 9))
    assert binomial_stderr(0, 10) == 0.0


def test_task_metrics_with_and_without_known_wrong() -> None:
    samples = [
        sample_record(problem(i, known_wrong=i == 0), result(ProofStatus.PROVED if i < 2 else ProofStatus.FAILED))
        for i in range(4)
    ]
    m = task_metrics(samples)
    assert (m["solved"], m["n"], m["pass_rate"]) == (2, 4, 0.5)
    assert (m["solved_excl_known_wrong"], m["n_excl_known_wrong"]) == (1, 3)
    assert m["pass_rate_excl_known_wrong"] == pytest.approx(1 / 3)
    assert m["statuses"] == {"proved": 2, "failed": 2} and m["mean_seconds"] == 1.0


def test_sample_line_carries_what_contract_6_lists() -> None:
    record = sample_record(problem(3), result(), doc_id=3)
    assert record["id"] == "p3" and record["doc_id"] == 3 and record["status"] == "proved"
    assert len(record["statement_sha256"]) == 64 and record["statement_sha256"] == problem(3).sha256
    assert record["proof"] == ["rfl"] and record["nodes"] == 5 and record["expansions"] == 2
    assert set(record["seconds"]) == {"total", "model", "lean", "search", "verify"}
    assert record["steps"][0]["tactic"] == "rfl" and record["failed_steps"][0]["error"] == "simp made no progress"
    assert "steps" not in sample_record(problem(3), result(), include_steps=False)


def test_torn_last_line_is_ignored_and_cut_before_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    append_jsonl(path, {"id": "a"})
    append_jsonl(path, {"id": "b"})
    with path.open("ab") as f:
        f.write(b'{"id": "c", "sta')  # a kill mid-write
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b"]
    assert cut_torn_tail(path) == len(b'{"id": "c", "sta')
    append_jsonl(path, {"id": "c"})
    assert [r["id"] for r in read_jsonl(path)] == ["a", "b", "c"]
    assert path.read_bytes().count(b"\n") == 3
    path.write_bytes(b'{"id": "only torn')
    assert read_jsonl(path) == [] and cut_torn_tail(path) > 0 and path.read_bytes() == b""


def test_run_layout_results_and_resume(tmp_path: Path) -> None:
    config = {"budget_s": 600, "width": 8, "alpha": 0.5, "seeds": (0, 1), "model": "org/m", "limit": 3}
    versions = Versions(prover="0.1.0", git_hash="abc", lean="v4.24.0", mathlib="v4.24.0", repl="v4.24.0")
    records = RunRecords.create(tmp_path, "org/m", config=config, versions=versions)
    run_dir = tmp_path / "org__m"
    assert records.run_dir == run_dir and records.results_path.is_file()
    entry = TaskEntry(
        name="toy", version="1.0", dataset="example/toy", dataset_commit="c" * 40, original=10, effective=3
    )
    records.register_task(entry)
    assert records.append(problem(0), result())
    assert records.append(problem(1), result(ProofStatus.FAILED))
    assert not records.append(problem(1), result())  # never twice
    records.write_results()

    with pytest.raises(UsageError, match="another sweep"):
        RunRecords.resume(run_dir)
    records.close()

    with pytest.raises(UsageError, match="other settings"):
        RunRecords.resume(run_dir, config={**config, "budget_s": 60})
    resumed = RunRecords.resume(run_dir, config={**config, "limit": None})  # limit may change
    assert resumed.stamp == records.stamp and resumed.done_ids("toy") == {"p0", "p1"}
    assert resumed.tasks["toy"].effective == 3 and resumed.config["limit"] is None
    resumed.append(problem(2), result(ProofStatus.ERROR))
    assert resumed.done_ids("toy", retry_errors=True) == {"p0", "p1"}
    assert resumed.append(problem(2), result())  # a retry may replace an error line
    resumed.write_results()
    resumed.close()

    files = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("."))
    assert files == [f"results_{records.stamp}.json", f"samples_toy_{records.stamp}.jsonl"]
    results, samples = load_run(run_dir)
    assert len(samples["toy"]) == 3
    toy = results["results"]["toy"]
    assert (toy["solved"], toy["n"]) == (2, 3) and toy["pass_rate_stderr"] == pytest.approx(binomial_stderr(2, 3))
    assert results["n-samples"]["toy"] == {"original": 10, "effective": 3}
    assert results["config"]["budget_s"] == 600 and results["versions"]["lean"] == "v4.24.0"
    assert results["versions"]["tasks"]["toy"]["dataset_commit"] == "c" * 40
    assert results["complete"] is True and results["total_evaluation_time_seconds"] >= 0
    assert RunRecords.open(tmp_path, "org/m", resume=True).stamp == records.stamp


def test_resume_of_an_empty_dir_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no run to resume"):
        RunRecords.resume(tmp_path)


_CHILD = r"""
import asyncio, random, sys
from benchmarks.loaders import Problem
from benchmarks.records import RunRecords
from benchmarks.sweep import run_sweep
from prover.results import ProofResult, ProofStats, ProofStatus, ProofStep

out, n = sys.argv[1], int(sys.argv[2])
problems = [Problem("kill", f"p{i}", f"p{i}", f"theorem p{i} : True :=", "", "") for i in range(n)]
big = "x" * 200_000  # large lines make a kill inside a write likely

async def prove(p):
    await asyncio.sleep(random.uniform(0.005, 0.02))
    return ProofResult(ProofStatus.PROVED, p.statement, proof=("trivial",),
                       steps=(ProofStep(big, "trivial", "no goals", "ProofFinished"),))

with RunRecords.open(out, "m", resume=True, config={"budget_s": 1}) as records:
    asyncio.run(run_sweep(problems, prove, workers=4, records=records))
"""


def test_sigkill_at_random_points_never_loses_or_duplicates_a_theorem(tmp_path: Path) -> None:
    n, line = 120, 200_000
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(1234)
    samples = tmp_path / "m"
    kills = torn = 0

    def size() -> int:
        return sum(p.stat().st_size for p in samples.glob("samples_*.jsonl"))

    for _ in range(60):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path), str(n)], env=env, cwd=ROOT)
        target = size() + rng.randint(1, 20) * line  # kill once a few more lines are (being) written
        deadline = time.monotonic() + 30
        while child.poll() is None and size() < target and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.01))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
        (path,) = samples.glob("samples_*.jsonl")
        torn += not path.read_bytes().endswith(b"\n")
        if len(read_jsonl(path)) == n:
            break
    assert kills >= 3, "the writer was hardly ever killed mid-run; the test proved little"
    # One more session completes whatever is left.
    subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), str(n)], env=env, cwd=ROOT, check=True)
    data = path.read_bytes()
    assert data.endswith(b"\n"), f"a torn tail was left (kills: {kills}, torn tails seen: {torn})"
    ids = [json.loads(raw)["id"] for raw in data.split(b"\n") if raw]
    assert len(ids) == len(set(ids)) == n
    assert set(ids) == {f"p{i}" for i in range(n)}
    results, _ = load_run(samples)
    assert results["complete"] is True and results["results"]["kill"]["n"] == n
