"""What the FAKE REPL (tests/fake_repl.py) knows of Lean itself: how a command text lexes into commands, and how
names resolve. Tests only; standard library only; it never imports the code under test.

Each rule cites the Lean 4 source it copies (leanprover/lean4 around v4.24):
- tokens: src/Lean/Parser/Basic.lean `tokenFnAux` (a `"` opens a string, a `'` a char literal unless another `'`
  follows, a digit a number, otherwise an identifier or a symbol), `whitespace` (a `--` comment runs to `\\n`
  only; `/-` comments nest via `finishCommentBlock`; blanks are ` `, `\\t`, `\\r`, `\\n`), `strLitFnAux`/
  `quotedCharCoreFn` (`\\` escapes), `charLitFnAux`, `rawStrLitFnAux`, `numberFnAux` (no `'` in a number),
  `identFnAux` with src/Init/Meta.lean `isIdFirst`/`isIdRest`/`isLetterLike`/`isSubScriptAlnum`;
- interpolated strings after `s!`, `m!`, `f!` (Init/Data/ToString/Macro.lean, Lean/Message.lean,
  Init/Data/Format/Macro.lean) and `throwError`: src/Lean/Parser/Basic.lean `interpolatedStrFn`, where `{` opens a
  term that ends at its `}`;
- commands: a command keyword is a reserved token, so no tactic or term can contain it: a `by` block, and with it
  the declaration, ends before it and the next command starts there (src/Lean/Parser/Command.lean; the
  `sepByIndent` tactic sequence stops at a token it cannot parse); `open … in` and `set_option … in` are
  combinators (src/Lean/Parser/Term.lean, Command.lean `in`);
- scopes: `namespace A.B` opens A then A.B, `end` closes them, `section` opens an anonymous scope
  (src/Lean/Elab/Command.lean, Declaration.lean `elabNamespace`/`elabEnd`); a declaration's full name is the current
  namespace plus its name, unless that starts with `_root_` (src/Lean/Elab/DeclUtil.lean `mkDeclName`);
- name resolution: `_root_.X` is X; otherwise the innermost namespace prefix first, then open namespaces, then the
  root (src/Lean/ResolveName.lean `resolveGlobalName`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

COMMAND_WORDS = frozenset(
    "theorem lemma example def abbrev instance structure inductive class axiom opaque namespace section end "
    "variable universe export attribute notation notation3 infix infixl infixr prefix postfix macro macro_rules "
    "syntax elab elab_rules declare_syntax_cat mutual noncomputable private protected partial unsafe initialize "
    "deriving import alias omit include run_cmd run_elab run_meta seal unseal simproc dsimproc register_simp_attr "
    "add_aesop_rules recall proof_wanted open set_option".split()
)
HASH_COMMANDS = frozenset("print exit eval check reduce synth help lint where find guard_msgs time simp".split())
INTERPOLATING = frozenset({"s!", "m!", "f!", "throwError"})
_OPEN = "([{⦃⟨"
_COMMENT_MARKS = re.compile(r"/-|-/")
_STRING_STOPS = re.compile(r'\\.|"', re.S)
_INTERPOLATED_STOPS = re.compile(r'\\.|"|\{', re.S)
_CLOSE = ")]}⦄⟩"


def _letter_like(c: str) -> bool:
    v = ord(c)
    return (
        (0x3B1 <= v <= 0x3C9 and v != 0x3BB) or (0x391 <= v <= 0x3A9 and v not in (0x3A0, 0x3A3))
        or 0x3CA <= v <= 0x3FB or 0x1F00 <= v <= 0x1FFE or 0x2100 <= v <= 0x214F or 0x1D49C <= v <= 0x1D59F
    )


def id_first(c: str) -> bool:
    return c.isascii() and c.isalpha() or c == "_" or _letter_like(c)


def id_rest(c: str) -> bool:
    v = ord(c)
    sub = 0x2080 <= v <= 0x2089 or 0x2090 <= v <= 0x209C or 0x1D62 <= v <= 0x1D6A
    return id_first(c) or (c.isascii() and c.isdigit()) or c in "'!?" or sub


@dataclass(frozen=True)
class Token:
    kind: str  # ident | string | char | number | symbol
    text: str
    start: int
    end: int


class Lexer:
    """Lean's token stream of a text (comments dropped)."""

    def __init__(self, text: str) -> None:
        self.s, self.n = text, len(text)

    def tokens(self, i: int = 0, until_brace: bool = False) -> tuple[list[Token], int]:
        out: list[Token] = []
        depth = 0
        while i < self.n:
            c = self.s[i]
            if c in " \t\r\n":
                i += 1
            elif self.s.startswith("--", i):
                j = self.s.find("\n", i)
                i = self.n if j < 0 else j
            elif self.s.startswith("/-", i):
                i = self._comment_end(i)
            elif c == '"':
                interpolated = bool(out) and out[-1].text in INTERPOLATING
                j = self._string(i, interpolated)
                out.append(Token("string", self.s[i:j], i, j))
                i = j
            elif c == "'" and not self.s.startswith("''", i):
                j = self._char(i)
                out.append(Token("char" if j > i + 1 else "symbol", self.s[i:j], i, j))
                i = j
            elif c.isascii() and c.isdigit():
                j = i + 1
                while j < self.n and self.s[j].isascii() and (self.s[j].isdigit() or self.s[j] in "xXbBoOabcdefABCDEF"):
                    j += 1
                out.append(Token("number", self.s[i:j], i, j))
                i = j
            elif c == "r" and re.match(r'r#*"', self.s[i:]):
                hashes = re.match(r"r(#*)", self.s[i:]).group(1)  # type: ignore[union-attr]
                close = self.s.find('"' + hashes, i + 2 + len(hashes))
                j = self.n if close < 0 else close + 1 + len(hashes)
                out.append(Token("string", self.s[i:j], i, j))
                i = j
            elif id_first(c) or c == "«":
                j = self._ident(i)
                out.append(Token("ident", self.s[i:j], i, j))
                i = j
            elif c == "#" and i + 1 < self.n and id_first(self.s[i + 1]):
                j = self._ident(i + 1)
                out.append(Token("symbol", self.s[i:j], i, j))
                i = j
            else:
                two = self.s[i : i + 2]
                if until_brace and c == "{":
                    depth += 1
                if until_brace and c == "}":
                    if depth == 0:
                        return out, i
                    depth -= 1
                width = 2 if two in (":=", "@[") else 1
                out.append(Token("symbol", self.s[i : i + width], i, i + width))
                i += width
        return out, i

    def _comment_end(self, i: int) -> int:
        """`finishCommentBlock`: block comments nest; unterminated, it runs to the end."""
        nesting = 0
        for mark in _COMMENT_MARKS.finditer(self.s, i):
            nesting += 1 if mark.group() == "/-" else -1
            if nesting == 0:
                return mark.end()
        return self.n

    def _string(self, i: int, interpolated: bool) -> int:
        """`strLitFnAux` / `interpolatedStrFn`: to the closing `"`; `\\` escapes one character; in an interpolated
        string `{` starts a term, lexed as code up to its `}`."""
        stops = _INTERPOLATED_STOPS if interpolated else _STRING_STOPS
        j = i + 1
        while (stop := stops.search(self.s, j)) is not None:
            if stop.group() == '"':
                return stop.end()
            if stop.group() == "{":
                j = self.tokens(stop.end(), until_brace=True)[1] + 1
            else:
                j = stop.end()
        return self.n

    def _char(self, i: int) -> int:
        j = i + 1
        if j < self.n and self.s[j] == "\\":
            j += {"x": 4, "u": 6}.get(self.s[j + 1] if j + 1 < self.n else "", 2)
        else:
            j += 1
        return j + 1 if j < self.n and self.s[j] == "'" else i + 1

    def _ident(self, i: int) -> int:
        """`identFnAux`: name parts, each «quoted» or `isIdFirst isIdRest*`, joined by `.`."""
        end = i
        while True:
            part = self._ident_part(end)
            if part == end:
                return end
            end = part
            if not (end + 1 < self.n and self.s[end] == "." and self._ident_part(end + 1) > end + 1):
                return end
            end += 1

    def _ident_part(self, i: int) -> int:
        if i < self.n and self.s[i] == "«":
            close = self.s.find("»", i)
            return self.n if close < 0 else close + 1
        if i < self.n and id_first(self.s[i]):
            return next((k for k in range(i + 1, self.n) if not id_rest(self.s[k])), self.n)
        return i


