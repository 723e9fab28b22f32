"""The banned-token policy (DESIGN contract 4): tactics and proofs containing these never reach Lean or a user.

Matching is on identifier boundaries, so `sorry` bans `sorry` and `(sorry)` but not `sorry_lemma`; tokens that
end in `.` (`IO.`, `set_option debug.`) ban every name with that prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

DEFAULT_BANNED: tuple[str, ...] = (
    "sorry",
    "admit",
    "native_decide",
    "+native",  # `decide +native`: trusts compiled code (axiom Lean.ofReduceBool), which the axiom check refuses late
    "apply?",
    "exact?",
    "run_tac",
    "#eval",
    "IO.",
    "unsafe",
    "implemented_by",
    "extern",
    "axiom",
    "set_option debug.",
    "by_elab",  # runs arbitrary meta code inside a proof
)

# A character that continues a Lean identifier, or the `.` between its parts: Lean v4.24 `isIdRest`
# (src/Init/Meta.lean: ASCII letters and digits, `_`, `'`, `!`, `?`, `isLetterLike`, `isSubScriptAlnum`). Not `\w`:
# `ᶜ` or `é` are no identifier characters there, so `ᶜsorry` is the token `ᶜ` then `sorry`, and a wider class would
# hide the `sorry`.
IDENT_CHAR = (
    r"[A-Za-z0-9_.'!?\u03b1-\u03ba\u03bc-\u03c9\u0391-\u039f\u03a1\u03a2\u03a4-\u03a9\u03ca-\u03fb"
    r"\u1f00-\u1ffe\u2100-\u214f\U0001d49c-\U0001d59f\u2080-\u2089\u2090-\u209c\u1d62-\u1d6a]"
)


def _pattern(token: str) -> str:
    # A token is banned where it is not glued to a longer identifier on either side.
    body = r"\s+".join(re.escape(part) for part in token.split(" "))
    before = rf"(?<!{IDENT_CHAR})" if re.match(r"[\w]", token) else ""
    after = "" if token.endswith(".") or not re.search(r"[\w?]$", token) else rf"(?!{IDENT_CHAR})"
    return before + body + after


@dataclass(frozen=True)
class BannedTokens:
    """A compiled banned-token policy; `find` returns the first banned token in a text, or None."""

    tokens: tuple[str, ...] = DEFAULT_BANNED
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.compile("|".join(f"(?P<t{i}>{_pattern(t)})" for i, t in enumerate(self.tokens))) if self.tokens else re.compile(r"(?!x)x")
        object.__setattr__(self, "_regex", regex)

    @classmethod
    def of(cls, tokens: Iterable[str]) -> BannedTokens:
        return cls(tuple(tokens))

    def find(self, text: str) -> str | None:
        """The first banned token occurring in `text`, or None when the text is allowed."""
        match = self._regex.search(text)
        if match is None:
            return None
        return self.tokens[int(match.lastgroup[1:])]  # type: ignore[index]  # lastgroup is set on a match

    def allows(self, text: str) -> bool:
        return self.find(text) is None
