"""Proofs to check, as users hand them in: `.lean` files, JSONL lines, or the same records as JSON over HTTP.

Record shapes (one proof each):
- `{"id", "code"}`: a whole Lean file; the theorem checked is the one named by the statement the proof must prove
  (`--statements`), else the file's last `theorem`/`lemma` (earlier ones are helper lemmas, part of its header);
- `{"id", "header"?, "statement", "proof"}`: the header (default: the MiniF2F header), the statement text (its own
  proof, if any, is dropped) and the proof: the text of a `by` block (a leading `:=` or `by` is allowed);
- kimina's `{"custom_id", "proof"|"code"}` is read as `{"id", "code"}` (POST /verify).
A `.lean` file gives one proof per `theorem`/`lemma` in it, each with everything before it as its header.

Nothing here raises on bad input: a record that cannot be read becomes a ProofItem with `error` set, so that a
batch goes on and the verdict line says why.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prover.config import DEFAULT_HEADER
from prover.errors import UsageError
from prover.lean.statement import (
    DECL_MODIFIERS,
    DECL_NAME,
    Statement,
    _mask_comments_and_strings,
    split_block,
    split_file,
)

# A proof longer than this is refused before it reaches Lean (a 10 MB "proof" is an attack or a runaway sample).
MAX_PROOF_CHARS = 1_000_000

_THEOREM = re.compile(rf"^[ \t]*{DECL_MODIFIERS}(?:theorem|lemma)\s+(?P<name>{DECL_NAME})", re.M)


@dataclass(frozen=True)
class Expected:
    """A statement a proof must prove exactly, with the header it is stated under."""

    statement: str
    header: str


@dataclass(frozen=True)
class ProofItem:
    """One proof to check.

    Attributes:
        id: the caller's identifier (echoed in the verdict).
        header: the text before the statement (imports, options, `open`s, helper lemmas).
        statement: the theorem's text as given (its own proof, if any, is not used).
        tactics: the proof as a tactic script (what `Statement.with_proof` puts after `by`).
        theorem: the theorem's name, when known (for `--statements` lookups and the verdict line).
        error: why the record cannot be checked at all (a verdict `error` is reported), or "".
        header_given: False when a record gave no header: the expected statement's header (else the default) is used.
        expected: the statement this proof must prove, from the record's `expected_statement` (and
            `expected_header`); `--statements` given to the checker take precedence.
    """

    id: str
    header: str = ""
    statement: str = ""
    tactics: tuple[str, ...] = ()
    theorem: str = ""
    error: str = ""
    header_given: bool = True
    expected: Expected | None = None

    @classmethod
    def failed(cls, id: str, reason: str) -> ProofItem:
        return cls(id=id, error=reason)


def theorem_names(text: str) -> list[str]:
    """The names of the `theorem`/`lemma` declarations of a Lean file, in order (comments and strings ignored)."""
    return [m.group("name") for m in _THEOREM.finditer(_mask_comments_and_strings(text))]


def proof_tactics(body: str) -> tuple[str, ...]:
    """A declaration's value (the text after its `:=`) as a tactic script for `Statement.with_proof`.

    A `by` block becomes its tactics, dedented (a tactic on the `by` line stays first); a term proof becomes
    `exact <term>`, its continuation lines indented below it. Lean checks whatever results: a layout this cannot
    carry over only makes Lean reject the proof, never accept a different one.
    """
    text = body.strip()
    if text.startswith(":="):
        text = text[2:].strip()
    if re.match(r"by(?![\w.'!?])", text):
        block = text[2:]
        first, _, rest = block.partition("\n")
        tactics = [first.strip()] if first.strip() else []
        return (*tactics, *split_block(rest))
    if not text:
        return ()
    first, _, rest = text.partition("\n")
    term = "exact " + first.strip()
    if rest.strip():
        term += "\n" + textwrap.indent(textwrap.dedent(rest).strip("\n"), "  ")
    return (term,)


def script_tactics(proof: str) -> tuple[str, ...]:
    """A record's `proof` (a tactic script, optionally after `:=` and/or `by`) as tactics."""
    text = proof.strip()
    if text.startswith(":="):
        text = text[2:].strip()
    if not re.match(r"by(?![\w.'!?])", text):
        text = "by\n" + textwrap.dedent(proof.lstrip("\n") if not proof.strip().startswith(":=") else text)
    return proof_tactics(text)


