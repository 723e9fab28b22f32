"""Where Lean 4's tokenizer sees comments, string and char literals: a mask of a text, for the checks that scan it.

Each rule follows Lean v4.24's parser (src/Lean/Parser/Basic.lean, `tokenFnAux`/`tokenFnCore`, `whitespace`,
`finishCommentBlock`, `strLitFnAux`, `quotedCharCoreFn`, `charLitFnAux`, `rawStrLitFnAux`, `numberFnAux`,
`identFnAux`, `interpolatedStrFn`; identifier characters from src/Init/Meta.lean `isIdFirst`/`isIdRest`/
`isLetterLike`/`isSubScriptAlnum`):

- a line comment runs from `--` to the next `\\n` and only `\\n` (`\\r`, `\\u2028`, … end no comment);
- `/-` opens a block comment that nests and ends at the matching `-/`;
- at the start of a token `"` opens a string (escapes with `\\`), `'` a char literal unless the next character is
  also `'`, a digit a number, `r"`/`r#"` a raw string, and an identifier start (ASCII letter, `_`, a letter-like
  character, `«`) an identifier, which then also takes `'`, `!`, `?`, digits and subscripts (so `h'` and `s!` are
  names, but after `2` or after `ᶜ`, which is not an identifier character, a `'` opens a char literal);
- a string that follows `s!`, `m!`, `f!`, `throwError`, … is *interpolated*: `{…}` holds a term, which may contain
  strings of its own (`s!"{'"'}"` is one literal). Which strings are interpolated is up to the grammar, not the
  tokenizer, so a string whose plain and interpolated readings end at different places is reported as ambiguous:
  the verifier refuses such a proof rather than guess.

Where this module cannot tell what Lean would do (a Latin-1 letter, which only newer Lean versions take as an
identifier character, followed by `'`), it reports an ambiguity too. The mask keeps the text's length and its
newlines, so positions and lines carry over.
"""

from __future__ import annotations

from dataclasses import dataclass

_ESCAPES_AFTER_BACKSLASH = 1  # `\x`, `\u`, `\n`, …: the mask only needs to skip the character after `\`


def is_letter_like(c: str) -> bool:
    """src/Init/Meta.lean `isLetterLike` (v4.24): Greek (but λ, Π, Σ), Coptic, polytonic Greek, letter-like
    symbols, mathematical alphanumerics."""
    v = ord(c)
    return (
        (0x3B1 <= v <= 0x3C9 and v != 0x3BB)
        or (0x391 <= v <= 0x3A9 and v not in (0x3A0, 0x3A3))
        or 0x3CA <= v <= 0x3FB
        or 0x1F00 <= v <= 0x1FFE
        or 0x2100 <= v <= 0x214F
        or 0x1D49C <= v <= 0x1D59F
    )


def is_subscript_alnum(c: str) -> bool:
    """src/Init/Meta.lean `isSubScriptAlnum`: ₀-₉, ₐ-ₜ, ᵢ-ᵪ."""
    v = ord(c)
    return 0x2080 <= v <= 0x2089 or 0x2090 <= v <= 0x209C or 0x1D62 <= v <= 0x1D6A


def is_id_first(c: str) -> bool:
    """`isIdFirst`: `Char.isAlpha` is ASCII only in Lean."""
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_" or is_letter_like(c)


def is_id_rest(c: str) -> bool:
    """`isIdRest`."""
    return is_id_first(c) or ("0" <= c <= "9") or c in "'!?" or is_subscript_alnum(c)


def _uncertain_id_char(c: str) -> bool:
    # Latin-1 and Latin Extended-A letters became identifier characters in a later Lean than v4.24; which one the
    # user's Lean is, this module does not know.
    v = ord(c)
    return (0xC0 <= v <= 0x17F and v not in (0xD7, 0xF7)) or v == 0x2C7C


