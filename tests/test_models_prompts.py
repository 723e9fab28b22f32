"""Prompt adapters: golden prompt strings per format (from the authors' code, shared notes §3) and output cleaning."""

from __future__ import annotations

import math

import pytest

from prover.errors import UsageError
from prover.models import format_for_model, get_prompt_format, list_prompt_formats
from search.outcomes import TacticState
from search.protocols import Candidate, PolicyRequest

STATE = TacticState(("a b : ℕ\nh : a = b\n⊢ b = a",))
TWO_GOALS = TacticState(("case left\nx : ℝ\n⊢ 0 ≤ x ^ 2", "case right\nx : ℝ\n⊢ x ^ 2 ≥ 0"))
REQUEST = PolicyRequest(STATE, theorem_name="mathd_algebra_1", tactics_so_far=("intro a b h", "subst h"))


def prompt(name: str, request: PolicyRequest = REQUEST) -> str:
    return get_prompt_format(name).prompt(request)


def test_reprover_byt5_is_the_raw_state() -> None:
    assert prompt("reprover-byt5") == "a b : ℕ\nh : a = b\n⊢ b = a"
    assert prompt("reprover-byt5", PolicyRequest(TWO_GOALS)) == (
        "case left\nx : ℝ\n⊢ 0 ≤ x ^ 2\n\ncase right\nx : ℝ\n⊢ x ^ 2 ≥ 0"
    )


def test_internlm25_step_prover_golden() -> None:
    assert prompt("internlm2.5-step") == (
        "<|im_start|>user\n"
        "---\nNAME: mathd_algebra_1\n\n"
        "---\nPROOF_BEFORE: intro a b h\nsubst h\n\n"
        "---\nSTATE_BEFORE: a b : ℕ\nh : a = b\n⊢ b = a\n\n"
        "---\nTACTIC: <|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_internlm25_at_the_root_has_an_empty_proof_before() -> None:
    text = prompt("internlm2.5-step", PolicyRequest(STATE, theorem_name="t"))
    assert "---\nPROOF_BEFORE: \n\n---\nSTATE_BEFORE: " in text


def test_internlm2_step_prover_golden() -> None:
    assert prompt("internlm2-step") == (
        "<|im_start|>user\nDECL mathd_algebra_1\nGOAL a b : ℕ\nh : a = b\n⊢ b = a\n<|im_end|>\n<|im_start|>assistant\n"
    )


def test_bfs_prover_golden() -> None:
    assert prompt("bfs-prover") == "a b : ℕ\nh : a = b\n⊢ b = a:::"


def test_goal_proofstep_goldens() -> None:
    assert prompt("goal-proofstep") == "[GOAL]a b : ℕ\nh : a = b\n⊢ b = a[PROOFSTEP]"
    assert prompt("goal-proofstep-nl") == "[GOAL]\na b : ℕ\nh : a = b\n⊢ b = a\n[PROOFSTEP]\n"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("kaiyuy/leandojo-lean4-tacgen-byt5-small", "reprover-byt5"),
        ("internlm/internlm2_5-step-prover", "internlm2.5-step"),
        ("internlm/internlm2-step-prover", "internlm2-step"),
        ("ByteDance-Seed/BFS-Prover-V1-7B", "bfs-prover"),
        ("ByteDance-Seed/BFS-Prover-V2-32B", "bfs-prover"),
        ("wellecks/llmstep-mathlib4-pythia2.8b", "goal-proofstep"),
        ("EleutherAI/llemma_7b", "llemma-fewshot"),
        ("open-web-math/llemma_34b", "llemma-fewshot"),
        ("/models/my-finetune", "goal-proofstep"),
        (None, "goal-proofstep"),
    ],
)
def test_format_chosen_by_model_name(model: str | None, expected: str) -> None:
    assert format_for_model(model).name == expected


