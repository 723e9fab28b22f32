"""Theorem statements as the user gives them, and the exact texts sent to Lean for them.

Accepted forms: `theorem|lemma NAME … := by sorry` (or `:= sorry`, `:= by`, `:=`, or with a real proof, which is
dropped), `example … :=`, or a bare proposition. The declaration text up to its `:=` is kept verbatim; only an
`example` gets a name (the axiom check needs one) and a bare proposition gets a whole declaration.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from prover.errors import UsageError
from prover.lean.lexing import mask_comments_and_strings

BARE_NAME = "prover_goal"
EXAMPLE_NAME = "prover_example"

# Attributes and modifiers before a declaration keyword, and the characters of a declaration's name.
DECL_MODIFIERS = r"(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|noncomputable)\s+)*"
DECL_NAME = r"[^\s:({\[⦃]+"
_DECL = re.compile(rf"^(?P<mods>{DECL_MODIFIERS})(?P<kw>theorem|lemma|example)\b")
_NAMED = re.compile(rf"^(?:theorem|lemma)\s+(?P<name>{DECL_NAME})")
# Where a declaration taken from a file ends: the next top-level command.
_NEXT_COMMAND = re.compile(
    r"^[ \t]*(?:theorem|lemma|example|def|abbrev|instance|structure|inductive|class|namespace|end|section|#)\b", re.M
)
_OPEN = "([{⦃⟨"
_CLOSE = ")]}⦄⟩"


# The one lexer (prover/lean/lexing.py) for statements, headers and proofs, so that all of them are read as Lean
# reads them.
_mask_comments_and_strings = mask_comments_and_strings


_BINDS_VALUE = re.compile(r"(?<![\w.'])(?:let|have|set)\s")


def _proof_start(text: str) -> int | None:
    """Index of the `:=` that starts the declaration's value, or None.

    It is the first `:=` outside brackets (binder defaults such as `(x : ℕ := 0)` sit inside brackets) that does not
    close a `let`/`have` inside the type (`∀ x, let y := f x; …`, as in some MathOlympiadBench statements)."""
    masked = _mask_comments_and_strings(text)
    depth = 0
    pending = 0  # `let`/`have` at depth 0 whose `:=` has not been seen yet
    i = 0
    while i < len(masked):
        ch = masked[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and masked.startswith(":=", i):
            if pending == 0:
                return i
            pending -= 1
            i += 2
            continue
        elif depth == 0 and _BINDS_VALUE.match(masked, i):
            pending += 1
        i += 1
    return None


def split_header(header: str) -> tuple[str, str]:
    """Split a header into (imports, preamble): Lean accepts `import` only at the top of an env-less command, and
    everything after the imports can be elaborated later on top of the imported environment."""
    lines = header.splitlines(keepends=True)
    masked = _mask_comments_and_strings(header).splitlines(keepends=True)
    cut = 0
    for index, line in enumerate(masked):
        stripped = line.strip()
        if stripped.startswith("import ") or stripped in {"import", ""} or stripped == "prelude":
            cut = index + 1
            continue
        break
    imports = "".join(lines[:cut])
    return imports, "".join(lines[cut:])


@dataclass(frozen=True)
class Statement:
    """A declaration to prove.

    Attributes:
        original: the text as the user gave it.
        head: the declaration up to and including its `:=`; what Lean sees before the proof.
        name: the declaration's name (`#print axioms` needs it).
    """

    original: str
    head: str
    name: str

    @classmethod
    def parse(cls, text: str) -> Statement:
        """Parse a statement; raises UsageError for an empty text or a declaration with no name."""
        stripped = text.strip()
        if not stripped:
            raise UsageError("the statement is empty")
        decl = _DECL.match(stripped)
        if decl is None:
            # A bare proposition: the whole text is the type.
            return cls(original=text, head=f"theorem {BARE_NAME} : {stripped} :=", name=BARE_NAME)
        start = _proof_start(stripped)
        head = (stripped[: start + 2] if start is not None else stripped + " :=").rstrip()
        if decl.group("kw") == "example":
            mods = decl.group("mods")
            head = f"{mods}theorem {EXAMPLE_NAME}{head[decl.end():]}"
            return cls(original=text, head=head, name=EXAMPLE_NAME)
        named = _NAMED.match(stripped[len(decl.group("mods")) :])
        if named is None:
            raise UsageError(f"the {decl.group('kw')} has no name: {stripped.splitlines()[0][:80]}")
        return cls(original=text, head=head, name=named.group("name"))

    def with_sorry(self) -> str:
        """The declaration with `by sorry` as its proof: elaborating it yields the root proof state."""
        return f"{self.head} by sorry"

    def renamed(self, name: str) -> str:
        """The head as `theorem NAME …:=` with another name and no attributes or modifiers: the same binders and
        type, for the verifier's reference declaration."""
        decl = _DECL.match(self.head)
        named = _NAMED.match(self.head[len(decl.group("mods")) :]) if decl else None
        if decl is None or named is None:
            raise UsageError(f"not a named declaration: {self.head[:80]}")
        return f"theorem {name}{self.head[len(decl.group('mods')) + named.end():]}"

    def with_proof(self, tactics: Sequence[str]) -> str:
        """The declaration with a tactic proof: the one text sent to Lean, and the one the verifier's text checks
        read (`proof_body`)."""
        return f"{self.head} by\n" + proof_body(tactics)


