"""`prover iterate`: two rounds end to end on the fake REPL with a tiny random Llama, killed in a step and resumed.

Round 1 sweeps with the tiny model (which proves nothing: its tactics are rejected, and become negatives); its data
also holds the portfolio sweep given as --seed-runs, so round 1 trains; round 2 sweeps with round 1's model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl")

import prover.training.iterate as iterate_mod  # noqa: E402
from prover.cli import main  # noqa: E402
from tests.test_cli_bench import fake_cmd  # noqa: E402
from tests.tiny_models import causal_dir  # noqa: E402, F401


def iterate_args(run_dir: Path, model: Path, seed_runs: Path) -> list[str]:
    return [
        "iterate", "--tasks", "minif2f-test", "--limit", "1", "--model", str(model), "--run-dir", str(run_dir),
        "--rounds", "2", "--seed-runs", str(seed_runs), "--repl-cmd", fake_cmd(), "--budget", "0.5", "--width", "2",
        "--prompt-format", "bfs-prover", "--lora", "--max-steps", "2", "--batch-size", "4", "--lr", "1e-2",
        "--easy-expansions", "1", "--ppl-band", "0,1e9",
    ]


def sample_lines(round_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in sorted((round_dir / "records").rglob("samples_*.jsonl"))
            for line in p.read_text().splitlines()]


def test_two_rounds_resume_after_a_kill_in_the_train_step(tmp_path: Path, causal_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    seed = tmp_path / "seed"
    assert main(["bench", "run", "--tasks", "minif2f-test", "--limit", "2", "--output-path", str(seed),
                 "--repl-cmd", fake_cmd(), "--no-cache", "--budget", "30", "--log-samples"]) == 0
    run_dir = tmp_path / "loop"
    real_train = iterate_mod.train
    calls: list[str] = []

    def killed(settings: Any) -> Any:
        calls.append(str(settings.output))
        raise KeyboardInterrupt  # the process dies while round 1 trains

    monkeypatch.setattr(iterate_mod, "train", killed)
    assert main(iterate_args(run_dir, causal_dir, seed)) == 130
    r1 = run_dir / "round_1"
    assert sorted(p.stem for p in (r1 / "done").iterdir()) == ["datagen", "filter", "sweep"]
    first_sweep = sample_lines(r1)
    filter_marker = (r1 / "done" / "filter.json").read_text()
    assert len(first_sweep) == 1 and not (r1 / "model").exists()
    assert not [p for p in r1.iterdir() if p.name.startswith(".")]
    (r1 / ".model.tmp-99999").mkdir()  # what a SIGKILL inside trainer.train() leaves behind
    (r1 / ".model.tmp-99999" / "adapter_model.safetensors").write_text("half")

    def counted(settings: Any) -> Any:
        calls.append(str(settings.output))
        return real_train(settings)

    monkeypatch.setattr(iterate_mod, "train", counted)
    capsys.readouterr()
    assert main(iterate_args(run_dir, causal_dir, seed)) == 0
    out = capsys.readouterr().out
    # Resumed: round 1's sweep, datagen and filter were not redone; training ran once per round.
    assert sample_lines(r1) == first_sweep and (r1 / "done" / "filter.json").read_text() == filter_marker
    assert calls == [str(r1 / "model"), str(r1 / "model"), str(run_dir / "round_2" / "model")]
    for k in (1, 2):
        rk = run_dir / f"round_{k}"
        assert sorted(p.stem for p in (rk / "done").iterdir()) == ["datagen", "filter", "sweep", "train"]
        assert (rk / "model" / "prover_training.json").is_file() and (rk / "data" / "state_tactic.jsonl").is_file()
        assert json.loads((rk / "scores.json").read_text())["total"] == 1
        assert not [p for p in rk.iterdir() if p.name.startswith(".")]
    # Round 2 was proved with round 1's model, whose trained prompt format it picked up.
    assert json.loads((run_dir / "round_2" / "scores.json").read_text())["model"] == str(r1 / "model")
    results = next((run_dir / "round_2" / "records").rglob("results_*.json"))
    assert json.loads(results.read_text())["config"]["model"].endswith("model")
    info = json.loads((run_dir / "round_2" / "model" / "prover_training.json").read_text())
    assert info["base"] == str(r1 / "model") and info["prompt_format"] == "bfs-prover"
    # A LoRA on top of round 1's adapter is saved merged: an adapter could not name its (merged) base.
    assert info["merged"] and (r1 / "model" / "adapter_config.json").is_file()
    assert not (run_dir / "round_2" / "model" / "adapter_config.json").exists()
    # The filter kept the seed run's proved steps (the tiny model proves nothing cheaply) and ran the perplexity band.
    kept = json.loads((r1 / "done" / "filter.json").read_text())
    assert kept["state_tactic"] >= 1 and "ppl_dropped" in kept
    assert json.loads((run_dir / "final" / "scores.json").read_text())["model"] == str(run_dir / "round_2" / "model")
    table = out.strip().splitlines()
    assert table[0].startswith("|round|") and [line.split("|")[1] for line in table[2:]] == ["round_1", "round_2", "final"]
    assert (run_dir / "summary.md").read_text().strip() == out.strip()