def test_explicit_format_wins_and_unknown_is_a_usage_error() -> None:
    assert format_for_model("internlm/internlm2_5-step-prover", "bfs-prover").name == "bfs-prover"
    with pytest.raises(UsageError, match="did you mean 'bfs-prover'"):
        format_for_model("x", "bfs-prover-v2")


def test_every_format_is_listed_with_a_description() -> None:
    listed = dict(list_prompt_formats())
    assert {"reprover-byt5", "internlm2.5-step", "internlm2-step", "bfs-prover", "goal-proofstep"} <= set(listed)
    assert all(desc and "\n" not in desc for desc in listed.values())


def test_reprover_cleaning_strips_premise_marks() -> None:
    fmt = get_prompt_format("reprover-byt5")
    assert fmt.clean(" rw [<a>Nat.add_comm</a> a b]") == "rw [Nat.add_comm a b]"
    assert fmt.clean("exact <a>Nat.le_refl</a> _\n") == "exact Nat.le_refl _"


def test_internlm_cleaning() -> None:
    fmt25 = get_prompt_format("internlm2.5-step")
    assert fmt25.clean("nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]<|im_end|>\n<|im_start|>user") == (
        "nlinarith [sq_nonneg (a - b), sq_nonneg (a + b)]"
    )
    fmt2 = get_prompt_format("internlm2-step")
    assert fmt2.clean("PROOFSTEP norm_num [Nat.factorial]<|im_end|>") == "norm_num [Nat.factorial]"
    assert fmt2.clean("simp") == "simp"


def test_goal_proofstep_cleaning_cuts_a_runaway_next_example() -> None:
    fmt = get_prompt_format("goal-proofstep")
    assert fmt.clean("linarith [h₀]\n[GOAL]x : ℝ\n⊢ x = x[PROOFSTEP]rfl") == "linarith [h₀]"
    assert fmt.clean(" omega</s>") == "omega"


def test_multiline_tactic_is_kept_whole() -> None:
    fmt = get_prompt_format("bfs-prover")
    assert fmt.clean("constructor\n· norm_num\n· linarith\n") == "constructor\n· norm_num\n· linarith"


def test_candidates_dedup_keep_best_and_sort() -> None:
    fmt = get_prompt_format("bfs-prover")  # mean token log-prob
    outs = [
        ("simp ", -2.0, 2),  # mean -1.0
        ("linarith", -1.0, 4),  # mean -0.25
        ("simp", -1.0, 2),  # the same tactic after cleaning, better: mean -0.5
        ("   ", -0.1, 1),  # empty after cleaning: dropped
        ("omega", -0.5, 1),  # mean -0.5, ties with simp: generation order kept
    ]
    assert fmt.candidates(outs) == [Candidate("linarith", -0.25), Candidate("simp", -0.5), Candidate("omega", -0.5)]
    assert fmt.candidates(outs, limit=1) == [Candidate("linarith", -0.25)]
    # the summed convention ranks by total log-prob instead
    assert [c.tactic for c in fmt.candidates(outs, convention="sum")] == ["omega", "simp", "linarith"]  # simp ties linarith, seen first


def test_score_conventions() -> None:
    assert get_prompt_format("reprover-byt5").score_of(-6.0, 3) == -6.0
    assert get_prompt_format("internlm2.5-step").score_of(-6.0, 3) == -2.0
    assert get_prompt_format("bfs-prover").score_of(-6.0, 0) == -6.0  # no tokens: no division by zero
    nan = get_prompt_format("bfs-prover").candidates([("simp", math.nan, 1)])
    assert nan == [Candidate("simp", -math.inf)]