def from_code(id: str, code: str, theorem: str | None = None) -> ProofItem:
    """A whole Lean file as one proof of `theorem` (default: its last theorem or lemma)."""
    names = theorem_names(code)
    if not names:
        return ProofItem.failed(id, "no theorem or lemma in the code")
    name = theorem if theorem is not None else names[-1]
    if name not in names:
        return ProofItem.failed(id, f"no theorem named {name!r} in the code")
    try:
        header, decl = split_file(code, name)
        return _item(id, header, decl, name)
    except UsageError as exc:
        return ProofItem.failed(id, str(exc))


def _trim(text: str) -> str:
    """`text` without trailing comments: a doc comment of the next declaration that `split_file` left at the end of
    a header or of a proof would be a dangling comment to Lean (a parse error at the end of the input)."""
    return text[: len(_mask_comments_and_strings(text).rstrip())] + "\n"


def _item(id: str, header: str, decl: str, name: str) -> ProofItem:
    """A declaration with its proof: split into the statement and the tactic script."""
    header, decl = _trim(header) if header.strip() else header, _trim(decl)
    statement = Statement.parse(decl)
    stripped = decl.strip()
    if not stripped.endswith(":=") and len(statement.head) >= len(stripped):
        return ProofItem(id=id, header=header, statement=decl, theorem=name, error="the theorem has no proof")
    body = stripped[len(statement.head) :]
    return ProofItem(id=id, header=header, statement=statement.head, tactics=proof_tactics(body), theorem=name)


def from_record(record: Any, fallback_id: str, theorem: str | None = None) -> ProofItem:
    """A JSON record of one of the accepted shapes (module docstring) as a ProofItem."""
    if not isinstance(record, dict):
        return ProofItem.failed(fallback_id, f"expected a JSON object, got {type(record).__name__}")
    raw_id = record.get("id", record.get("custom_id", fallback_id))
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
        return ProofItem.failed(fallback_id, "`id` must be a string or an integer")
    id = str(raw_id)
    texts = {
        k: v for k, v in record.items()
        if k in ("code", "header", "statement", "proof", "expected_statement", "expected_header")
    }
    for key, value in texts.items():
        if not isinstance(value, str):
            return ProofItem.failed(id, f"`{key}` must be a string")
        problem = _text_problem(value)
        if problem:
            return ProofItem.failed(id, f"`{key}` {problem}")
    if "expected_statement" not in texts:
        return _from_texts(id, record, texts, theorem)
    expected = Expected(texts["expected_statement"], texts.get("expected_header", DEFAULT_HEADER))
    try:
        name = Statement.parse(expected.statement).name
    except UsageError as exc:
        return ProofItem.failed(id, f"`expected_statement`: {exc}")
    # A whole file is checked on the theorem the expected statement names.
    return replace(_from_texts(id, record, texts, theorem or name), expected=expected)


def _from_texts(id: str, record: dict[str, Any], texts: dict[str, str], theorem: str | None) -> ProofItem:
    if "code" in texts and "statement" not in texts:
        return from_code(id, texts["code"], theorem)
    if "custom_id" in record and "proof" in texts and "statement" not in texts:
        return from_code(id, texts["proof"], theorem)  # kimina: `proof` holds a whole file
    if "statement" not in texts or "proof" not in texts:
        return ProofItem.failed(id, "a record needs `code`, or `statement` and `proof`")
    header = texts.get("header")
    try:
        statement = Statement.parse(texts["statement"])
    except UsageError as exc:
        return ProofItem.failed(id, str(exc))
    return ProofItem(
        id=id, header=DEFAULT_HEADER if header is None else header, statement=texts["statement"],
        tactics=script_tactics(texts["proof"]), theorem=statement.name, header_given=header is not None,
    )


def _text_problem(text: str) -> str:
    if len(text) > MAX_PROOF_CHARS:
        return f"is {len(text) / 1e6:.1f} MB long, over the {MAX_PROOF_CHARS / 1e6:g} MB limit"
    try:
        text.encode("utf-8")  # a lone surrogate (JSON `\udc80`) cannot go to Lean
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    return ""