# Tokens after which the grammar reads an interpolated string (Init/Data/ToString/Macro.lean `s!`,
# Lean/Message.lean `m!`, Init/Data/Format/Macro.lean `f!`, Lean/Exception.lean `throwError`/`throwErrorAt`,
# Lean/Log.lean `logInfo`…, Init/Util.lean `dbg_trace`). Only used to choose the reading for the mask of a
# statement or header; proofs with an ambiguous string are refused whatever the token.
_INTERPOLATING = ("s!", "m!", "f!", "throwError", "throwErrorAt", "logInfo", "logWarning", "logError", "dbg_trace")


@dataclass(frozen=True)
class Masked:
    """`text` with comments, strings, char literals and «»-quoted name parts blanked (same length, newlines
    kept); `ambiguity` says why Lean's reading of the text cannot be known here (None when it can)."""

    text: str
    ambiguity: str | None = None


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.out = list(text)
        self.ambiguity: str | None = None

    def blank(self, start: int, stop: int) -> None:
        for k in range(start, min(stop, self.n)):
            if self.out[k] != "\n":
                self.out[k] = " "

    def ambiguous(self, why: str) -> None:
        if self.ambiguity is None:
            self.ambiguity = why

    # ------------------------------------------------------------------ pieces, each returns the end index

    def block_comment(self, i: int) -> int:
        depth, j = 1, i + 2
        while j < self.n and depth:
            if self.s.startswith("/-", j):
                depth, j = depth + 1, j + 2
            elif self.s.startswith("-/", j):
                depth, j = depth - 1, j + 2
            else:
                j += 1
        return j

    def line_comment(self, i: int) -> int:
        j = self.s.find("\n", i)
        return self.n if j < 0 else j

    def plain_string(self, i: int) -> int:
        """`strLitFnAux`: from the opening `"` to just past the closing one (or the end)."""
        j = i + 1
        while j < self.n and self.s[j] != '"':
            j += 1 + _ESCAPES_AFTER_BACKSLASH if self.s[j] == "\\" else 1
        return min(j + 1, self.n)

    def interpolated_string(self, i: int) -> int:
        """`interpolatedStrFn`: like a string, but `{` opens a term that runs to its matching `}`."""
        j = i + 1
        while j < self.n:
            c = self.s[j]
            if c == "\\":
                j += 2
            elif c == '"':
                return j + 1
            elif c == "{":
                j = self.code(j + 1, closing="}")
                j += 1  # the `}`
            else:
                j += 1
        return self.n

    def string(self, i: int, prev_token: str) -> int:
        plain = self.plain_string(i)
        sub = _Lexer(self.s)
        interpolated = sub.interpolated_string(i)
        if plain != interpolated:
            self.ambiguous(f"a string literal reads differently as an interpolated string: {self.s[i:plain][:40]!r}")
            return interpolated if prev_token in _INTERPOLATING else plain
        return plain

    def char_literal(self, i: int) -> int | None:
        """`charLitFnAux`: `'c'` or `'\\e'`; None where Lean would report a malformed literal (the proof then
        fails in Lean, so nothing needs masking)."""
        j = i + 1
        if j >= self.n:
            return None
        if self.s[j] == "\\":
            k = j + 1
            if k < self.n and self.s[k] == "x":
                k += 3
            elif k < self.n and self.s[k] == "u":
                k += 5
            else:
                k += 1
        else:
            k = j + 1
        return k + 1 if k < self.n and self.s[k] == "'" else None

    def raw_string(self, i: int) -> int | None:
        """`rawStrLitFnAux`: `r`, n `#`s, `"`, anything, `"`, n `#`s."""
        j = i + 1
        while j < self.n and self.s[j] == "#":
            j += 1
        if j >= self.n or self.s[j] != '"':
            return None
        close = self.s.find('"' + "#" * (j - i - 1), j + 1)
        return self.n if close < 0 else close + 1 + (j - i - 1)

    def identifier(self, i: int) -> int:
        """`identFnAux`: name parts (plain or «quoted») joined by `.`; a «» part is blanked."""
        j = i
        while j < self.n:
            if self.s[j] == "«":
                close = self.s.find("»", j + 1)
                end = self.n if close < 0 else close + 1
                self.blank(j, end)
                j = end
            elif is_id_first(self.s[j]):
                j += 1
                while j < self.n and is_id_rest(self.s[j]):
                    j += 1
            else:
                break
            if j + 1 < self.n and self.s[j] == "." and (is_id_first(self.s[j + 1]) or self.s[j + 1] == "«"):
                j += 1
                continue
            break
        return j

    def number(self, i: int) -> int:
        """`numberFnAux`: decimal (with `.digits` and an exponent), `0x`, `0b`, `0o`; never takes a `'`."""
        j = i + 1
        if self.s[i] == "0" and j < self.n and self.s[j] in "xXbBoO":
            j += 1
            while j < self.n and (self.s[j].isascii() and self.s[j].isalnum()):
                j += 1
            return j
        while j < self.n and "0" <= self.s[j] <= "9":
            j += 1
        if j + 1 < self.n and self.s[j] == "." and "0" <= self.s[j + 1] <= "9":
            j += 1
            while j < self.n and "0" <= self.s[j] <= "9":
                j += 1
        if j < self.n and self.s[j] in "eE":
            k = j + 1
            if k < self.n and self.s[k] in "+-":
                k += 1
            if k < self.n and "0" <= self.s[k] <= "9":
                j = k
                while j < self.n and "0" <= self.s[j] <= "9":
                    j += 1
        return j

    # ------------------------------------------------------------------------------------------ code

    def code(self, i: int, closing: str | None = None) -> int:
        """Scan code from `i`; with `closing`, stop at the `closing` that ends this nesting level."""
        depth = 0
        prev_token = ""
        while i < self.n:
            c = self.s[i]
            if closing is not None:
                if c == "{":
                    depth += 1
                elif c == "}":
                    if depth == 0:
                        return i
                    depth -= 1
            if self.s.startswith("/-", i):
                j = self.block_comment(i)
                self.blank(i, j)
                i = j
                continue
            if self.s.startswith("--", i):
                j = self.line_comment(i)
                self.blank(i, j)
                i = j
                continue
            if c == '"':
                j = self.string(i, prev_token)
                self.blank(i, j)
                i, prev_token = j, ""
                continue
            if c == "'" and not self.s.startswith("''", i):
                end = self.char_literal(i)
                if end is not None:
                    self.blank(i, end)
                    i, prev_token = end, ""
                    continue
            if c == "r" and (raw := self.raw_string(i)) is not None:
                self.blank(i, raw)
                i, prev_token = raw, ""
                continue
            if "0" <= c <= "9":
                i, prev_token = self.number(i), ""
                continue
            if is_id_first(c) or c == "«":
                j = self.identifier(i)
                prev_token = self.s[i:j]
                if j < self.n and self.s[j] == "'" and _uncertain_id_char(self.s[j - 1]):
                    self.ambiguous(f"{self.s[j - 1]!r} before a quote is read differently by different Lean versions")
                i = j
                continue
            if _uncertain_id_char(c) and i + 1 < self.n and self.s[i + 1] == "'":
                self.ambiguous(f"{c!r} before a quote is read differently by different Lean versions")
            if not c.isspace():
                prev_token = ""
            i += 1
        return i


def mask(text: str) -> Masked:
    """Lex `text` as Lean code from its start (see the module docstring)."""
    lexer = _Lexer(text)
    lexer.code(0)
    return Masked("".join(lexer.out), lexer.ambiguity)


def mask_comments_and_strings(text: str) -> str:
    """The mask alone, for parsing statements and headers (an ambiguous string gets its most likely reading)."""
    return mask(text).text
