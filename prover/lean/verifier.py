"""The final check of a found proof (DESIGN contract 4): nothing is reported or cached as proved without it.

A FRESH REPL process elaborates the header (env-less), then the original statement text verbatim followed by the
tactic script, in command mode, then `#print axioms` of the theorem. The proof is accepted only when Lean reports
no error, nothing says sorry (neither the warning, in either quoting, nor a `sorries` entry, nor `sorryAx` among
the axioms), and the axioms are within {propext, Classical.choice, Quot.sound}. Before anything reaches Lean the
banned-token policy is applied to each tactic and to the whole proof, the statement is compared with the original,
and a proof whose text could end the declaration early (and so run commands of its own) is refused.

Why not trust the search's own `Completed`: tactic mode is known to accept some wrong proofs (repl issue #44), and
a warm process may carry state from earlier requests; a fresh one carries nothing.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from prover.config import LeanConfig
from prover.errors import ReplCrashError, ReplTimeoutError, UsageError
from prover.lean.process import ReplProcess
from prover.lean.protocol import SORRY_WARNING, ErrorResponse, Message, error_texts, has_errors
from prover.lean.statement import Statement, _mask_comments_and_strings
from search.banned import IDENT_CHAR, BannedTokens

logger = logging.getLogger(__name__)

STANDARD_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
SORRY_AXIOM = "sorryAx"

# `#print axioms` output (Lean src/Lean/Elab/Print.lean `printAxiomsOf`): "'NAME' depends on axioms: [a, b]", the
# list sorted and, past 120 columns, broken after every comma with a one-space indent; or
# "'NAME' does not depend on any axioms".
_DEPENDS = re.compile(r"depends on axioms:\s*\[(?P<list>[^\]]*)\]", re.S)
_NO_AXIOMS = re.compile(r"does not depend on any axioms")

# Words that start a new command when they appear where a tactic could end: with them a proof text could close
# the declaration and go on with commands of its own (a namespace that redirects `#print axioms`, an option, an
# attribute, another declaration). Matched on identifier boundaries, outside comments and strings. `open … in`
# and `set_option … in` are tactic combinators and stay allowed when `in` follows on the same line.
_COMMAND_WORDS = (
    "theorem", "lemma", "def", "example", "abbrev", "instance", "structure", "inductive", "class", "axiom",
    "opaque", "namespace", "section", "end", "variable", "universe", "export", "attribute", "notation", "infix",
    "infixl", "infixr", "prefix", "postfix", "macro", "macro_rules", "syntax", "elab", "elab_rules",
    "declare_syntax_cat", "mutual", "noncomputable", "private", "protected", "partial", "unsafe", "initialize",
    "builtin_initialize", "deriving", "import", "alias", "irreducible_def", "omit", "include", "run_cmd",
    "run_elab", "run_meta", "add_decl_doc", "compile_inductive", "local", "scoped",
)
_COMMAND_START = re.compile(
    rf"(?<!{IDENT_CHAR})(?:{'|'.join(map(re.escape, _COMMAND_WORDS))})(?!{IDENT_CHAR})"
    rf"|(?<!{IDENT_CHAR})(?:open|set_option)(?!{IDENT_CHAR})(?![^\n]*(?<!{IDENT_CHAR})in(?!{IDENT_CHAR}))"
    r"|@\["
    r"|#(?:exit|print|eval|check|reduce|synth|help|lint|where|find|guard_msgs|time|simp|norm_num|conv)(?!\w)"
)
_WS = re.compile(r"\s+")


class Verdict(str, enum.Enum):
    """What the verifier decided; only VERIFIED accepts the proof."""

    VERIFIED = "verified"
    LEAN_ERROR = "lean_error"
    USES_SORRY = "uses_sorry"
    BAD_AXIOMS = "bad_axioms"
    BANNED = "banned"
    STATEMENT_CHANGED = "statement_changed"
    TIMEOUT = "timeout"
    REPL_ERROR = "repl_error"


@dataclass(frozen=True)
class Verification:
    """The verifier's answer.

    Attributes:
        verdict: the decision.
        details: one human-readable line on why (empty for VERIFIED).
        axioms: the axioms `#print axioms` listed (empty when it was not reached).
        messages: Lean's messages on the proof, as `line:col: severity: text`.
        seconds: wall-clock time of the whole check, process start included.
        lean_messages: the proof command's messages as the REPL sent them, positions and end positions included
            (for compiler-feedback repair); empty where the check stopped before Lean answered.
    """

    verdict: Verdict
    details: str = ""
    axioms: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    seconds: float = 0.0
    lean_messages: tuple[Message, ...] = field(default=(), compare=False)

    @property
    def accepted(self) -> bool:
        return self.verdict is Verdict.VERIFIED

    @property
    def name(self) -> str:
        return self.verdict.value


async def verify_proof(
    statement: Statement,
    tactics: Sequence[str],
    *,
    header: str,
    config: LeanConfig,
    original: str | None = None,
    banned: BannedTokens = BannedTokens(),
    allowed_axioms: frozenset[str] = frozenset(),
) -> Verification:
    """Check `tactics` as a proof of `statement` in a fresh REPL process.

    Args:
        statement: the statement the proof was found for.
        tactics: the tactic script, one tactic per entry (multi-line tactics keep their relative indentation).
        header: the text elaborated before the statement (imports, options, `open`s), sent env-less.
        config: how to start Lean (`verify_timeout` bounds the proof's elaboration, `command_timeout` the header).
        original: the statement as the user gave it; when given, `statement` must have the same declaration head.
        banned: the banned-token policy.
        allowed_axioms: axioms the proof may use beyond the standard three: those the header itself declares
            (a benchmark preamble's `axiom`, as in MathOlympiadBench Imo1994P5), never ones a proof brings in.

    Returns:
        A Verification; timeouts and crashes of the process are verdicts (TIMEOUT, REPL_ERROR).

    Raises:
        ReplStartError: the REPL cannot start at all (Lean or the REPL is missing: an environment problem).
    """
    started = time.monotonic()
    refusal = check_proof_text(statement, tactics, original=original, banned=banned)
    if refusal is not None:
        return _verdict(statement, started, *refusal)
    process = ReplProcess.from_config(config, name="verifier")
    try:
        await process.start()
        try:
            head = await process.command(header, env=None, timeout=config.command_timeout)
        except ValueError as exc:  # the request could not be encoded (a lone surrogate): nothing was sent
            return _verdict(statement, started, Verdict.LEAN_ERROR, f"the header cannot be sent to Lean: {exc}")
        except ReplTimeoutError as exc:
            return _verdict(statement, started, Verdict.TIMEOUT, str(exc))
        except ReplCrashError as exc:
            oom = " (likely out of memory)" if exc.oom else ""
            return _verdict(statement, started, Verdict.REPL_ERROR, f"the REPL died{oom}: {exc} (exit {exc.returncode})")
        if isinstance(head, ErrorResponse):
            return _verdict(statement, started, Verdict.LEAN_ERROR, f"the header failed: {head.message}")
        if has_errors(head.messages):
            return _verdict(statement, started, Verdict.LEAN_ERROR, "the header does not elaborate", messages=_render(head.messages))
        return await check_in_env(
            process, head.env, statement, tactics, timeout=config.verify_timeout, allowed_axioms=allowed_axioms,
            started=started,
        )
    finally:
        await process.close()


async def check_in_env(
    process: ReplProcess,
    env: int,
    statement: Statement,
    tactics: Sequence[str],
    *,
    timeout: float,
    allowed_axioms: frozenset[str] = frozenset(),
    started: float | None = None,
) -> Verification:
    """Elaborate the proof on `env` of a live REPL process (command mode), then `#print axioms` of the theorem.

    The caller has already applied `check_proof_text`. `env` must be an env in which the header (imports and
    preamble) is in effect and nothing else was declared: a fresh process's header env for the final check, or a
    warm worker's header env (`Worker.env_for`) for a fast check of a candidate; a command on an env id starts from
    that env's snapshot, whatever else the process ran since, so the two are equally independent.

    Returns:
        A Verification; timeouts and crashes of the process are verdicts (TIMEOUT, REPL_ERROR).
    """
    t0 = time.monotonic() if started is None else started
    messages: tuple[str, ...] = ()
    try:
        proof = await process.command(statement.with_proof(tactics), env=env, timeout=timeout)
        if isinstance(proof, ErrorResponse):
            return _verdict(statement, t0, Verdict.LEAN_ERROR, proof.message)
        messages = _render(proof.messages)
        if has_errors(proof.messages):
            failed = _verdict(statement, t0, Verdict.LEAN_ERROR, _first_line(error_texts(proof.messages)[0]), messages=messages)
            return replace(failed, lean_messages=tuple(proof.messages))
        if proof.sorries or any(SORRY_WARNING.search(m.data) for m in proof.messages):
            failed = _verdict(statement, t0, Verdict.USES_SORRY, "Lean reports that the proof uses sorry", messages=messages)
            return replace(failed, lean_messages=tuple(proof.messages))
        # `set_option pp.fullNames true`: axiom names in full whatever namespaces the header opens.
        report = await process.command(
            f"set_option pp.fullNames true in\n#print axioms {statement.name}", env=proof.env, timeout=timeout
        )
    except ValueError as exc:  # the request could not be encoded (a lone surrogate): nothing was sent
        return _verdict(statement, t0, Verdict.LEAN_ERROR, f"the proof cannot be sent to Lean: {exc}")
    except ReplTimeoutError as exc:
        return _verdict(statement, t0, Verdict.TIMEOUT, str(exc))
    except ReplCrashError as exc:
        oom = " (likely out of memory)" if exc.oom else ""
        return _verdict(statement, t0, Verdict.REPL_ERROR, f"the REPL died{oom}: {exc} (exit {exc.returncode})")

    if isinstance(report, ErrorResponse):
        return _verdict(statement, t0, Verdict.LEAN_ERROR, f"#print axioms failed: {report.message}", messages=messages)
    if has_errors(report.messages):
        return _verdict(statement, t0, Verdict.LEAN_ERROR, "#print axioms failed", messages=messages + _render(report.messages))
    axioms = parse_axioms(report.messages)
    if axioms is None:
        return _verdict(statement, t0, Verdict.BAD_AXIOMS, "no axiom report from #print axioms", messages=messages + _render(report.messages))
    if SORRY_AXIOM in axioms:
        return _verdict(statement, t0, Verdict.USES_SORRY, "the proof depends on sorryAx", axioms, messages)
    bad = [a for a in axioms if a not in STANDARD_AXIOMS and a not in allowed_axioms]
    if bad:
        return _verdict(statement, t0, Verdict.BAD_AXIOMS, f"non-standard axioms: {', '.join(bad)}", axioms, messages)
    return _verdict(statement, t0, Verdict.VERIFIED, "", axioms, messages)


def _verdict(
    statement: Statement,
    started: float,
    verdict: Verdict,
    details: str = "",
    axioms: tuple[str, ...] = (),
    messages: tuple[str, ...] = (),
) -> Verification:
    logger.debug("verify %s: %s %s", statement.name, verdict.value, details)
    return Verification(verdict, details, axioms, messages, time.monotonic() - started)


def check_proof_text(
    statement: Statement, tactics: Sequence[str], *, original: str | None = None, banned: BannedTokens = BannedTokens()
) -> tuple[Verdict, str] | None:
    """The checks made before Lean sees anything: (verdict, details) for a refusal, None when Lean may check it."""
    if original is not None:
        try:
            expected = Statement.parse(original).head
        except UsageError as exc:
            return Verdict.STATEMENT_CHANGED, f"the original statement does not parse: {exc}"
        if statement.head != expected:
            return Verdict.STATEMENT_CHANGED, "the statement differs from the original"
    if not any(t.strip() for t in tactics):
        return Verdict.LEAN_ERROR, "the proof is empty"
    for tactic in tactics:
        token = banned.find(tactic)
        if token is not None:
            return Verdict.BANNED, f"banned token {token!r} in tactic {_first_line(tactic)!r}"
    whole = "\n".join(tactics)
    # Also with whitespace folded and «» name quotes dropped, so that `set_option  debug.…`, a token split over two
    # tactics, or `set_option «debug».skipKernelTC` is still found.
    token = banned.find(whole) or banned.find(_WS.sub(" ", whole).replace("«", "").replace("»", ""))
    if token is not None:
        return Verdict.BANNED, f"banned token {token!r} in the proof"
    match = _COMMAND_START.search(_mask_comments_and_strings(whole))
    if match is not None:
        return Verdict.STATEMENT_CHANGED, f"the proof could end the declaration early: {match.group(0)!r}"
    return None


def parse_axioms(messages: Sequence[Message]) -> tuple[str, ...] | None:
    """The axioms a `#print axioms` reply lists; () for "does not depend on any axioms", None when absent."""
    for message in messages:
        match = _DEPENDS.search(message.data)
        if match is not None:
            return tuple(name.strip() for name in match.group("list").split(",") if name.strip())
        if _NO_AXIOMS.search(message.data):
            return ()
    return None


def _render(messages: Sequence[Message]) -> tuple[str, ...]:
    return tuple(f"{m.pos.line}:{m.pos.column}: {m.severity}: {m.data}" for m in messages)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]