def tokens(text: str) -> list[Token]:
    return Lexer(text).tokens()[0]


def without_comments(text: str) -> str:
    """The text with every comment replaced by blanks (newlines kept), by Lean's lexing."""
    out = list(text)
    last = 0
    for tok in tokens(text):
        for k in range(last, tok.start):
            if out[k] not in " \t\n":
                out[k] = " "
        last = tok.end
    for k in range(last, len(text)):
        if out[k] not in " \t\n":
            out[k] = " "
    return "".join(out)


@dataclass(frozen=True)
class Command:
    """One command of a command text: its keyword, its text, the line it starts on (1-based), `in` prefixes."""

    keyword: str
    text: str
    line: int
    full_names: bool  # `set_option pp.fullNames true in` before it


def _starts_command(toks: list[Token], k: int, text: str) -> bool:
    tok = toks[k]
    if tok.kind == "symbol" and (tok.text == "@[" or (tok.text.startswith("#") and tok.text[1:] in HASH_COMMANDS)):
        return True
    if tok.kind != "ident" or tok.text not in COMMAND_WORDS:
        return False
    if tok.text in ("open", "set_option"):
        # `… in X` is a combinator: a command when X is one (`set_option … in #print …`), a term or tactic
        # otherwise (`open Real in simp`); without `in` it is the command itself.
        line_end = text.find("\n", tok.end)
        line_end = len(text) if line_end < 0 else line_end
        for m in range(k + 1, len(toks)):
            if toks[m].kind == "ident" and toks[m].text == "in" and toks[m].start < line_end:
                return m + 1 < len(toks) and _starts_command(toks, m + 1, text)
        return True
    return True