def read_jsonl(path: Path, theorem_for: Any = None) -> Iterator[ProofItem]:
    """The proofs of a JSONL file, one per non-blank line; an unreadable line is an item with `error`.

    `theorem_for(id)` may name the theorem a `code` record must prove (from `--statements`).
    """
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            fallback = f"{path.name}:{number}"
            if not raw.strip():
                continue
            if len(raw) > 2 * MAX_PROOF_CHARS:
                yield ProofItem.failed(fallback, f"the line is {len(raw) / 1e6:.1f} MB long, over the limit")
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield ProofItem.failed(fallback, f"the line is not valid UTF-8 ({exc.reason} at byte {exc.start})")
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                yield ProofItem.failed(fallback, f"the line is not JSON: {exc}")
                continue
            raw_id = record.get("id", record.get("custom_id")) if isinstance(record, dict) else None
            yield from_record(record, fallback, theorem_for(str(raw_id)) if theorem_for and raw_id is not None else None)


def read_lean(path: Path) -> Iterator[ProofItem]:
    """Every theorem and lemma of a `.lean` file, each with the file's text before it as its header."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield ProofItem.failed(str(path), f"cannot read the file: {exc.strerror or exc}")
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield ProofItem.failed(str(path), f"the file is not valid UTF-8 ({exc.reason} at byte {exc.start})")
        return
    names = theorem_names(text)
    if not names:
        yield ProofItem.failed(str(path), "no theorem or lemma in the file")
    for name in names:
        id = f"{path}:{name}"
        if len(text) > MAX_PROOF_CHARS:
            yield ProofItem.failed(id, f"the file is over the {MAX_PROOF_CHARS / 1e6:g} MB limit")
            continue
        try:
            header, decl = split_file(text, name)
            yield _item(id, header, decl, name)
        except UsageError as exc:
            yield ProofItem.failed(id, str(exc))


def read_inputs(paths: list[Path], theorem_for: Any = None) -> Iterator[ProofItem]:
    """The proofs of every input in order: `.lean` files and JSONL files (any other name is read as JSONL)."""
    for path in paths:
        if path.suffix == ".lean":
            yield from read_lean(path)
        else:
            yield from read_jsonl(path, theorem_for)


def read_statements(paths: list[Path]) -> dict[str, Expected]:
    """The expected statements of `--statements` files, keyed by id and by theorem name.

    JSONL lines `{"id", "statement" | "formal_statement", "header"?}` (the MiniF2F JSONL shape) or `.lean` files
    (every theorem, keyed by name and by `PATH:NAME`). Raises UsageError on anything unreadable: a guard that
    silently lost statements would let proofs through unguarded.
    """
    out: dict[str, Expected] = {}
    by_name: dict[str, list[Expected]] = {}

    def add(key: str, name: str, expected: Expected) -> None:
        out[key] = expected
        by_name.setdefault(name, []).append(expected)

    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--statements {path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") from None
        if path.suffix == ".lean":
            for name in theorem_names(text):
                header, decl = split_file(text, name)
                add(f"{path}:{name}", name, Expected(decl, header))
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                statement = record.get("statement", record.get("formal_statement"))
                header = record.get("header", DEFAULT_HEADER)
                if not isinstance(statement, str) or not isinstance(header, str):
                    raise ValueError("needs a string `statement` (or `formal_statement`) and an optional `header`")
                parsed = Statement.parse(statement)
            except (ValueError, AttributeError, UsageError) as exc:
                raise UsageError(f"--statements {path}:{number}: {exc}") from None
            add(str(record.get("id", parsed.name)), parsed.name, Expected(statement, header))
    for name, found in by_name.items():
        if len(found) == 1:  # a name two statements share selects neither: only their ids do
            out.setdefault(name, found[0])
    if not out:
        raise UsageError(f"--statements: no statement in {', '.join(map(str, paths))}")
    return out


def count_inputs(paths: list[Path]) -> int:
    """How many proofs `read_inputs` will yield (for a progress bar's total): one pass over the files."""
    total = 0
    for path in paths:
        if path.suffix == ".lean":
            try:
                total += max(1, len(theorem_names(path.read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError):
                total += 1
            continue
        with path.open("rb") as stream:
            total += sum(1 for line in stream if line.strip())
    return total


def check_readable(paths: list[Path]) -> None:
    """Refuse (UsageError) inputs that do not exist, before anything starts."""
    if not paths:
        raise UsageError("no input: give .lean or .jsonl files")
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{path} is not a file")
