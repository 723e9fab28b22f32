"""Prompt adapters: how each public tactic model wants its input, how its output is cleaned, how it is scored.

Formats follow the authors' code (shared notes, prover-designs.md §3):

| name | prompt | cleaning | score |
|---|---|---|---|
| `reprover-byt5` | the raw state (`state.pp`) | strip `<a>`/`</a>` premise marks | summed token log-prob |
| `internlm2.5-step` | chat turn with `NAME:` / `PROOF_BEFORE:` / `STATE_BEFORE:` / `TACTIC:` | cut at `<|im_end|>` | mean token log-prob |
| `internlm2-step` | chat turn with `DECL` / `GOAL` | cut at `<|im_end|>`, drop a leading `PROOFSTEP ` | mean token log-prob |
| `bfs-prover` | `{state}:::` | strip | mean token log-prob |
| `goal-proofstep` | `[GOAL]{state}[PROOFSTEP]` (LLMStep, ntptutorial) | cut at `[GOAL]`/EOS texts | mean |
| `goal-proofstep-nl` | `[GOAL]\\n{state}\\n[PROOFSTEP]\\n` (ReProver's vLLM path) | same | summed |
| `llemma-fewshot` | Llemma's 3-shot `Tactic state: --- … Next tactic: ---` prompt | cut at `---` | mean |

Every format then drops empty outputs and duplicates (keeping the best score) and sorts best first.

A model name no pattern matches gets `goal-proofstep` with a warning naming `--prompt-format`; names of whole-proof
models and of the retrieval-augmented ReProver are refused (`check_tactic_model`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from prover.errors import UsageError
from prover.models.registry import Option, Registry, choice
from prover.models.trained import trained_prompt_format
from search.protocols import Candidate, PolicyRequest

Score = Literal["sum", "mean"]

log = logging.getLogger(__name__)

_MARKS = re.compile(r"</?a>")
_IM_END = "<|im_end|>"
# End-of-text strings a decoder may leave in raw text when special tokens are not skipped.
_EOS_TEXTS = ("</s>", "<|endoftext|>", "<|im_end|>", "<|end_of_text|>", "<|eot_id|>", "<eos>")


@dataclass(frozen=True)
class PromptFormat:
    """One model family's prompt, output cleaning and score convention.

    Args:
        name: the `--prompt-format` name.
        description: one line for `prover models`.
        render: builds the prompt text of one request.
        score: "sum" (total log-prob of the tactic's tokens) or "mean" (per token), as the authors rank.
        stop: strings generation stops at (also cut from the text when a backend returns them).
        strip_prefixes: prefixes removed from the cleaned output (InternLM2's `PROOFSTEP `).
        strip_marks: remove ReProver's `<a>`/`</a>` premise marks.
        model_patterns: lower-case substrings of model names that select this format.
    """

    name: str
    description: str
    render: Callable[[PolicyRequest], str]
    score: Score
    stop: tuple[str, ...] = ()
    strip_prefixes: tuple[str, ...] = ()
    strip_marks: bool = False
    model_patterns: tuple[str, ...] = field(default=())

    def prompt(self, request: PolicyRequest) -> str:
        """The prompt text for one request."""
        return self.render(request)

    def clean(self, text: str) -> str:
        """A raw completion → the tactic text (may be empty, meaning: drop it)."""
        for stop in (*self.stop, *_EOS_TEXTS):
            cut = text.find(stop)
            if cut >= 0:
                text = text[:cut]
        if self.strip_marks:
            text = _MARKS.sub("", text)
        text = text.strip()
        for prefix in self.strip_prefixes:
            if text.startswith(prefix):
                text = text[len(prefix) :].strip()
        return text

    def score_of(self, logprob_sum: float, num_tokens: int, convention: Score | None = None) -> float:
        """The candidate's score from its summed token log-prob and token count."""
        if (convention or self.score) == "mean":
            return logprob_sum / max(num_tokens, 1)
        return logprob_sum

    def candidates(
        self, outputs: Iterable[tuple[str, float, int]], limit: int | None = None, convention: Score | None = None
    ) -> list[Candidate]:
        """(raw text, summed log-prob, token count) triples → cleaned, deduplicated candidates, best first.

        Duplicates keep their best score; ties keep generation order; at most `limit` are returned.
        """
        best: dict[str, float] = {}
        for text, logprob_sum, num_tokens in outputs:
            tactic = self.clean(text)
            if not tactic:
                continue
            score = self.score_of(logprob_sum, num_tokens, convention)
            if math.isnan(score):
                score = -math.inf
            if tactic not in best or score > best[tactic]:
                best[tactic] = score
        ranked = sorted(best.items(), key=lambda kv: -kv[1])  # sorted() is stable: ties keep first-seen order
        if limit is not None:
            ranked = ranked[:limit]
        return [Candidate(tactic, score) for tactic, score in ranked]


def _state(request: PolicyRequest) -> str:
    return request.state.pp


def _internlm25(request: PolicyRequest) -> str:
    # InternLM-Math minif2f/proofsearch_internLM2.5-StepProver.py: `_prompt_function` wrapped by
    # `chat_template_to_prompt`; PROOF_BEFORE is the path's tactics joined by newlines.
    content = (
        f"---\nNAME: {request.theorem_name}\n\n"
        f"---\nPROOF_BEFORE: {chr(10).join(request.tactics_so_far)}\n\n"
        f"---\nSTATE_BEFORE: {request.state.pp}\n\n"
        f"---\nTACTIC: "
    )
    return f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"


def _internlm2(request: PolicyRequest) -> str:
    # InternLM-Math minif2f/proofsearch_internLM2-StepProver.py `_prompt_function`.
    content = f"DECL {request.theorem_name}\nGOAL {request.state.pp}\n"
    return f"<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"


# The 3-shot prompt of wellecks/llemma_formal2formal proofsearch.py @adf9240 (`_prompt_fewshot`), the one behind
# Llemma's published MiniF2F numbers; LLMStep's Llemma server uses the same text (python/server_llemma.py @0df14db).
# It ends with `---` and no newline; generation stops at the next `---`.
LLEMMA_FEWSHOT = """Given the Lean 4 tactic state, suggest a next tactic.
Here are some examples:

Tactic state:
---
α : Type u_1
r : α → α → Prop
inst✝¹ : DecidableEq α
inst✝ : IsIrrefl α r
⊢ CutExpand r ≤ InvImage (Finsupp.Lex (rᶜ ⊓ fun x x_1 => x ≠ x_1) fun x x_1 => x < x_1) ↑toFinsupp
---
Next tactic:
---
rintro s t ⟨u, a, hr, he⟩
---

Tactic state:
---
ι : Type u_1
I✝ J✝ : Box ι
x y : ι → ℝ
I J : WithBot (Box ι)
⊢ ↑I = ↑J ↔ I = J
---
Next tactic:
---
simp only [Subset.antisymm_iff, ← le_antisymm_iff, withBotCoe_subset_iff]
---

Tactic state:
---
m n : ℕ
h : Nat.coprime m n
⊢ Nat.gcd m n = 1
---
Next tactic:
---
rw [← h.gcd_eq_one]
---

Tactic state:
---
{state}
---
Next tactic:
---"""


def _llemma_fewshot(request: PolicyRequest) -> str:
    return LLEMMA_FEWSHOT.replace("{state}", request.state.pp)


FORMATS: Registry[PromptFormat] = Registry("prompt format")


def _add(fmt: PromptFormat) -> None:
    FORMATS.register(fmt.name, fmt, fmt.description)


_add(
    PromptFormat(
        name="reprover-byt5",
        description="ReProver ByT5 (kaiyuy/leandojo-lean4-tacgen-byt5-small): raw state in, <a></a> marks "
        "stripped, summed log-prob",
        render=_state,
        score="sum",
        strip_marks=True,
        model_patterns=("leandojo-lean4-tacgen-byt5", "reprover"),
    )
)
_add(
    PromptFormat(
        name="internlm2.5-step",
        description="InternLM2.5-StepProver chat prompt (NAME / PROOF_BEFORE / STATE_BEFORE / TACTIC), "
        "mean token log-prob",
        render=_internlm25,
        score="mean",
        stop=(_IM_END,),
        model_patterns=("internlm2_5-step-prover", "internlm2.5-step-prover", "internlm2_5-stepprover"),
    )
)
_add(
    PromptFormat(
        name="internlm2-step",
        description="InternLM2-StepProver chat prompt (DECL / GOAL), leading 'PROOFSTEP ' dropped, mean token "
        "log-prob",
        render=_internlm2,
        score="mean",
        stop=(_IM_END,),
        strip_prefixes=("PROOFSTEP ",),
        model_patterns=("internlm2-step-prover", "internlm2-stepprover"),
    )
)
_add(
    PromptFormat(
        name="bfs-prover",
        description="BFS-Prover V1/V2 ('{state}:::', raw completion), mean token log-prob",
        render=lambda r: f"{r.state.pp}:::",
        score="mean",
        model_patterns=("bfs-prover",),
    )
)
_add(
    PromptFormat(
        name="goal-proofstep",
        description="generic '[GOAL]{state}[PROOFSTEP]' (LLMStep, ntptutorial), mean token log-prob",
        render=lambda r: f"[GOAL]{r.state.pp}[PROOFSTEP]",
        # LLMStep's search (python/benchmarking/proofsearch/proofsearch.py @03e3171) ranks by
        # cumulative_logprob / len(token_ids); ntptutorial by HF beam scores with length_penalty=1: both per token.
        score="mean",
        stop=("[GOAL]", "[PROOFSTEP]"),
        model_patterns=("llmstep", "pythia"),
    )
)
_add(
    PromptFormat(
        name="goal-proofstep-nl",
        description="ReProver's vLLM template '[GOAL]\\n{state}\\n[PROOFSTEP]\\n', summed log-prob",
        render=lambda r: f"[GOAL]\n{r.state.pp}\n[PROOFSTEP]\n",
        score="sum",
        stop=("[GOAL]", "[PROOFSTEP]"),
    )
)

_add(
    PromptFormat(
        name="llemma-fewshot",
        description="Llemma base models: the 3-shot 'Tactic state: --- ... Next tactic: ---' prompt, stop '---', "
        "mean token log-prob",
        render=_llemma_fewshot,
        score="mean",
        stop=("---",),
        model_patterns=("llemma",),
    )
)

DEFAULT_FORMAT = "goal-proofstep"

# Whole-proof models write a complete Lean proof from the statement; run one tactic at a time they see a prompt
# they were never trained on and prove nearly nothing (shared notes, model-formats.md finding 2).
WHOLE_PROOF_PATTERNS = ("deepseek-prover", "goedel-prover", "kimina-prover")
# ReProver's retrieval-augmented generator expects retrieved premises before the state
# (lean-dojo/ReProver README @fd6d99c, "Retrieval-Augmented Tactic Generator"); we retrieve none.
RETRIEVAL_PATTERNS = ("retriever-tacgen",)


def get_prompt_format(name: str) -> PromptFormat:
    """The format called `name`; an unknown name raises UsageError with a did-you-mean hint."""
    return FORMATS.get(name)


def check_tactic_model(*names: str | None) -> None:
    """Refuse model names (served ids, paths) that cannot run as a tactic generator here.

    Raises:
        UsageError: a whole-proof model (DeepSeek-Prover, Goedel-Prover, Kimina-Prover) or the
            retrieval-augmented ReProver, which needs premises we do not retrieve.
    """
    for name in names:
        low = (name or "").lower()
        if any(p in low for p in WHOLE_PROOF_PATTERNS):
            raise UsageError(
                f"{name} is a whole-proof model (it writes the whole proof from the statement), not a tactic "
                "model; it cannot run as --model of the tactic search (whole-proof models get their own option, "
                "--proof-model, where available)"
            )
        if any(p in low for p in RETRIEVAL_PATTERNS):
            raise UsageError(
                f"{name} needs retrieved premises before the state, which this prover does not retrieve; use the "
                "non-retrieval kaiyuy/leandojo-lean4-tacgen-byt5-small instead"
            )


def matching_format(*names: str | None) -> PromptFormat | None:
    """The first format whose pattern occurs in one of `names` (checked in order), else None."""
    for name in names:
        low = (name or "").lower()
        if not low:
            continue
        for fmt_name in FORMATS.names():
            fmt = FORMATS.get(fmt_name)
            if any(p in low for p in fmt.model_patterns):
                return fmt
    return None


def format_for_model(model: str | None, prompt_format: str | None = None, *aliases: str | None) -> PromptFormat:
    """The prompt format for a model.

    The explicit `prompt_format` if given; else the format a `prover train` output was trained for; else the first format whose pattern occurs in the model name or in one
    of `aliases` (for `openai`: the served model's `root` path); else `goal-proofstep`, with a warning that names
    `--prompt-format`. Refuses whole-proof and retrieval-augmented model names (`check_tactic_model`).
    """
    check_tactic_model(model, *aliases)
    prompt_format = prompt_format or trained_prompt_format(model)
    if prompt_format:
        return get_prompt_format(prompt_format)
    fmt = matching_format(model, *aliases)
    if fmt is not None:
        return fmt
    if model or any(aliases):
        shown = " / ".join(n for n in (model, *aliases) if n)
        log.warning(
            "no prompt format matches model %s; using %s ('[GOAL]{state}[PROOFSTEP]'). If the model was trained on "
            "another prompt, pass --prompt-format (one of: %s)",
            shown,
            DEFAULT_FORMAT,
            ", ".join(FORMATS.names()),
        )
    return FORMATS.get(DEFAULT_FORMAT)


def list_prompt_formats() -> list[tuple[str, str]]:
    """(name, one-line description) of every prompt format."""
    return FORMATS.items()


# The `score=` option every model backend takes; `choice` has refused any other value before it is read.
SCORE_OPTION = Option(choice("format", "sum", "mean"), "format", "sum or mean token log-prob (format: as the model's authors)")


def check_score_convention(value: str) -> Score | None:
    """The scoring a `score=` option asks for; None keeps the prompt format's own."""
    return None if value == "format" else value  # type: ignore[return-value]  # "sum" or "mean" by SCORE_OPTION

