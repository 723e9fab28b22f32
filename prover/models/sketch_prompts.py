"""Planner prompt formats: header + statement (+ informal proof) → a `have … := by sorry` sketch.

A planner is any chat model behind one of these formats, wrapped as a `ProofPolicy` (`build_planner`): its samples'
bodies are sketches, extracted and spliced onto the original statement exactly as whole proofs are
(`proof_prompts.extract_body`), with `sorry` allowed (it marks the holes) and every other banned token refused.

- `sketch`: a generic prompt for any instruction-tuned chat model: a plan as `have name : type := by sorry`
  steps and a closing step, in one ```` ```lean4 ```` block; the repair turn gives Lean's errors back.
- `deepseek-v2-sketch`: DeepSeek-Prover-V2's own CoT prompt (the proof-plan paragraph); its output holds a
  `### Lean 4 Proof with \\`have\\` Statements` section whose ```` ```lean4 ```` block is the sketch, before the
  `### Complete Lean 4 Proof` (DeepSeek-Prover-V2 paper, Appendix A.2; `shared/notes/model-formats.md`). The
  extraction takes the first block after that heading, else the last block that contains `sorry`. So the
  whole-proof model doubles as planner: the same weights, served once, answer both routes.
"""

from __future__ import annotations

import re

from prover.models.chat import ChatModel, build_chat_model
from prover.models.proof_policy import ChatProofPolicy
from prover.models.proof_prompts import (
    FORMATS as PROOF_FORMATS,
    GENERIC_SYSTEM,
    Conversation,
    ProofFormat,
    last_block_goedel,
    plain_errors,
    with_sorry,
)
from prover.errors import UsageError
from search.banned import BannedTokens
from search.proofs import Attempt, ProofRequest

__all__ = ["PLANNER_FORMATS", "build_planner", "planner_banned", "planner_format_for", "planner_over"]

SKETCH_INSTRUCTIONS = (
    "Write a proof sketch of the following theorem in Lean 4 with Mathlib. Break the proof into intermediate "
    "steps, each stated as `have name : type := by sorry`, and end with a closing step that proves the goal from "
    "them (for example `linarith`, `nlinarith [...]`, `simp_all`, `exact ...`). Do not prove the steps; leave "
    "every one as `sorry`. Keep the theorem statement unchanged. Reply with the complete Lean 4 code in one "
    "```lean4 code block."
)
_HAVE_HEADING = re.compile(r"#+\s*Lean 4 Proof with `?have`? Statements[^\n]*\n", re.I)
_BLOCK = re.compile(r"```lean4?\n(.*?)```", re.S)


def _generic_sketch(request: ProofRequest) -> Conversation:
    informal = f"\n\nInformal proof:\n{request.informal}" if request.informal else ""
    prompt = f"{SKETCH_INSTRUCTIONS}{informal}\n\n```lean4\n{with_sorry(request)}\n```"
    return [{"role": "system", "content": GENERIC_SYSTEM}, {"role": "user", "content": prompt}]


def _sketch_repair(conversation: Conversation, attempt: Attempt, round_: int) -> Conversation:
    text = (f"Lean 4 rejected this sketch:\n\n{plain_errors(attempt.messages)}\n\nFix the sketch: keep the steps "
            "as `have name : type := by sorry` and make the closing step work. Reply with the complete Lean 4 code "
            "in one ```lean4 code block.")
    return [*conversation, {"role": "assistant", "content": attempt.output}, {"role": "user", "content": text}]


def deepseek_sketch_block(output: str) -> str | None:
    """The sketch of a DeepSeek-Prover-V2 CoT output: the first lean4 block after the `have`-statements heading,
    else the last lean4 block containing `sorry`, else None."""
    heading = _HAVE_HEADING.search(output)
    if heading is not None:
        block = _BLOCK.search(output, heading.end())
        if block is not None:
            return block.group(1)
    with_holes = [b for b in _BLOCK.findall(output) if "sorry" in b]
    return with_holes[-1] if with_holes else None


_COT = PROOF_FORMATS["deepseek-v2-cot"]
PLANNER_FORMATS: dict[str, ProofFormat] = {
    f.name: f
    for f in (
        ProofFormat("sketch", "any chat model: `have … := by sorry` steps and a closing step; repair with Lean's "
                    "errors", _generic_sketch, _sketch_repair, last_block_goedel, 1, 0.7, 0.95, 4096),
        ProofFormat("deepseek-v2-sketch", "DeepSeek-Prover-V2 CoT: its `Lean 4 Proof with have Statements` block",
                    _COT.first, _sketch_repair, deepseek_sketch_block, 0, _COT.temperature, _COT.top_p,
                    _COT.max_tokens),
    )
}


def planner_format_for(model: str, name: str | None = None) -> ProofFormat:
    """The planner format called `name`, or the one the model's name implies (`deepseek-v2-sketch` for
    DeepSeek-Prover-V2, `sketch` otherwise)."""
    if name is not None:
        if name not in PLANNER_FORMATS:
            raise UsageError(f"unknown planner prompt format '{name}'; known: {', '.join(PLANNER_FORMATS)}")
        return PLANNER_FORMATS[name]
    return PLANNER_FORMATS["deepseek-v2-sketch" if "deepseek-prover-v2" in model.lower() else "sketch"]


def planner_banned(banned: BannedTokens) -> BannedTokens:
    """The banned-token policy for sketches: `sorry` marks the holes; everything else stays banned."""
    return BannedTokens.of(token for token in banned.tokens if token != "sorry")


def planner_over(chat: ChatModel, model: str, prompt_format: str | None, banned: BannedTokens) -> ChatProofPolicy:
    """A planner over a chat model already built (the whole-proof model doubling as planner); closing it is the
    owner's business."""
    return ChatProofPolicy(chat, planner_format_for(model, prompt_format), planner_banned(banned))


def build_planner(
    generator: str,
    model: str,
    *,
    prompt_format: str | None = None,
    options: dict[str, str] | None = None,
    allow_download: bool = False,
    banned: BannedTokens = BannedTokens(),
) -> ChatProofPolicy:
    """A planner (`ProofPolicy` whose bodies are sketches) over a chat backend (`hf`, `vllm`, `openai`).

    Raises:
        UsageError: unknown generator, format or option; ModelNotFoundError / EnvironmentProblem: see
        `build_chat_model`.
    """
    planner_format_for(model, prompt_format)  # an unknown format fails before the model loads
    return planner_over(build_chat_model(generator, model, options, allow_download=allow_download), model,
                        prompt_format, banned)
