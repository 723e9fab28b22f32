"""Whole-proof prompt formats (golden texts from model-formats.md), repair turns, extraction and splicing."""

from __future__ import annotations

import pytest

from prover.models.proof_prompts import (
    FORMATS,
    extract_body,
    goedel_error_str,
    kimina_tool_message,
    looks_like_whole_proof_model,
    proof_format_for,
)
from search.proofs import Attempt, LeanMessage, ProofRequest

HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n"
THEOREM = "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n  sorry"
INFORMAL = "What is the positive difference between $120\\%$ of 30 and $130\\%$ of 20? Show that it is 10."
REQUEST = ProofRequest("mathd_algebra_10", HEADER, THEOREM, INFORMAL)

# DeepSeek-Prover-V2 README @e598a57 § Quick Start: the formal statement and prompt, verbatim (\n line endings).
README_STATEMENT = (
    "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
    "/-- What is the positive difference between $120\\%$ of 30 and $130\\%$ of 20? Show that it is 10.-/\n"
    "theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130 / 100 * 20) = 10 := by\n  sorry"
)
PLAN = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed proof plan outlining the "
    "main proof steps and strategies.\nThe plan should highlight key ideas, intermediate lemmas, and proof structures "
    "that will guide the construction of the final formal proof."
)


def user(conversation):
    return [m["content"] for m in conversation if m["role"] == "user"]


def test_deepseek_cot_prompt_is_the_readme_prompt():
    expected = f"Complete the following Lean 4 code:\n\n```lean4\n{README_STATEMENT}\n```\n\n{PLAN}"
    assert FORMATS["deepseek-v2-cot"].conversation(REQUEST) == [{"role": "user", "content": expected}]


def test_deepseek_non_cot_prompt():
    expected = f"Complete the following Lean 4 code:\n\n```lean4\n{README_STATEMENT}\n```"
    assert FORMATS["deepseek-v2"].conversation(REQUEST) == [{"role": "user", "content": expected}]


def test_goedel_prompt_has_no_newline_before_the_fence():
    statement = README_STATEMENT.split(":= by")[0] + ":= by sorry"
    expected = f"Complete the following Lean 4 code:\n\n```lean4\n{statement}```\n\n{PLAN}"
    assert FORMATS["goedel-v2"].conversation(REQUEST) == [{"role": "user", "content": expected}]


def test_kimina_preview_prompt_has_the_system_turn_and_no_sorry():
    statement = README_STATEMENT[: -len("\n  sorry")]
    assert statement.endswith(":= by")
    expected = (
        "Think about and solve the following problem step by step in Lean 4."
        f"\n# Problem:{INFORMAL}\n# Formal statement:\n```lean4\n{statement}\n```\n"
    )
    assert FORMATS["kimina-preview"].conversation(REQUEST) == [
        {"role": "system", "content": "You are an expert in mathematics and Lean 4."},
        {"role": "user", "content": expected},
    ]


def test_kimina_preview_uses_the_statement_when_there_is_no_informal_text():
    request = ProofRequest("t", "import Mathlib", "theorem t : 1 = 1 := by sorry")
    assert "# Problem:theorem t : 1 = 1 :=\n" in user(FORMATS["kimina-preview"].conversation(request))[0]


def test_kimina_2025_prompt_plural_blank_line_unfenced_with_sorry():
    request = ProofRequest("t", "import Mathlib\n", "theorem t (x : ℕ) : x = x := by\n  sorry")
    assert FORMATS["kimina-2025"].conversation(request) == [
        {"role": "system", "content": "You are an expert programmer and mathematician who helps formalizing "
                                      "mathematical problems in Lean 4."},
        {"role": "user", "content": "Think about and solve the following problems step by step in Lean 4.\n\n"
                                    "import Mathlib\n\ntheorem t (x : ℕ) : x = x := by sorry"},
    ]


CODE = "theorem t (x : ℝ) (h : 0 < x) : 0 < x ^ 2 := by\n  have h2 : 0 < x * x := by\n    nlinarith\n  linarith\n  simp"
ERRORS = (LeanMessage(4, 2, "error", "linarith failed to find a contradiction", goals="x : ℝ\n⊢ 0 < x ^ 2"),
          LeanMessage(5, 2, "error", "no goals"), LeanMessage(1, 8, "warning", "unused variable"))


def test_goedel_repair_turn():
    history = (Attempt("plan...\n```lean4\n" + CODE + "\n```", CODE, ERRORS),)
    request = ProofRequest("t", "import Mathlib", "theorem t (x : ℝ) (h : 0 < x) : 0 < x ^ 2 := by sorry", history=history)
    conversation = FORMATS["goedel-v2"].conversation(request)
    assert [m["role"] for m in conversation] == ["user", "assistant", "user"]
    assert conversation[1]["content"] == history[0].output
    turn = conversation[2]["content"]
    assert turn.startswith("The proof (Round 0) is not correct. Following is the compilation error message, where we "
                           "use <error></error> to signal the position of the error.\n\n")
    assert turn.endswith("\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a detailed "
                         "analysis of the error message.")
    assert "  <error>linarith</error>\n" in turn and "  <error>simp</error>" in turn
    assert "unused variable" not in turn  # warnings are not errors
    second = FORMATS["goedel-v2"].conversation(ProofRequest("t", "", request.statement, history=history * 2))
    assert "The proof (Round 1) is not correct." in second[-1]["content"] and len(second) == 5