def split_commands(text: str) -> list[Command]:
    """The commands of `text`, as Lean's parser separates them."""
    toks = tokens(text)
    starts: list[int] = []
    k = 0
    while k < len(toks):
        if k == 0 or _starts_command(toks, k, text):
            starts.append(k)
            if toks[k].text in ("open", "set_option"):  # `… in CMD`: CMD belongs to this command
                k = next((m for m in range(k + 1, len(toks)) if toks[m].text == "in"), k) + 2
                continue
        k += 1
    commands = []
    for a, b in zip(starts, [*starts[1:], len(toks)]):
        start = toks[a].start
        stop = toks[b].start if b < len(toks) else len(text)
        chunk = text[start:stop]
        full_names = False
        prefix = re.match(r"\s*set_option\s+pp\.fullNames\s+true\s+in\s+", chunk)
        if prefix:
            full_names, chunk = True, chunk[prefix.end() :]
        head = re.match(r"\s*(@\[|#?[^\s(:]+)", chunk)
        commands.append(Command(head.group(1) if head else "", chunk, text[:start].count("\n") + 1, full_names))
    return commands


@dataclass
class Scope:
    """An env's scopes (REPL/Main.lean keeps the whole `Command.State` per env, scopes included)."""

    namespaces: list[str] = field(default_factory=list)  # "" for a section
    opens: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # full name -> its binders and type, normalised
    axioms: dict[str, list[str]] = field(default_factory=dict)  # full name -> axioms its proof brought in

    def copy(self) -> Scope:
        return Scope(list(self.namespaces), list(self.opens), dict(self.types), dict(self.axioms))

    @property
    def current(self) -> str:
        return ".".join(part for part in self.namespaces if part)

    def full_name(self, name: str) -> str:
        if name.startswith("_root_."):
            return name[len("_root_.") :]
        return f"{self.current}.{name}" if self.current else name

    def resolve(self, name: str, known: dict[str, str] | set[str]) -> str | None:
        if name.startswith("_root_."):
            return name[len("_root_.") :] if name[len("_root_.") :] in known else None
        parts = [p for p in self.namespaces if p]
        for k in range(len(parts), 0, -1):
            candidate = ".".join(parts[:k] + [name])
            if candidate in known:
                return candidate
        for ns in self.opens:
            if f"{ns}.{name}" in known:
                return f"{ns}.{name}"
        return name if name in known else None

    def run_scope_command(self, command: Command) -> str | None:
        """`namespace`/`section`/`end`/`open`: apply it; an error text when Lean would refuse it."""
        words = command.text.split()
        arg = words[1] if len(words) > 1 else ""
        if command.keyword == "namespace":
            self.namespaces.extend(arg.split("."))
        elif command.keyword == "section":
            self.namespaces.append("")
        elif command.keyword == "open":
            self.opens.extend(words[1:])
        elif command.keyword == "end":
            if not self.namespaces:
                return "invalid 'end', insufficient scopes"
            closing = arg.split(".") if arg else [""]
            if self.namespaces[-len(closing) :] != closing:
                return "invalid 'end', name mismatch"
            del self.namespaces[-len(closing) :]
        return None


