"""`prover datagen`: training data from run records (and saved search trees), deduplicated, loadable by `datasets`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.loaders import Problem
from benchmarks.records import RunRecords, TaskEntry
from prover.datagen import KINDS, annotate, export_training_data
from prover.errors import UsageError
from prover.results import ProofResult, ProofStats, ProofStatus, ProofStep, Versions

VERSIONS = Versions(prover="0.1.0", git_hash="abc1234", lean="v4.24.0", mathlib="v4.24.0", repl="v4.24.0")
HEADER = "import Mathlib\n\n"


def problem(pid: str, known_wrong: bool = False) -> Problem:
    return Problem("toy", pid, pid, f"theorem {pid} (x : ℕ) : x + 0 = x :=", HEADER, "", known_wrong=known_wrong)


PROVED = ProofResult(
    ProofStatus.PROVED,
    "",
    proof=("intro y", "simp"),
    stats=ProofStats(seconds_total=2.0),
    steps=(
        ProofStep("x : ℕ\n⊢ ∀ y, y + 0 = y", "intro y", "x y : ℕ\n⊢ y + 0 = y"),
        ProofStep("x y : ℕ\n⊢ y + 0 = y", "simp", "", "ProofFinished"),
    ),
    failed_steps=(ProofStep("x : ℕ\n⊢ ∀ y, y + 0 = y", "linarith", "", "LeanError", "linarith failed"),),
)
FAILED = ProofResult(
    ProofStatus.TIMEOUT,
    "",
    stop_reason="timeout",
    failed_steps=(
        ProofStep("⊢ False", "omega", "", "LeanError", "omega could not prove the goal"),
        ProofStep("⊢  False", "omega", "", "LeanError", "omega could not prove the goal"),  # same after normalising
        ProofStep("⊢ False", "nlinarith", "", "ProofGivenUp", "timeout after 10 s"),
    ),
)


def make_run(root: Path, model: str, tree: dict | None = None) -> Path:
    with RunRecords.create(root, model, config={"model": model, "budget_s": 60}, versions=VERSIONS) as records:
        records.register_task(
            TaskEntry(name="toy", version="1.0", dataset="example/toy", dataset_commit="c" * 40, effective=3)
        )
        records.append(problem("a"), PROVED)
        records.append(problem("b"), FAILED)
        records.append(problem("w", known_wrong=True), PROVED)
        records.write_results()
        if tree is not None:
            (records.run_dir / "trees" / "toy").mkdir(parents=True)
            (records.run_dir / "trees" / "toy" / "b.json").write_text(json.dumps(tree), encoding="utf-8")
        return records.run_dir


# A saved search tree in `search-tree/1` format (SearchTree.to_json): root proved through node 1; an error edge.
TREE = {
    "format": "search-tree/1",
    "alpha": 0.5,
    "status": "proved",
    "proof": ["constructor", "norm_num"],
    "nodes": [
        {
            "id": 0,
            "goals": ["⊢ 2 = 2 ∧ True"],
            "depth": 0,
            "logprob": 0.0,
            "priority": 0.0,
            "status": "proved",
            "pending": 0,
            "truncated": False,
        },
        {
            "id": 1,
            "goals": ["case left\n⊢ 2 = 2", "case right\n⊢ True"],
            "depth": 1,
            "logprob": -0.1,
            "priority": -0.1,
            "status": "proved",
            "pending": 0,
            "truncated": False,
        },
    ],
    "edges": [
        {
            "id": 0,
            "src": 0,
            "dst": None,
            "tactic": "ring",
            "logprob": -1.0,
            "outcome": "error",
            "seconds": 0.1,
            "error": "ring failed",
        },
        {
            "id": 1,
            "src": 0,
            "dst": 1,
            "tactic": "constructor",
            "logprob": -0.1,
            "outcome": "state",
            "seconds": 0.1,
            "error": "",
        },
        {
            "id": 2,
            "src": 1,
            "dst": None,
            "tactic": "norm_num",
            "logprob": -0.2,
            "outcome": "proved",
            "seconds": 0.1,
            "error": "",
        },
    ],
}


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_writes_the_four_kinds_with_provenance(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "runs", "org/m", TREE)
    summary = export_training_data([tmp_path / "runs"], tmp_path / "data")
    assert summary.runs == [run_dir]
    pairs = read(summary.files["state_tactic"])
    assert [(p["tactic"], p["origin"]) for p in pairs] == [
        ("intro y", "proof"),
        ("simp", "proof"),
        ("constructor", "tree"),
        ("norm_num", "tree"),
    ]
    assert pairs[0]["state_before"] == "x : ℕ\n⊢ ∀ y, y + 0 = y" and pairs[0]["state_after"] == "x y : ℕ\n⊢ y + 0 = y"
    assert (
        pairs[2]["state_after"] == "case left\n⊢ 2 = 2\n\ncase right\n⊢ True" and pairs[3]["state_after"] == "no goals"
    )

    (proof,) = read(summary.files["proofs"])  # the known-wrong problem's proof is left out
    assert proof["id"] == "a" and proof["formal_statement"] == "theorem a (x : ℕ) : x + 0 = x := by\n"
    assert proof["proof"] == "  intro y\n  simp"
    assert proof["full_text"] == HEADER + "theorem a (x : ℕ) : x + 0 = x := by\n  intro y\n  simp\n"

    (annotated,) = read(summary.files["annotated"])
    assert annotated["annotated_proof"] == "  intro y\n  /- x y : ℕ\n  ⊢ y + 0 = y -/\n  simp\n  /- no goals -/"

    negatives = read(summary.files["negatives"])
    assert {(n["tactic"], n["outcome"]) for n in negatives} == {
        ("linarith", "LeanError"),
        ("omega", "LeanError"),
        ("nlinarith", "ProofGivenUp"),
        ("ring", "error"),
    }
    assert all(n["label"] == "negative" and n["error"] for n in negatives)
    assert summary.duplicates["negatives"] == 1  # the whitespace variant of `omega` at `⊢ False`

    for kind in KINDS:
        for record in read(summary.files[kind]):
            assert record["versions"] == {
                "prover": "0.1.0",
                "git_hash": "abc1234",
                "lean": "v4.24.0",
                "mathlib": "v4.24.0",
                "repl": "v4.24.0",
                "dataset": "example/toy",
                "dataset_commit": "c" * 40,
                "task_version": "1.0",
            }
            assert record["run"]["run_dir"] == str(run_dir) and record["run"]["model"] == "org/m"


def test_two_runs_of_the_same_problems_are_deduplicated(tmp_path: Path) -> None:
    make_run(tmp_path / "runs", "m1")
    make_run(tmp_path / "runs", "m2")
    summary = export_training_data([tmp_path / "runs"], tmp_path / "data", include_known_wrong=True)
    assert len(summary.runs) == 2
    assert summary.counts == {"state_tactic": 2, "proofs": 2, "annotated": 2, "negatives": 3, "repairs": 0}
    assert summary.duplicates == {"state_tactic": 6, "proofs": 2, "annotated": 2, "negatives": 7, "repairs": 0}


def test_output_loads_with_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    make_run(tmp_path / "runs", "org/m", TREE)
    summary = export_training_data([tmp_path / "runs"], tmp_path / "data")
    for kind in (k for k in KINDS if summary.counts[k]):
        ds = datasets.load_dataset(
            "json", data_files=str(summary.files[kind]), split="train", cache_dir=str(tmp_path / "hf")
        )
        assert len(ds) == summary.counts[kind]
        assert ds[0]["versions"]["lean"] == "v4.24.0"
    pairs = datasets.load_dataset(
        "json", data_files=str(summary.files["state_tactic"]), split="train", cache_dir=str(tmp_path / "hf")
    )
    assert {"theorem", "state_before", "tactic", "state_after"} <= set(pairs.column_names)


def test_real_search_tree_exports(tmp_path: Path) -> None:
    """A tree written by search.tree itself (skipped until search/ provides it)."""
    testing = pytest.importorskip("search.testing")
    search = pytest.importorskip("search")
    import asyncio

    space = testing.chain_space(2)
    env, policy = testing.SyntheticEnv(space), testing.ScriptedPolicy(space)
    result = asyncio.run(search.search(env, policy, env.root_state(), search.SearchConfig(budget_s=5)))
    assert result.tree is not None
    make_run(tmp_path / "runs", "m", result.tree.to_json())
    summary = export_training_data([tmp_path / "runs"], tmp_path / "data")
    tree_pairs = [p for p in read(summary.files["state_tactic"]) if p["origin"] == "tree"]
    assert [p["tactic"] for p in tree_pairs] == list(result.proof)


def test_annotate_and_bad_inputs(tmp_path: Path) -> None:
    assert annotate([{"tactic": "t", "state_after": "⊢ a -/ b"}]) == ["t", "/- ⊢ a - / b -/"]
    with pytest.raises(UsageError, match="no such"):
        export_training_data([tmp_path / "missing"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no run records"):
        export_training_data([tmp_path / "empty"], tmp_path / "out")