# Line breaks Python's `str.splitlines` knows besides `\n`. To Lean only `\n` ends a line (a `--` comment runs to
# it: src/Lean/Parser/Basic.lean `whitespace`), so text that splits differently for Python and for Lean could hide
# code in a comment; tactics and proofs with any of these are refused (`line_separator_in`).
OTHER_LINE_SEPARATORS = frozenset("\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def line_separator_in(text: str) -> str | None:
    """The first line separator other than `\n` in `text` (as an escape such as `'\\r'`), or None."""
    for ch in text:
        if ch in OTHER_LINE_SEPARATORS:
            return ascii(ch)
    return None


def proof_body(tactics: Sequence[str]) -> str:
    """The tactic block as sent after `by`: one tactic after another, every line indented by two spaces.

    Lines are split on `\n` only (the verifier refuses any other line separator first). Lean ≥ 4.31 rejects a `by`
    block in column 0, so indenting keeps one text valid on every toolchain. A multi-line tactic keeps its
    meaning. In tactic mode the REPL parses each tactic as one `tactic`-category item starting at column 0
    (REPL/Snapshots.lean `ProofSnapshot.runString`), so its later lines always continue it, and at v4.24
    `have h : P := by⏎simp` is valid there. Here, when a continuation line is not deeper than the tactic's first
    line, all its continuation lines move right together until they sit two columns right of the first line;
    otherwise the nested block's first tactic would share the outer block's column and `sepByIndent`
    (`checkColEq`) would give it every following tactic.
    """
    lines: list[str] = []
    for tactic in tactics:
        first, *rest = tactic.split("\n")
        base = _indent(first)
        # Only lines with code count: inside a comment or a string layout means nothing (an annotation's goal).
        code = mask_comments_and_strings(tactic).split("\n")[1:]
        deepest_needed = min((_indent(line) for line in code if line.strip()), default=base + 2)
        shift = " " * max(0, base + 2 - deepest_needed)
        lines.append(first)
        lines.extend(shift + line if line.strip() else line for line in rest)
    return "\n".join(f"  {line}" if line.strip() else line for line in lines)


def split_block(block: str) -> tuple[str, ...]:
    """The tactics of a tactic block: after dedenting, a line in column 0 starts a tactic and deeper lines continue
    it (a nested block, a long term), as Lean's `sepByIndent` reads a block (src/Lean/Parser/Term.lean)."""
    tactics: list[str] = []
    for line in textwrap.dedent(block).split("\n"):
        if not line.strip():
            if tactics:
                tactics[-1] += "\n"
            continue
        if line[0].isspace() and tactics:
            tactics[-1] += "\n" + line
        else:
            tactics.append(line)
    return tuple(t.rstrip("\n") for t in tactics)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def split_file(text: str, theorem: str) -> tuple[str, str]:
    """Split a Lean file into (header, statement text) for the declaration named `theorem`.

    The header is everything before the declaration (imports, options, `open`s, earlier definitions); the
    statement runs to the next top-level declaration or the end. Raises UsageError when the name is absent.
    """
    masked = _mask_comments_and_strings(text)
    pattern = re.compile(rf"^[ \t]*(?P<decl>{DECL_MODIFIERS}(?:theorem|lemma)\s+{re.escape(theorem)}(?=[\s:({{\[⦃]))", re.M)
    match = pattern.search(masked)
    if match is None:
        raise UsageError(f"no theorem named {theorem!r} in the file")
    end_match = _NEXT_COMMAND.search(masked, match.end())
    end = end_match.start() if end_match else len(text)
    start = match.start("decl")
    return text[:start], text[start:end].rstrip() + "\n"
