"""`prover bench`, `prover datagen` and `prover cache` end to end, against the fake REPL program (no Lean).

The problems are the first four of the real MiniF2F test split (../shared/benchmarks); the fake REPL plays a
scripted proof world for them (tests/scenarios/bench_minif2f.json): three are provable by portfolio tactics, one is not.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli import FAKE, ROOT, SCENARIOS, run_cli

SCENARIO = SCENARIOS / "bench_minif2f.json"
FIRST_FOUR = {"aime_1983_p1", "aime_1983_p2", "aime_1983_p3", "aime_1984_p1"}
PROVABLE = {"aime_1983_p1", "aime_1983_p2", "aime_1984_p1"}


def fake_cmd(*extra: str) -> str:
    return " ".join([sys.executable, str(FAKE), "--scenario", str(SCENARIO), *extra])


def bench_args(out: Path, *extra: str) -> list[str]:
    return [
        "bench", "run", "--tasks", "minif2f-test", "--limit", "4", "--output-path", str(out),
        "--repl-cmd", fake_cmd(), "--no-cache", "--budget", "30", "--workers", "2", "--log-samples", *extra,
    ]


def samples_of(run_dir: Path) -> list[dict]:
    lines: list[dict] = []
    for path in sorted(run_dir.glob("samples_minif2f-test_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a torn last line of a killed writer
    return lines


def test_bench_run_writes_lm_eval_style_records(tmp_path: Path) -> None:
    proc = run_cli(*bench_args(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "|minif2f-test|" in proc.stdout and "0.7500" in proc.stdout
    run_dir = tmp_path / "portfolio"
    results = json.loads(next(run_dir.glob("results_*.json")).read_text(encoding="utf-8"))
    assert results["config"]["budget_s"] == 30 and results["config"]["samples"] == 8
    assert results["config"]["alpha"] == 0.5 and results["config"]["seeds"] == [0]
    assert results["n-samples"]["minif2f-test"]["effective"] == 4
    assert {"lean", "mathlib", "repl", "git_hash"} <= results["versions"].keys()
    samples = samples_of(run_dir)
    assert {s["id"] for s in samples} == FIRST_FOUR and len(samples) == 4
    proved = {s["id"] for s in samples if s["status"] == "proved"}
    assert proved == PROVABLE
    assert all(s["verdict"] == "verified" for s in samples if s["status"] == "proved")
    p1 = next(s for s in samples if s["id"] == "aime_1983_p1")
    assert p1["proof"] == ["norm_num", "linarith"]


def test_a_sweep_killed_at_random_points_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    rng = random.Random(7)
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    for round_index in range(3):
        args = bench_args(tmp_path, "--workers", "1") + (["--resume"] if round_index else [])
        proc = subprocess.Popen(
            [sys.executable, "-m", "prover.cli", *args], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        time.sleep(rng.uniform(0.8, 2.5))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    final = run_cli(*bench_args(tmp_path, "--resume"))
    assert final.returncode == 0, final.stderr
    samples = samples_of(tmp_path / "portfolio")
    ids = [s["id"] for s in samples]
    assert sorted(ids) == sorted(FIRST_FOUR), ids  # each theorem exactly once
    assert {s["id"] for s in samples if s["status"] == "proved"} == PROVABLE


def test_resume_with_retry_errors_proves_the_error_lines_again(tmp_path: Path) -> None:
    assert run_cli(*bench_args(tmp_path)).returncode == 0
    samples_path = next((tmp_path / "portfolio").glob("samples_minif2f-test_*.jsonl"))
    first = next(json.loads(x) for x in samples_path.read_text(encoding="utf-8").splitlines() if '"aime_1983_p1"' in x)
    with samples_path.open("a", encoding="utf-8") as f:  # what a REPL crash on that problem would have left
        f.write(json.dumps({**first, "status": "error", "proof": None, "error": "ReplCrashError: exit 137"}) + "\n")
    assert run_cli(*bench_args(tmp_path, "--resume")).returncode == 0
    assert {s["id"]: s["status"] for s in samples_of(tmp_path / "portfolio")}["aime_1983_p1"] == "error"
    retried = run_cli(*bench_args(tmp_path, "--resume", "--retry-errors"))
    assert retried.returncode == 0, retried.stderr
    lines = samples_of(tmp_path / "portfolio")
    latest = {s["id"]: s["status"] for s in lines}
    assert latest["aime_1983_p1"] == "proved" and len(lines) == 6  # four, the error line, and its retry


def test_competition_mode_stays_within_the_total_budget(tmp_path: Path) -> None:
    proc = run_cli(*bench_args(tmp_path, "--total-budget", "20s"))
    assert proc.returncode == 0, proc.stderr
    samples = samples_of(tmp_path / "portfolio")
    assert {s["id"] for s in samples} == FIRST_FOUR
    assert sum(s["seconds"]["total"] for s in samples) <= 20 * 1.1


def test_report_and_datagen_from_a_run(tmp_path: Path) -> None:
    assert run_cli(*bench_args(tmp_path / "runs")).returncode == 0
    run_dir = tmp_path / "runs" / "portfolio"
    report = run_cli("bench", "report", str(run_dir))
    assert report.returncode == 0, report.stderr
    assert "|minif2f-test|" in report.stdout
    html = (run_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert "aime_1983_p3" in html and "linarith" in html
    data = run_cli("datagen", str(run_dir), "--output", str(tmp_path / "data"))
    assert data.returncode == 0, data.stderr
    pairs = [json.loads(x) for x in (tmp_path / "data" / "state_tactic.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {"theorem", "state_before", "tactic", "state_after"} <= pairs[0].keys()
    assert any(p["tactic"] == "linarith" and p["state_after"] in {"", "no goals"} for p in pairs)
    negatives = (tmp_path / "data" / "negatives.jsonl").read_text(encoding="utf-8")
    assert "simp made no progress" in negatives
    # --log-samples also keeps every search graph for datagen.
    tree = json.loads((run_dir / "trees" / "minif2f-test" / "aime_1983_p1.json").read_text(encoding="utf-8"))
    assert tree["format"] == "search-tree/1" and tree["proof"] == ["norm_num", "linarith"]


def test_cache_tools_roundtrip(tmp_path: Path) -> None:
    cache = tmp_path / "proofs.sqlite"
    base = ["--repl-cmd", fake_cmd(), "--json", "--budget", "30", "--cache", str(cache)]
    statement = (ROOT.parent / "shared/benchmarks/minif2f-lean4-yangky11/Test/aime_1983_p2.lean").read_text(encoding="utf-8")
    header, _, decl = statement.partition("theorem ")
    proved = run_cli("prove", "theorem " + decl, "--header", header, *base)
    assert proved.returncode == 0, proved.stderr
    stats = run_cli("cache", "stats", "--cache", str(cache))
    assert json.loads(stats.stdout)["proofs"] == 1
    export = tmp_path / "export.jsonl"
    assert run_cli("cache", "export", str(export), "--cache", str(cache)).returncode == 0
    assert json.loads(export.read_text(encoding="utf-8").splitlines()[0])["proof"] == ["nlinarith"]
    other = tmp_path / "other.sqlite"
    imported = run_cli("cache", "import", str(export), "--cache", str(other), "--repl-cmd", fake_cmd())
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {"stored": 1, "rejected": 0}
    # An export from another Lean: checked with this one, stored under this one's versions, then served.
    older = tmp_path / "older.jsonl"
    entry = json.loads(export.read_text(encoding="utf-8").splitlines()[0])
    entry.pop("key")
    older.write_text(json.dumps({**entry, "lean_version": "v4.9.0", "mathlib_rev": "v4.9.0"}) + "\n", encoding="utf-8")
    third = tmp_path / "third.sqlite"
    assert run_cli("cache", "import", str(older), "--cache", str(third), "--repl-cmd", fake_cmd()).returncode == 0
    served = run_cli("prove", "theorem " + decl, "--header", header, *base[:-1], str(third))
    assert served.returncode == 0 and json.loads(served.stdout)["cached"] is True, served.stderr
    # A Lean in which the proof no longer checks: `verify` drops it.
    broken = tmp_path / "broken.json"
    scenario = json.loads(SCENARIO.read_text(encoding="utf-8"))
    scenario["verify_fails"] = ["aime_1983_p2"]
    broken.write_text(json.dumps(scenario), encoding="utf-8")
    verified = run_cli("cache", "verify", "--cache", str(other), "--repl-cmd", f"{sys.executable} {FAKE} --scenario {broken}")
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout) == {"checked": 1, "dropped": 1, "could_not_recheck": 0}
    assert json.loads(run_cli("cache", "stats", "--cache", str(other)).stdout)["proofs"] == 0


@pytest.mark.ray
def test_bench_run_on_a_local_ray_cluster(tmp_path: Path) -> None:
    proc = run_cli(*bench_args(tmp_path, "--ray-address", "local"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    samples = samples_of(tmp_path / "portfolio")
    assert sorted(s["id"] for s in samples) == sorted(FIRST_FOUR)
    assert {s["id"] for s in samples if s["status"] == "proved"} == PROVABLE
    assert (tmp_path / "portfolio" / "trees" / "minif2f-test" / "aime_1983_p1.json").is_file()


def test_report_on_a_corrupt_results_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "results_2026-11-22T10-00-00.000000.json").write_text('{"config": {', encoding="utf-8")
    proc = run_cli("bench", "report", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "not JSON" in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [("--total-budget", "nan"), ("--total-budget", "inf"), ("--total-budget", "-1h"), ("--total-budget", ""),
     ("--limit", "nan"),
     ("--limit", "1.5"), ("--limit", "0")],
)
def test_bad_budget_or_limit_is_refused_before_a_run_is_created(option: str, value: str, tmp_path: Path) -> None:
    proc = run_cli(*bench_args(tmp_path, option, value))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("prover: error:") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "portfolio").exists()


@pytest.mark.parametrize(
    ("generator", "model", "recorded"),
    [(None, None, "portfolio"), (None, "portfolio", "portfolio"), (None, "openai", "openai"),
     (None, "some/weights", "hf"), ("vllm", "some/weights", "vllm")],
)
def test_results_record_the_generator_that_is_built(generator: str | None, model: str | None, recorded: str) -> None:
    from prover.agent import AgentConfig, ModelConfig
    from prover.bench import BenchSettings

    settings = BenchSettings(tasks=("minif2f-test",), agent=AgentConfig(model=ModelConfig(generator, model)), output_path=Path("runs"))
    assert settings.run_config()["generator"] == recorded
