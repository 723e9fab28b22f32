"""Training examples from a `prover datagen` folder, rendered by the prompt adapter the model is later run with.

One source of truth: the prompt of every example is `PromptFormat.prompt(PolicyRequest(...))` for tactic formats,
or the whole-proof format's own rendering for whole-proof formats, so the text a model is trained on is the text it
is prompted with when proving. The completion is what the adapter's `clean` would return (the tactic, or the
proof), followed by the format's stop text for chat formats; the end-of-sequence token is added at tokenisation.

Example kinds:

* SFT, tactic formats: `state_tactic.jsonl` → (prompt of the state, tactic);
* SFT, whole-proof formats: `proofs.jsonl` → (prompt of the statement, proof), and `repairs.jsonl` (datagen's
  `formal_statement`, `failed_proof`, `errors`, `repaired_proof`) → (repair prompt, repaired proof);
* DPO (BFS-Prover's recipe, arxiv 2502.03438 §3): at one state, chosen = the tactic on a proved path
  (`state_tactic.jsonl`), rejected = a sibling Lean rejected there (`negatives.jsonl`).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from prover.errors import UsageError
from prover.models.prompts import PromptFormat, get_prompt_format
from search.outcomes import TacticState
from search.protocols import PolicyRequest

logger = logging.getLogger(__name__)

_WS = re.compile(r"\s+")
# Chat prompts are turns of a chat template: the tokenizer must know that template (and its special tokens).
_CHAT_MARKERS = ("<|im_start|>", "<|start_header_id|>", "<start_of_turn>")


@dataclass(frozen=True)
class Example:
    """One supervised example: the prompt exactly as the adapter renders it, and the completion to learn."""

    prompt: str
    completion: str
    source: str  # state_tactic | proofs | repairs


@dataclass(frozen=True)
class Pair:
    """One preference pair at one prompt: the chosen and the rejected completion."""

    prompt: str
    chosen: str
    rejected: str


@runtime_checkable
class ProofPromptFormat(Protocol):
    """What a whole-proof prompt format gives training (the whole-proof adapters implement it).

    `proof_prompt` renders the prompt for a statement, `repair_prompt` the prompt that asks to repair a failed
    proof given Lean's errors; `completion` is the text the model must write after the prompt for that proof.
    """

    name: str

    def proof_prompt(self, header: str, formal_statement: str) -> str: ...

    def repair_prompt(self, header: str, formal_statement: str, failed_proof: str, errors: str) -> str: ...

    def completion(self, header: str, formal_statement: str, proof: str) -> str: ...


@dataclass(frozen=True)
class ChatProofFormat:
    """A whole-proof format of `prover.models.proof_prompts` as training sees it: its conversation rendered by the
    tokenizer's chat template exactly as the chat generator renders it (`prover.models.chat.render_chat`), and the
    answer as one ```lean4 block holding the whole theorem (what the formats' extraction rules read back)."""

    fmt: Any  # prover.models.proof_prompts.ProofFormat
    tokenizer: Any

    @property
    def name(self) -> str:
        return str(self.fmt.name)

    def _request(self, header: str, formal_statement: str, history: tuple[Any, ...] = ()) -> Any:
        from prover.lean.statement import Statement
        from search.proofs import ProofRequest

        statement = formal_statement.rstrip()
        return ProofRequest(Statement.parse(statement).name, header, statement, history=history)

    def proof_prompt(self, header: str, formal_statement: str) -> str:
        from prover.models.chat import render_chat

        return render_chat(self.tokenizer, self.fmt.conversation(self._request(header, formal_statement)))

    def repair_prompt(self, header: str, formal_statement: str, failed_proof: str, errors: str) -> str:
        from prover.models.chat import render_chat
        from search.proofs import Attempt, LeanMessage

        code = formal_statement + failed_proof
        attempt = Attempt(self.completion(header, formal_statement, failed_proof), code,
                          (LeanMessage(0, 0, "error", errors),) if errors else ())
        return render_chat(self.tokenizer, self.fmt.conversation(self._request(header, formal_statement, (attempt,))))

    def completion(self, header: str, formal_statement: str, proof: str) -> str:
        head = header.strip()
        return f"```lean4\n{head + chr(10) * 2 if head else ''}{formal_statement}{proof.rstrip()}\n```"


# Whole-proof formats known to training, by name; filled by the whole-proof adapters (or by a caller).
PROOF_FORMATS: dict[str, ProofPromptFormat] = {}


def register_proof_format(fmt: ProofPromptFormat) -> None:
    """Make a whole-proof format usable with `--prompt-format NAME`."""
    PROOF_FORMATS[fmt.name] = fmt


TrainFormat = PromptFormat | ProofPromptFormat | ChatProofFormat


def resolve_format(name: str, tokenizer: Any = None) -> TrainFormat:
    """A whole-proof format of that name (registered here, or one of `prover.models.proof_prompts`, rendered with
    `tokenizer`'s chat template), else the tactic prompt format (UsageError with a hint when unknown)."""
    from prover.models.proof_prompts import FORMATS as CHAT_PROOF_FORMATS

    if name in PROOF_FORMATS:
        return PROOF_FORMATS[name]
    if name in CHAT_PROOF_FORMATS:
        return ChatProofFormat(CHAT_PROOF_FORMATS[name], tokenizer)
    return get_prompt_format(name)


def format_kind(fmt: TrainFormat) -> str:
    """`tactic` or `proof`."""
    return "tactic" if isinstance(fmt, PromptFormat) else "proof"


def is_chat_format(fmt: TrainFormat, sample_prompt: str) -> bool:
    """Does the format render chat turns (so that the tokenizer needs a chat template)?"""
    return bool(getattr(fmt, "chat", False)) or any(m in sample_prompt for m in _CHAT_MARKERS)


def normalise_state(state: str) -> str:
    """The dedup key of a state: whitespace runs collapse (as `prover datagen` and `TacticState.key` do)."""
    return _WS.sub(" ", state).strip()


# ---- reading a datagen folder --------------------------------------------------------------------------------


def read_records(data_dir: Path, kind: str) -> list[dict[str, Any]]:
    """The records of `<data_dir>/<kind>.jsonl` ([] when the file is missing); a malformed line is a UsageError."""
    path = data_dir / f"{kind}.jsonl"
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise UsageError(f"{path}:{number} is not JSON (is this a `prover datagen` folder?)") from None
            if not isinstance(record, dict):
                raise UsageError(f"{path}:{number} is not a JSON object (is this a `prover datagen` folder?)")
            records.append(record)
    return records


def check_data_dir(data_dir: Path) -> None:
    """A UsageError unless `data_dir` is a folder holding at least one datagen file."""
    if not data_dir.is_dir():
        raise UsageError(f"--data {data_dir} is not a directory (make one with `prover datagen`)")
    known = ("state_tactic", "proofs", "negatives", "repairs", "annotated")
    if not any((data_dir / f"{k}.jsonl").is_file() for k in known):
        raise UsageError(f"--data {data_dir} holds no datagen files (state_tactic.jsonl, proofs.jsonl, negatives.jsonl)")


def _field(record: Mapping[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise UsageError(f"{where}: a record has no text field '{key}' (is this a `prover datagen` folder?)")
    return value


def _tactic_requests(records: Sequence[Mapping[str, Any]]) -> list[tuple[PolicyRequest, str]]:
    """(request, tactic) per state-tactic record. Steps of one recorded proof (origin `proof`, in order) carry the
    tactics before them, as the search passes `tactics_so_far`; tree steps carry none (their path is not kept)."""
    out: list[tuple[PolicyRequest, str]] = []
    so_far: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for record in records:
        state = _field(record, "state_before", "state_tactic.jsonl")
        tactic = _field(record, "tactic", "state_tactic.jsonl")
        path: tuple[str, ...] = ()
        if record.get("origin") == "proof":
            key = (str(record.get("task", "")), str(record.get("id", "")), json.dumps(record.get("run", {}), sort_keys=True))
            path = tuple(so_far[key])
            so_far[key].append(tactic)
        request = PolicyRequest(
            state=TacticState(goals=tuple(state.split("\n\n"))), theorem_name=str(record.get("theorem") or ""),
            tactics_so_far=path,
        )
        out.append((request, tactic))
    return out


def _tactic_completion(fmt: PromptFormat, tactic: str, chat: bool) -> str:
    # The model must end its answer where the adapter cuts it: after the tactic, the chat turn's end text.
    return tactic + (fmt.stop[0] if chat and fmt.stop else "")


def sft_examples(data_dir: Path, fmt: TrainFormat) -> list[Example]:
    """The supervised examples of a datagen folder for one format (UsageError when there are none)."""
    check_data_dir(data_dir)
    examples: list[Example] = []
    if isinstance(fmt, PromptFormat):
        pairs = _tactic_requests(read_records(data_dir, "state_tactic"))
        chat = bool(pairs) and is_chat_format(fmt, fmt.prompt(pairs[0][0]))
        examples = [Example(fmt.prompt(r), _tactic_completion(fmt, t, chat), "state_tactic") for r, t in pairs]
        what = "state_tactic.jsonl (proved-path steps)"
    else:
        for record in read_records(data_dir, "proofs"):
            header = str(record.get("header") or "")
            statement = _field(record, "formal_statement", "proofs.jsonl")
            proof = _field(record, "proof", "proofs.jsonl")
            examples.append(Example(fmt.proof_prompt(header, statement), fmt.completion(header, statement, proof), "proofs"))
        for record in read_records(data_dir, "repairs"):
            header = str(record.get("header") or "")
            statement = _by_block(_field(record, "formal_statement", "repairs.jsonl"))
            errors = record.get("errors") or ""
            prompt = fmt.repair_prompt(
                header, statement, _field(record, "failed_proof", "repairs.jsonl"),
                "\n".join(map(str, errors)) if isinstance(errors, list) else str(errors),
            )
            key = "repaired_proof" if "repaired_proof" in record else "proof"
            proof = _field(record, key, "repairs.jsonl")
            examples.append(Example(prompt, fmt.completion(header, statement, proof), "repairs"))
        what = "proofs.jsonl / repairs.jsonl"
    if not examples:
        raise UsageError(f"--data {data_dir} has no training examples for format '{fmt.name}' (needs {what})")
    return examples


def _by_block(statement: str) -> str:
    """The statement ending `:= by` and a newline, as `proofs.jsonl` has it (`repairs.jsonl` keeps the `:=` text)."""
    text = statement.rstrip()
    return statement if text.endswith("by") else f"{text} by\n"


def dpo_pairs(data_dir: Path, fmt: TrainFormat, max_pairs_per_state: int = 8) -> list[Pair]:
    """BFS-Prover pairs: at each state with a proved-path tactic and Lean-rejected siblings, (chosen, rejected).

    At most `max_pairs_per_state` pairs per state (proved tactics × rejected ones, in file order)."""
    check_data_dir(data_dir)
    if not isinstance(fmt, PromptFormat):
        raise UsageError(f"dpo pairs are tactic pairs at one state: '{fmt.name}' is a whole-proof format")
    good = _tactic_requests(read_records(data_dir, "state_tactic"))
    by_state: dict[str, list[tuple[PolicyRequest, str]]] = defaultdict(list)
    for request, tactic in good:
        by_state[normalise_state(request.state.pp)].append((request, tactic))
    rejected: dict[str, list[str]] = defaultdict(list)
    for record in read_records(data_dir, "negatives"):
        state = normalise_state(_field(record, "state_before", "negatives.jsonl"))
        tactic = _field(record, "tactic", "negatives.jsonl")
        if tactic not in rejected[state]:
            rejected[state].append(tactic)
    pairs: list[Pair] = []
    chat = bool(good) and is_chat_format(fmt, fmt.prompt(good[0][0]))
    for state, chosen in by_state.items():
        count = 0
        for request, tactic in chosen:
            prompt = fmt.prompt(request)
            for bad in rejected.get(state, []):
                if bad == tactic or count >= max_pairs_per_state:
                    continue
                pairs.append(Pair(prompt, _tactic_completion(fmt, tactic, chat), _tactic_completion(fmt, bad, chat)))
                count += 1
    if not pairs:
        raise UsageError(
            f"--data {data_dir} has no preference pairs: no state has both a proved-path tactic (state_tactic.jsonl) "
            "and a Lean-rejected sibling (negatives.jsonl); sweep with --log-samples"
        )
    return pairs


def dedup(examples: Iterable[Example]) -> list[Example]:
    """Examples with distinct (prompt, completion), first kept."""
    seen: set[tuple[str, str]] = set()
    out: list[Example] = []
    for ex in examples:
        if (ex.prompt, ex.completion) not in seen:
            seen.add((ex.prompt, ex.completion))
            out.append(ex)
    return out
