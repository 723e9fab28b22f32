"""Whole-proof prompt formats: the conversation each public model was trained on, and its own extraction rule.

Prompts are byte for byte as in `notes/model-formats.md` ("Whole-proof models"), whose sources are:
DeepSeek-Prover-V2 `README.md @e598a57` § Quick Start and paper App. A.1/A.2 (`deepseek-v2-cot`, `deepseek-v2`);
Goedel-Prover-V2 `README.md @2e9036e` and `src/utils.py` `DeepSeekCoTHandler` / `generate_correction_prompt`
(`goedel-v2`); the `AI-MO/Kimina-Prover-Preview-Distill-7B` card as Goedel's `KiminaCoTHandler` quotes it
(`kimina-preview`); MoonshotAI/Kimina-Prover-Preview `kimina_prover_demo/error_fix.py @7abd61a` and
`utils.create_tool_message` (`kimina-2025`). `chat` is our own generic instruction format.

Repair turns: Goedel's self-correction turn (the previous reply as the assistant turn, then the fixed user text
and the errors marked `<error></error>` in 4 lines of context, at most 8 errors); Kimina 2025's error-fix turn (up
to 3 errors, each `# Error i:` with the goals before the error, the message, and a ±2-line snippet with the error
line marked `>`). The note fixes the wording and the limits; the exact layout of one error block inside those
(line-number width, blank lines between blocks) is not in the note and is our reading, marked below.

Extraction then splicing (`extract_body`): the format's rule picks the code block; the body after the first
`theorem NAME … := by` of that block is put under the ORIGINAL statement text, so a model can never change what
is proved (Goedel `replace_statement_in_proof`; the verifier still compares statements).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prover.errors import UsageError
from prover.lean.statement import Statement, _mask_comments_and_strings
from search.banned import BannedTokens
from search.proofs import Attempt, LeanMessage, ProofRequest

Conversation = list[dict[str, str]]

COT_PLAN = (
    "Before producing the Lean 4 code to formally prove the given theorem, provide a detailed proof plan outlining "
    "the main proof steps and strategies.\nThe plan should highlight key ideas, intermediate lemmas, and proof "
    "structures that will guide the construction of the final formal proof."
)
GOEDEL_CORRECTION = (
    "The proof (Round {round}) is not correct. Following is the compilation error message, where we use "
    "<error></error> to signal the position of the error.\n\n{errors}"
    "\n\nBefore producing the Lean 4 code to formally prove the given theorem, provide a detailed analysis of the "
    "error message."
)
KIMINA_PREVIEW_SYSTEM = "You are an expert in mathematics and Lean 4."
KIMINA_2025_SYSTEM = "You are an expert programmer and mathematician who helps formalizing mathematical problems in Lean 4."
# DeepSeek's handler prepends this header to a block that lacks one (model-formats.md, Extraction).
DEEPSEEK_HEADER = "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
GENERIC_SYSTEM = "You are an expert in Lean 4 and Mathlib. You write complete, correct Lean 4 proofs."

_BLOCK_LEAN4 = re.compile(r"```lean4\n(.*?)\n```", re.S)
_BLOCK_LEAN4_LOOSE = re.compile(r"```lean4\n(.*?)```", re.S)
_BLOCK_LEAN = re.compile(r"```lean\n(.*?)```", re.S)
_BLOCK_COMMENT = re.compile(r"/-(?:(?!-/).)*-/", re.S)
_LINE_COMMENT = re.compile(r"--[^\n]*")


# ---- the statement as each model sees it ---------------------------------------------------------------------


def _head(statement: str) -> str:
    """The declaration up to and including its `:=` (the original text, verbatim)."""
    return Statement.parse(statement).head


def with_sorry(request: ProofRequest, *, layout: str = "newline") -> str:
    """Header, optional informal comment and theorem ending `:= by` + sorry (`newline`: `:= by\\n  sorry`, as in
    the DeepSeek README; `inline`: `:= by sorry`; `none`: `:= by`, as Kimina Preview wants)."""
    tail = {"newline": " by\n  sorry", "inline": " by sorry", "none": " by"}[layout]
    informal = f"/-- {request.informal}-/\n" if request.informal else ""
    header = request.header.strip()
    return (f"{header}\n\n" if header else "") + informal + _head(request.statement) + tail


# ---- error rendering for repair turns ------------------------------------------------------------------------


def goedel_error_str(code: str, messages: Sequence[LeanMessage], *, limit: int = 8, context: int = 4) -> str:
    """Goedel's `get_error_str`: at most `limit` errors, each with `context` lines around it and its span marked
    `<error>…</error>` (the span runs to the message's end position, or to the end of its line when unknown).
    Layout of one block (the message text, then the marked lines) is our reading of the note."""
    lines = code.split("\n")
    blocks = []
    for m in [m for m in messages if m.severity == "error"][:limit]:
        row = min(max(m.line - 1, 0), max(len(lines) - 1, 0))
        end_row = min(max(m.end_line - 1, row), len(lines) - 1) if m.end_line else row
        marked = list(lines)
        start_col = min(m.column, len(marked[row]))
        end_col = m.end_column if m.end_line else len(marked[end_row])
        if end_row == row:
            text = marked[row]
            marked[row] = text[:start_col] + "<error>" + text[start_col:end_col] + "</error>" + text[end_col:]
        else:
            marked[row] = marked[row][:start_col] + "<error>" + marked[row][start_col:]
            marked[end_row] = marked[end_row][:end_col] + "</error>" + marked[end_row][end_col:]
        first, last = max(0, row - context), min(len(marked), end_row + context + 1)
        snippet = "\n".join(marked[first:last])
        blocks.append(f"Error {len(blocks) + 1}:\n\nCorresponding Code:\n```lean4\n{snippet}\n```\n\nError Message: {m.text.strip()}\n")
    return "\n".join(blocks)


def kimina_tool_message(code: str, messages: Sequence[LeanMessage], *, limit: int = 3, context: int = 2) -> str:
    """Kimina 2025's `create_tool_message`: up to `limit` errors, each `# Error i:`, optional goals before the
    error, the message, and the code ±`context` lines with the error line marked `>` (line numbers padded to 3)."""
    lines = code.split("\n")
    parts = []
    for i, m in enumerate([m for m in messages if m.severity == "error"][:limit], 1):
        row = min(max(m.line - 1, 0), max(len(lines) - 1, 0))
        first, last = max(0, row - context), min(len(lines), row + context + 1)
        snippet = "\n".join(f"{n + 1:03d} {'>' if n == row else '|'} {lines[n]}" for n in range(first, last))
        goals = f"Goals state before error position: \n{m.goals}\n\n" if m.goals else ""
        parts.append(f"# Error {i}:\n{goals}Error message: \n{m.text.strip()}\n\n"
                     f"Lean 4 code snippet with error:\n```lean4\n{snippet}\n```\n")
    return "\n".join(parts)


def plain_errors(messages: Sequence[LeanMessage], *, limit: int = 8) -> str:
    out = []
    for m in [m for m in messages if m.severity == "error"][:limit]:
        goals = f"\nGoals before the error:\n{m.goals}" if m.goals else ""
        out.append(f"line {m.line}, column {m.column}: {m.text.strip()}{goals}")
    return "\n\n".join(out)


# ---- extraction rules ----------------------------------------------------------------------------------------


def last_block_goedel(output: str) -> str | None:
    """Goedel / DeepSeek: the last ```` ```lean4\\n…\\n``` ````, else the last ```` ```lean4\\n…``` ````, else the last
    ```` ```lean\\n…``` ```` (all DOTALL); None when there is none."""
    for pattern in (_BLOCK_LEAN4, _BLOCK_LEAN4_LOOSE, _BLOCK_LEAN):
        found = pattern.findall(output)
        if found:
            return str(found[-1])
    return None


def last_block_kimina(output: str) -> str | None:
    """Kimina `extract_proof_from_text`: from the last ```` ```lean4 ```` block back, the first that contains all of
    `theorem`, `by`, `:=` and `import`."""
    for block in reversed(_BLOCK_LEAN4.findall(output)):
        if all(word in block for word in ("theorem", "by", ":=", "import")):
            return str(block)
    return None


@dataclass(frozen=True)
class ProofFormat:
    """One model's whole-proof conventions: its first prompt, its repair turn, its extraction rule, its defaults.

    `repair_rounds` is the model's published default for R; `sampling` its recommended temperature, top_p and
    max_tokens (model-formats.md, Recommended sampling settings).
    """

    name: str
    description: str
    first: Callable[[ProofRequest], Conversation]
    repair: Callable[[Conversation, Attempt, int], Conversation]
    extract: Callable[[str], str | None]
    repair_rounds: int = 0
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 8192

    def conversation(self, request: ProofRequest) -> Conversation:
        """The whole conversation for `request`: the first prompt, then one repair turn per earlier attempt."""
        conversation = self.first(request)
        for round_, attempt in enumerate(request.history, 1):
            conversation = self.repair(conversation, attempt, round_)
        return conversation


def _user(text: str, system: str | None = None) -> Conversation:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]


def _deepseek_cot(request: ProofRequest) -> Conversation:
    return _user(f"Complete the following Lean 4 code:\n\n```lean4\n{with_sorry(request)}\n```\n\n{COT_PLAN}")


def _deepseek_plain(request: ProofRequest) -> Conversation:
    return _user(f"Complete the following Lean 4 code:\n\n```lean4\n{with_sorry(request)}\n```")


def _goedel(request: ProofRequest) -> Conversation:
    # `lean4_code.split(":= by")[0] + ":= by sorry"`, and no newline before the closing fence.
    code = with_sorry(request, layout="none")
    return _user(f"Complete the following Lean 4 code:\n\n```lean4\n{code.split(':= by')[0]}:= by sorry```\n\n{COT_PLAN}")


def _goedel_repair(conversation: Conversation, attempt: Attempt, round_: int) -> Conversation:
    text = GOEDEL_CORRECTION.format(round=round_ - 1, errors=goedel_error_str(attempt.code, attempt.messages))
    return [*conversation, {"role": "assistant", "content": attempt.output}, {"role": "user", "content": text}]


def _kimina_preview(request: ProofRequest) -> Conversation:
    statement = with_sorry(request, layout="none")
    informal = request.informal or _head(request.statement)  # Goedel substitutes the statement lines
    prompt = "Think about and solve the following problem step by step in Lean 4."
    prompt += f"\n# Problem:{informal}"
    prompt += f"\n# Formal statement:\n```lean4\n{statement}\n```\n"
    return _user(prompt, KIMINA_PREVIEW_SYSTEM)


def _kimina_2025(request: ProofRequest) -> Conversation:
    statement = with_sorry(request, layout="inline")
    return _user("Think about and solve the following problems step by step in Lean 4." + "\n\n" + statement, KIMINA_2025_SYSTEM)


def _kimina_repair(conversation: Conversation, attempt: Attempt, round_: int) -> Conversation:
    message = kimina_tool_message(attempt.code, attempt.messages)
    return [*conversation, {"role": "assistant", "content": attempt.output}, {"role": "user", "content": message}]


def _generic(request: ProofRequest) -> Conversation:
    prompt = ("Prove the following theorem in Lean 4 with Mathlib. Reply with the complete Lean 4 code, the theorem "
              f"statement unchanged, in one ```lean4 code block.\n\n```lean4\n{with_sorry(request)}\n```")
    return _user(prompt, GENERIC_SYSTEM)


def _generic_repair(conversation: Conversation, attempt: Attempt, round_: int) -> Conversation:
    text = (f"Lean 4 rejected this proof:\n\n{plain_errors(attempt.messages)}\n\nFix the proof. Reply with the "
            "complete corrected Lean 4 code in one ```lean4 code block.")
    return [*conversation, {"role": "assistant", "content": attempt.output}, {"role": "user", "content": text}]


FORMATS: dict[str, ProofFormat] = {
    f.name: f
    for f in (
        ProofFormat("deepseek-v2-cot", "DeepSeek-Prover-V2 with its proof plan (CoT); repair: Goedel's turn",
                    _deepseek_cot, _goedel_repair, last_block_goedel, 0, 0.6, 0.95, 8192),
        ProofFormat("deepseek-v2", "DeepSeek-Prover-V2 non-CoT (one lean4 block); repair: Goedel's turn",
                    _deepseek_plain, _goedel_repair, last_block_goedel, 0, 0.6, 0.95, 8192),
        ProofFormat("goedel-v2", "Goedel-Prover-V2 (CoT) with its self-correction turn, 2 rounds",
                    _goedel, _goedel_repair, last_block_goedel, 2, 1.0, 0.95, 32768),
        ProofFormat("kimina-preview", "Kimina-Prover Preview distills (<think>, system prompt)",
                    _kimina_preview, _kimina_repair, last_block_kimina, 0, 0.6, 0.95, 8096),
        ProofFormat("kimina-2025", "Kimina-Prover 2025 with its error-fix message",
                    _kimina_2025, _kimina_repair, last_block_kimina, 1, 0.8, 0.95, 16000),
        ProofFormat("chat", "any instruction-tuned chat model: generic prompt and repair turn",
                    _generic, _generic_repair, last_block_goedel, 1, 0.7, 0.95, 8192),
    )
}

# Substrings of model names (lower case) → format, first match wins; anything else gets `chat`.
_BY_MODEL = (
    ("goedel-prover-v2", "goedel-v2"),
    ("goedel-prover", "goedel-v2"),
    ("deepseek-prover-v2", "deepseek-v2-cot"),
    ("deepseek-prover-v1.5", "deepseek-v2"),
    ("kimina-prover-preview", "kimina-preview"),
    ("kimina-prover-distill", "kimina-2025"),
    ("kimina-prover", "kimina-2025"),
)
WHOLE_PROOF_MODEL_HINTS = tuple(hint for hint, _ in _BY_MODEL)


def looks_like_whole_proof_model(model: str) -> bool:
    """Whether a model name is one of the public whole-proof models (for the `--model` usage check)."""
    low = model.lower()
    return any(hint in low for hint in WHOLE_PROOF_MODEL_HINTS) or ("kimina" in low and "preview-distill" in low)


def looks_like_tactic_model(model: str) -> bool:
    """Whether a model name is one of the public tactic (step) models the tactic prompt formats know."""
    from prover.models.prompts import FORMATS as TACTIC_FORMATS

    low = model.lower()
    return any(p in low for name in TACTIC_FORMATS.names() for p in TACTIC_FORMATS.get(name).model_patterns)


def proof_format_for(model: str, name: str | None = None) -> ProofFormat:
    """The format called `name`, or the one the model's name implies (`chat` when none does)."""
    if name is not None:
        if name not in FORMATS:
            from prover.models.registry import unknown_name_error

            raise unknown_name_error("proof prompt format", name, FORMATS)
        return FORMATS[name]
    low = model.lower()
    if "kimina-prover-preview" in low or ("kimina" in low and "preview" in low):
        return FORMATS["kimina-preview"]
    for hint, fmt in _BY_MODEL:
        if hint in low:
            return FORMATS[fmt]
    return FORMATS["chat"]


# ---- splicing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extracted:
    """The body to put under the original statement, or None with the reason the sample is rejected."""

    body: str | None
    reason: str = ""


def _strip_comments(text: str) -> str:
    return _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", text))


def extract_body(
    fmt: ProofFormat,
    output: str,
    statement: str,
    *,
    truncated: bool = False,
    banned: BannedTokens = BannedTokens(),
) -> Extracted:
    """Pick the code block by `fmt`'s rule and splice it onto `statement` (module docstring).

    Rejections (values, never exceptions): no code block (`truncated`: the generation hit max_tokens first), no
    theorem of the statement's name in the block (a different theorem), a term-mode proof where `:= by` was
    asked, an empty proof, a banned token (`sorry`, `apply?`, …).
    """
    block = fmt.extract(output)
    if block is None:
        if truncated:
            return Extracted(None, "truncated at max_tokens before a complete code block")
        return Extracted(None, "no lean4 code block" if "```" not in output else "no complete lean4 code block")
    try:
        name = Statement.parse(statement).name
    except UsageError as exc:
        return Extracted(None, f"the statement does not parse: {exc}")
    code = _strip_comments(block)
    masked = _mask_comments_and_strings(code)
    decl = re.search(rf"(?m)^[ \t]*(?:@\[[^\]]*\]\s*)*(?:theorem|lemma)\s+{re.escape(name)}(?=[\s:({{\[⦃])", masked)
    if decl is None:
        other = re.search(r"(?m)^[ \t]*(?:theorem|lemma)\s+([^\s:({\[⦃]+)", masked)
        if other is not None:
            return Extracted(None, f"a different theorem ({other.group(1)})")
        return Extracted(None, f"no theorem {name} in the code block")
    rest = code[decl.start():]
    end = re.search(r"(?m)^(?:theorem|lemma|example|def|abbrev|instance|namespace|end|section|#)\b", masked[decl.end():])
    if end is not None:
        rest = code[decl.start(): decl.end() + end.start()]
    try:
        head = Statement.parse(rest).head
    except UsageError as exc:
        return Extracted(None, f"the proof's declaration does not parse: {exc}")
    after = rest[len(head):] if rest.startswith(head) else rest[rest.find(":=") + 2:]
    match = re.match(r"\s*by\b", after)
    if match is None:
        return Extracted(None, "a term-mode proof (no `:= by`)")
    tail = after[match.end():]
    first, _, more = tail.partition("\n")
    body = (first.strip() + "\n" + textwrap.dedent(more)).strip("\n") if first.strip() else textwrap.dedent(more).strip("\n")
    body = "\n".join(line.rstrip() for line in body.splitlines() if line.strip())
    if not body.strip():
        return Extracted(None, "an empty proof")
    token = banned.find(body)
    if token is not None:
        return Extracted(None, f"banned token {token!r}")
    return Extracted(body)

