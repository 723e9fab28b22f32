"""Theorem statements as the user gives them, and the exact texts sent to Lean for them.

Accepted forms: `theorem|lemma NAME … := by sorry` (or `:= sorry`, `:= by`, `:=`, or with a real proof, which is
dropped), `example … :=`, or a bare proposition. The declaration text up to its `:=` is kept verbatim; only an
`example` gets a name (the axiom check needs one) and a bare proposition gets a whole declaration.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prover.errors import UsageError
from search.banned import IDENT_CHAR

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


# Lexical facts from Lean's tokenizer (src/Lean/Parser/Basic.lean: `quotedCharCoreFn`, `charLitFnAux`,
# `rawStrLitFnAux`, `isIdBeginEscape`): a char literal is `'c'` or `'\e'` with e one of `\ " ' n t r`, `xHH` or
# `uHHHH`; a raw string is `r` and n ≥ 0 `#`s, `"`, text with no escapes, `"` and the same n `#`s; `«…»` quotes a
# name part, which may contain `"` or `--`. A `'` or `r` glued to an identifier is part of it (`h'`, `bar"s"`).
_CHAR_LITERAL = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[\\\"'ntr])|[^\\'\n])'")
_RAW_STRING_START = re.compile(r'r(#*)"')
_IDENT_CHAR = re.compile(IDENT_CHAR)


def _mask_comments_and_strings(text: str) -> str:
    """Same length as `text`, with comments, string and char literals and «»-quoted names blanked, so that
    brackets, `:=` and command words can be scanned. Anything the scan cannot read as one of these stays visible:
    the checks built on it may refuse too much, never too little."""
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, stop: int) -> None:
        for k in range(start, min(stop, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        ch = text[i]
        glued = i > 0 and _IDENT_CHAR.match(text[i - 1]) is not None
        if text.startswith("/-", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/-", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("-/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif text.startswith("--", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif ch == "'" and not glued and (char := _CHAR_LITERAL.match(text, i)) is not None:
            blank(i, char.end())
            i = char.end()
        elif ch == "r" and not glued and (raw := _RAW_STRING_START.match(text, i)) is not None:
            close = text.find('"' + raw.group(1), raw.end())
            j = n if close < 0 else close + 1 + len(raw.group(1))
            blank(i, j)
            i = j
        elif ch == "«":
            close = text.find("»", i + 1)
            j = n if close < 0 else close + 1
            blank(i, j)
            i = j
        else:
            i += 1
    return "".join(out)


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

    def with_proof(self, tactics: Sequence[str]) -> str:
        """The declaration with a tactic proof, one tactic per line, every line indented by two spaces.

        Lean ≥ 4.31 rejects a `by` block in column 0, so indenting keeps one text valid on every toolchain.
        """
        lines = [f"  {line}" if line.strip() else line for tactic in tactics for line in tactic.splitlines()]
        return f"{self.head} by\n" + "\n".join(lines)


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