def test_llemma_fewshot_golden() -> None:
    # wellecks/llemma_formal2formal proofsearch.py @adf9240 `_prompt_fewshot`, byte for byte
    expected = (
        "Given the Lean 4 tactic state, suggest a next tactic.\n"
        "Here are some examples:\n"
        "\n"
        "Tactic state:\n"
        "---\n"
        "α : Type u_1\n"
        "r : α → α → Prop\n"
        "inst✝¹ : DecidableEq α\n"
        "inst✝ : IsIrrefl α r\n"
        "⊢ CutExpand r ≤ InvImage (Finsupp.Lex (rᶜ ⊓ fun x x_1 => x ≠ x_1) fun x x_1 => x < x_1) ↑toFinsupp\n"
        "---\n"
        "Next tactic:\n"
        "---\n"
        "rintro s t ⟨u, a, hr, he⟩\n"
        "---\n"
        "\n"
        "Tactic state:\n"
        "---\n"
        "ι : Type u_1\n"
        "I✝ J✝ : Box ι\n"
        "x y : ι → ℝ\n"
        "I J : WithBot (Box ι)\n"
        "⊢ ↑I = ↑J ↔ I = J\n"
        "---\n"
        "Next tactic:\n"
        "---\n"
        "simp only [Subset.antisymm_iff, ← le_antisymm_iff, withBotCoe_subset_iff]\n"
        "---\n"
        "\n"
        "Tactic state:\n"
        "---\n"
        "m n : ℕ\n"
        "h : Nat.coprime m n\n"
        "⊢ Nat.gcd m n = 1\n"
        "---\n"
        "Next tactic:\n"
        "---\n"
        "rw [← h.gcd_eq_one]\n"
        "---\n"
        "\n"
        "Tactic state:\n"
        "---\n"
        "a b : ℕ\nh : a = b\n⊢ b = a\n"
        "---\n"
        "Next tactic:\n"
        "---"
    )
    assert prompt("llemma-fewshot") == expected
    fmt = get_prompt_format("llemma-fewshot")
    assert fmt.stop == ("---",) and fmt.score == "mean"
    assert fmt.clean("\nlinarith [h]\n---\n\nTactic state:") == "linarith [h]"


def test_goal_proofstep_ranks_by_the_mean_like_llmstep() -> None:
    fmt = get_prompt_format("goal-proofstep")
    assert fmt.score == "mean" and fmt.score_of(-6.0, 3) == -2.0
    assert [c.tactic for c in fmt.candidates([("simp", -1.0, 1), ("nlinarith [sq_nonneg (a - b)]", -1.5, 10)])] == [
        "nlinarith [sq_nonneg (a - b)]", "simp"
    ]


@pytest.mark.parametrize(
    "model",
    ["deepseek-ai/DeepSeek-Prover-V2-7B", "Goedel-LM/Goedel-Prover-V2-8B", "AI-MO/Kimina-Prover-72B",
     "deepseek-ai/DeepSeek-Prover-V1.5-RL"],
)
def test_whole_proof_models_are_never_tactic_models(model: str) -> None:
    with pytest.raises(UsageError, match="whole-proof model.*--proof-model"):
        format_for_model(model)
    with pytest.raises(UsageError, match="whole-proof model"):
        format_for_model(model, "goal-proofstep")  # not even with an explicit format
    with pytest.raises(UsageError, match="whole-proof model"):
        format_for_model("served-name", None, model)  # nor behind a served name (openai's root)


def test_the_retrieval_augmented_reprover_is_refused() -> None:
    with pytest.raises(UsageError, match="retrieved premises.*kaiyuy/leandojo-lean4-tacgen-byt5-small"):
        format_for_model("kaiyuy/leandojo-lean4-retriever-tacgen-byt5-small")


def test_fallback_warns_and_names_the_option(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="prover.models.prompts"):
        assert format_for_model("/models/my-finetune").name == "goal-proofstep"
    assert "--prompt-format" in caplog.text and "bfs-prover" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="prover.models.prompts"):
        format_for_model("ByteDance-Seed/BFS-Prover-V2-7B")
        format_for_model("/models/my-finetune", "bfs-prover")
        format_for_model("bfs", None, "/ckpt/bfs-prover-v2-7b")  # the served path decides
    assert not caplog.text
    assert format_for_model("bfs", None, "/ckpt/bfs-prover-v2-7b").name == "bfs-prover"
