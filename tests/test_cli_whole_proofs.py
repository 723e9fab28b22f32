"""`prover prove` with a whole-proof model served over /v1/chat/completions, against the fake REPL."""

from __future__ import annotations

import json

import pytest

from prover.cli.options import proof_config
from prover.errors import UsageError

from tests.test_chat_models import ChatServer, chat_server  # noqa: F401  (fixture)
from tests.test_cli import repl_cmd, run_cli

STATEMENT = "theorem wp_resume (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"
WRONG = "Plan.\n```lean4\ntheorem wp_resume (a b : ℕ) (h : a = b) : b + 0 = a := by\n  rw [Nat.add_zero]\n  exact h\n```"
RIGHT = "Fix.\n```lean4\ntheorem wp_resume (a b : ℕ) (h : a = b) : b + 0 = a := by\n  rw [Nat.add_zero]\n  exact h.symm\n```"


def _prove(url: str, *extra: str):
    done = run_cli("prove", STATEMENT, "--repl-cmd", repl_cmd("whole_proof.json"), "--json", "--budget", "30", "--no-cache",
                   "--proof-model", "Goedel-LM/Goedel-Prover-V2-8B", "--proof-generator", "openai",
                   "--proof-model-args", f"base_url={url},backoff=0.01", *extra)
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else {}), done.stderr


def test_whole_only_repairs_with_goedels_correction_turn(chat_server):
    url, server = chat_server
    server.replies = [WRONG]
    original = server.answer

    def answer(body):  # the repair turn (3 messages) gets the fixed proof
        if len(body["messages"]) == 3:
            server.replies = [RIGHT]
        return original(body)

    server.answer = answer  # type: ignore[method-assign]
    code, out, err = _prove(url, "--whole-only", "--proof-samples", "2", "--repair-rounds", "1")
    assert code == 0, err
    assert out["status"] == "proved" and out["route"] == "repaired" and "exact h.symm" in out["proof"]
    whole = out["stats"]["policies"]["whole"]
    assert whole["samples"] >= 3 and whole["repairs"] >= 1 and whole["tokens"] > 0
    repair = next(b for b in server.bodies if len(b["messages"]) == 3)
    assert repair["messages"][2]["content"].startswith("The proof (Round 0) is not correct.")
    assert "<error>exact</error> h" in repair["messages"][2]["content"]
    assert repair["max_tokens"] == 32768 and repair["temperature"] == 1.0  # Goedel's published settings


def test_hybrid_resumes_the_prefix_with_the_portfolio(chat_server):
    url, server = chat_server
    server.replies = [WRONG]
    code, out, err = _prove(url, "--proof-samples", "1", "--repair-rounds", "0")
    assert code == 0, err
    assert out["route"] == "resumed" and out["proof"] == "rw [Nat.add_zero]\nomega"


def test_a_dead_proof_server_leaves_the_tactic_side_running():
    code, out, err = _prove("http://127.0.0.1:9/v1", "--proof-model-args", "retries=0")
    assert code == 1 and out["status"] == "failed"  # the portfolio alone cannot prove this one
    assert "whole: ModelError" in out["error"]


def test_model_kinds_in_the_wrong_flag_are_usage_errors():
    done = run_cli("prove", STATEMENT, "--repl-cmd", repl_cmd("whole_proof.json"), "--model", "Goedel-LM/Goedel-Prover-V2-8B")
    assert done.returncode == 2 and "pass it as --proof-model" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(UsageError, match="pass it as --model"):
        proof_config("ByteDance-Seed/BFS-Prover-V2-7B", "hf", None, None, 8, None, None, False, False)
    with pytest.raises(UsageError, match="--whole-only needs"):
        proof_config(None, "hf", None, None, 8, None, None, True, False)
    with pytest.raises(UsageError, match="--proof-generator must be one of"):
        proof_config("x", "portfolio", None, None, 8, None, None, False, False)
    with pytest.raises(UsageError, match="unknown proof prompt format"):
        proof_config("x", "hf", None, "goedel", 8, None, None, False, False)


def test_bench_run_whole_only_records_samples_and_reports_pass_at_k(chat_server, tmp_path):
    import re

    from tests.test_cli_bench import bench_args, samples_of

    url, server = chat_server
    original = server.answer

    def answer(body):  # every problem gets `omega` under its own theorem, which proves only aime_1984_p1
        name = re.search(r"theorem (\S+)", body["messages"][-1]["content"]).group(1)
        server.replies = [f"```lean4\ntheorem {name} : X := by\n  omega\n```", "no proof today"]
        return original(body)

    server.answer = answer  # type: ignore[method-assign]
    done = run_cli(*bench_args(tmp_path), "--proof-model", "Goedel-LM/Goedel-Prover-V2-8B", "--proof-generator",
                   "openai", "--proof-model-args", f"base_url={url}", "--whole-only", "--proof-samples", "2",
                   "--repair-rounds", "0")
    assert done.returncode == 0, done.stderr
    assert "whole pass@1" in done.stdout
    samples = {s["id"]: s for s in samples_of(next(tmp_path.iterdir()))}
    assert {k for k, s in samples.items() if s["status"] == "proved"} == {"aime_1984_p1"}
    assert samples["aime_1984_p1"]["route"] == "whole"
    outcomes = [w["outcome"] for w in samples["aime_1983_p2"]["whole_samples"]]
    assert outcomes == ["failed", "rejected"] and samples["aime_1983_p2"]["whole_samples"][1]["reason"] == "no lean4 code block"
    results = json.loads(next(next(tmp_path.iterdir()).glob("results_*.json")).read_text(encoding="utf-8"))
    whole = results["results"]["minif2f-test"]["whole_proofs"]
    assert whole["pass_at_k"]["1"] == 0.5 * 0.25 + 0 and whole["route_share"] == {"whole": 1.0}
    assert results["config"]["proof_model"]["model"] == "Goedel-LM/Goedel-Prover-V2-8B"