@dataclass(frozen=True)
class Declaration:
    name: str  # as written
    signature: str  # binders and type, whitespace normalised
    proof: str  # the text after `:=`, comments removed


def declaration(text: str) -> Declaration | None:
    """A `theorem`/`lemma`/`example` command's parts; None for anything else."""
    toks = tokens(text)
    k = 0
    while k < len(toks) and toks[k].text in ("private", "protected", "noncomputable"):
        k += 1
    if k >= len(toks) or toks[k].text not in ("theorem", "lemma", "example"):
        return None
    if toks[k].text == "example":
        name, sig_start = "", toks[k].end
    elif k + 1 < len(toks) and toks[k + 1].kind == "ident":
        name, sig_start = toks[k + 1].text, toks[k + 1].end
    else:
        return None
    depth = 0
    for tok in toks[k + 1 :]:
        if tok.text in _OPEN:
            depth += 1
        elif tok.text in _CLOSE:
            depth -= 1
        elif tok.text == ":=" and depth == 0:
            signature = " ".join(without_comments(text[sig_start : tok.start]).split())
            return Declaration(name, signature, without_comments(text[tok.end :]))
    return Declaration(name, " ".join(text[sig_start:].split()), "")


_GUARD = re.compile(r"example\s*:\s*type_of%\s*@(?P<ref>\S+)\s*:=\s*@(?P<target>\S+)\s*$")


def guard_error(text: str, scope: Scope) -> str | None:
    """`example : type_of% @A := @B`: the kernel accepts it when B's type is A's (the fake compares the texts)."""
    match = _GUARD.match(without_comments(text).strip())
    if match is None:
        return None
    ref, target = (scope.resolve(match.group(g), scope.types) for g in ("ref", "target"))
    if ref is None or target is None:
        missing = match.group("ref") if ref is None else match.group("target")
        return f"unknown identifier '{missing}'"
    if scope.types[ref] != scope.types[target]:
        return f"type mismatch\n  @{target}\nhas type\n  {scope.types[target]}\nbut is expected to have type\n  {scope.types[ref]}"
    return ""


def is_guard(text: str) -> bool:
    return _GUARD.match(without_comments(text).strip()) is not None


# Proofs the fake elaborates without a scenario entry: a decoy `theorem t : True := trivial`, and the verifier's
# reference statement proved by `sorry` (a term, not `by sorry`, which is how statements are started).
def trivially_true(decl: Declaration) -> bool:
    return decl.signature == ": True" and decl.proof.strip() in ("trivial", "by trivial", "⟨⟩", "by\n  trivial")


def native_axioms(proof: str) -> list[str]:
    """`native_decide`/`decide +native`/`decide (native := true)` trust the compiler: `Lean.ofReduceBool`
    (src/Init/Core.lean `ofReduceBool`, used by Lean/Elab/Tactic/ElabTerm.lean's native decide)."""
    return ["Lean.ofReduceBool"] if re.search(r"native", proof) else []