def test_goedel_error_str_limits_errors_and_context():
    code = "\n".join(f"line{i}" for i in range(1, 31))
    messages = tuple(LeanMessage(i, 0, "error", f"e{i}") for i in range(1, 21))
    text = goedel_error_str(code, messages)
    assert text.count("<error>") == 8 and "Error Message: e9" not in text
    block = goedel_error_str(code, (LeanMessage(15, 0, "error", "boom"),))
    assert "line11\n" in block and "line10\n" not in block and "line19\n" in block and "line20" not in block


def test_kimina_error_fix_message():
    text = kimina_tool_message(CODE, ERRORS)
    assert text.startswith("# Error 1:\nGoals state before error position: \nx : ℝ\n⊢ 0 < x ^ 2\n\nError message: \n"
                           "linarith failed to find a contradiction\n\nLean 4 code snippet with error:\n```lean4\n")
    assert "004 >   linarith" in text and "002 |   have h2" in text and "# Error 2:" in text
    assert "Goals state" not in text.split("# Error 2:")[1]
    many = kimina_tool_message(CODE, tuple(LeanMessage(1, 0, "error", f"e{i}") for i in range(5)))
    assert many.count("# Error") == 3


STATEMENT = "theorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by sorry"
COT_OUTPUT = """### Detailed Proof and Analysis
We substitute a = 2.

### Lean 4 Proof with `have` Statements
```lean4
theorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by
  have h₁ : a ^ 2 = 4 := by sorry
  sorry
```

### Complete Lean 4 Proof
```lean4
import Mathlib

theorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by
  have h₁ : a ^ 2 = 4 := by
    rw [h₀]  -- substitute
    norm_num
  exact h₁
```"""


def test_cot_output_takes_the_final_block_not_the_sorry_sketch():
    got = extract_body(FORMATS["deepseek-v2-cot"], COT_OUTPUT, STATEMENT)
    assert got.body == "have h₁ : a ^ 2 = 4 := by\n  rw [h₀]\n  norm_num\nexact h₁" and got.reason == ""


def test_the_sketch_alone_is_rejected_for_sorry():
    sketch_only = COT_OUTPUT.split("### Complete")[0]
    got = extract_body(FORMATS["goedel-v2"], sketch_only, STATEMENT)
    assert got.body is None and got.reason == "banned token 'sorry'"


def test_a_block_without_header_is_spliced_onto_the_original_statement():
    output = "```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 3) : a ^ 2 = 9 := by\n  subst h₀; norm_num\n```"
    got = extract_body(FORMATS["goedel-v2"], output, STATEMENT)
    assert got.body == "subst h₀; norm_num"  # the model's changed hypotheses are dropped with its statement


def test_kimina_takes_the_last_block_with_import_theorem_by():
    output = ("<think>\nLet me try\n```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by\n  simp\n```\n"
              "</think>\nFinal:\n```lean4\nimport Mathlib\n\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by\n"
              "  subst h₀\n  norm_num\n```\nAnd a remark:\n```lean4\n#check amc_x\n```")
    assert extract_body(FORMATS["kimina-2025"], output, STATEMENT).body == "subst h₀\nnorm_num"
    no_import = output.replace("import Mathlib\n\n", "")
    assert extract_body(FORMATS["kimina-preview"], no_import, STATEMENT).reason == "no lean4 code block" or \
        extract_body(FORMATS["kimina-preview"], no_import, STATEMENT).body is None


@pytest.mark.parametrize(
    "output, truncated, reason",
    [
        ("I think the answer is 4.", False, "no lean4 code block"),
        ("```python\nprint(4)\n```", False, "no complete lean4 code block"),
        ("thinking " * 40000, True, "truncated at max_tokens before a complete code block"),
        ("```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by\n  norm_num [h₀", True,
         "truncated at max_tokens before a complete code block"),
        ("```lean4\ntheorem other (a : ℝ) : a = a := by\n  rfl\n```", False, "a different theorem (other)"),
        ("```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by\n  exact?\n```", False, "banned token 'exact?'"),
        ("```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by\n  native_decide\n```", False,
         "banned token 'native_decide'"),
        ("```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by\n```", False, "an empty proof"),
        ("```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 :=\n  by_contra fun h => h\n```", False,
         "a term-mode proof (no `:= by`)"),
    ],
)
def test_bad_outputs_are_rejected_with_a_reason(output, truncated, reason):
    got = extract_body(FORMATS["goedel-v2"], output, STATEMENT, truncated=truncated)
    assert got.body is None and got.reason == reason


def test_text_after_the_theorem_is_not_part_of_the_proof():
    output = ("```lean4\ntheorem amc_x (a : ℝ) (h₀ : a = 2) : a ^ 2 = 4 := by\n  subst h₀\n  norm_num\n\n"
              "theorem extra : True := trivial\n```")
    assert extract_body(FORMATS["goedel-v2"], output, STATEMENT).body == "subst h₀\nnorm_num"


def test_format_by_model_name_and_unknown_format():
    assert proof_format_for("Goedel-LM/Goedel-Prover-V2-8B").name == "goedel-v2"
    assert proof_format_for("deepseek-ai/DeepSeek-Prover-V2-7B").name == "deepseek-v2-cot"
    assert proof_format_for("AI-MO/Kimina-Prover-Preview-Distill-7B").name == "kimina-preview"
    assert proof_format_for("AI-MO/Kimina-Prover-Distill-8B").name == "kimina-2025"
    assert proof_format_for("Qwen/Qwen3-8B").name == "chat"
    assert FORMATS["goedel-v2"].repair_rounds == 2
    assert looks_like_whole_proof_model("Goedel-LM/Goedel-Prover-V2-32B")
    assert not looks_like_whole_proof_model("kaiyuy/leandojo-lean4-tacgen-byt5-small")
    with pytest.raises(Exception, match="unknown proof prompt format 'goedel'"):
        proof_format_for("x", "goedel")
