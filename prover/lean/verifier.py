"""The final check of a found proof (DESIGN contract 4): nothing is reported or cached as proved without it.

A FRESH REPL process elaborates the header (env-less), then `check_in_env` runs the proof: the original statement
text verbatim followed by the tactic script, in command mode, and a Lean-level guard that the theorem is the
original one with allowed axioms (see `check_in_env`). The proof is accepted only when Lean reports no error,
nothing says sorry (neither the warning, in either quoting, nor a `sorries` entry, nor `sorryAx` among the axioms),
the constant `_root_.NAME` has the original statement's type, and its one axiom report lists only
{propext, Classical.choice, Quot.sound}. Before anything reaches Lean the banned-token policy is applied to each
tactic and to the whole proof, the statement is compared with the original, and a proof whose text could end the
declaration early (and so run commands of its own) is refused (`check_proof_text`).

Why not trust the search's own `Completed`: tactic mode is known to accept some wrong proofs (repl issue #44), and
a warm process may carry state from earlier requests; a fresh one carries nothing. Why the final check stays in a
fresh process while candidates are checked on warm workers: it is once per proved problem (an import, seconds to a
minute, against a search of minutes), and it must not depend on the health of the search's workers.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from prover.config import LeanConfig
from prover.errors import ReplCrashError, ReplStartError, ReplTimeoutError, UsageError
from prover.lean.process import ReplProcess
from prover.lean.protocol import SORRY_WARNING, ErrorResponse, Message, error_texts, has_errors
from prover.lean.lexing import mask as lex
from prover.lean.statement import Statement, line_separator_in, proof_body
from search.banned import IDENT_CHAR, BannedTokens

logger = logging.getLogger(__name__)

STANDARD_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
SORRY_AXIOM = "sorryAx"

# `#print axioms` output (Lean src/Lean/Elab/Print.lean `printAxiomsOf`): "'NAME' depends on axioms: [a, b]", the
# list sorted and, past 120 columns, broken after every comma with a one-space indent; or
# "'NAME' does not depend on any axioms". NAME is printed in full under `pp.fullNames`.
_REPORT = re.compile(
    r"'(?P<name>[^']+)' (?:depends on axioms:\s*\[(?P<list>[^\]]*)\]|does not depend on any axioms)\Z", re.S
)
_FULL_NAMES = "set_option pp.fullNames true in"
REFERENCE_PREFIX = "prover_reference_"
HEADER_ATTEMPTS = 2  # a header import that times out or crashes is retried once in a new process (F4)
# Lean's heartbeat error (src/Lean/CoreM.lean `throwMaxHeartbeat`): "(deterministic) timeout at `whnf`, maximum
# number of heartbeats (400000) has been reached …".
_HEARTBEATS = re.compile(r"\(deterministic\) timeout|maximum number of heartbeats")
HEARTBEAT_BUDGET = "heartbeat budget"

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
    # notes/real-repl-behaviour.md F10: command words the list missed
    "notation3", "seal", "unseal", "simproc", "dsimproc", "simproc_decl", "dsimproc_decl", "register_simp_attr",
    "add_aesop_rules", "erase_aesop_rules", "recall", "proof_wanted", "register_option",
)
# Commands that can change how later commands parse or elaborate (new syntax, macros, elaborators, attributes on
# meta code, code run at elaboration time). After one of them even the Lean-level guard could be told a lie, so
# these words are refused anywhere in a proof, comments and strings included: this check reads the raw text and
# depends on no lexing. (Keywords cannot be spelt another way: «macro» is a name, not the keyword.)
_META_WORDS = (
    "macro", "macro_rules", "elab", "elab_rules", "syntax", "declare_syntax_cat", "notation", "notation3", "infix",
    "infixl", "infixr", "prefix", "postfix", "initialize", "builtin_initialize", "run_cmd", "run_elab", "run_meta",
    "simproc", "dsimproc", "simproc_decl", "dsimproc_decl", "attribute", "command_elab", "term_elab", "tactic_elab",
    "register_simp_attr", "add_aesop_rules",
)
_META_WORD = re.compile(rf"(?<!{IDENT_CHAR})(?:{'|'.join(map(re.escape, _META_WORDS))})(?!{IDENT_CHAR})|@\[")
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

    @property
    def conclusive(self) -> bool:
        """False for TIMEOUT and REPL_ERROR: Lean never finished judging the proof, so it is neither accepted
        nor rejected (a cached proof must not be deleted for it)."""
        return self.verdict not in (Verdict.TIMEOUT, Verdict.REPL_ERROR)


async def verify_proof(
    statement: Statement,
    tactics: Sequence[str],
    *,
    header: str,
    config: LeanConfig,
    original: str | None = None,
    banned: BannedTokens = BannedTokens(),
    allowed_axioms: frozenset[str] = frozenset(),
    deadline: float | None = None,
) -> Verification:
    """Check `tactics` as a proof of `statement` in a fresh REPL process.

    Args:
        statement: the statement the proof was found for.
        tactics: the tactic script, one tactic per entry (multi-line tactics keep their relative indentation).
        header: the text elaborated before the statement (imports, options, `open`s), sent env-less.
        config: how to start Lean (`verify_timeout` bounds each proof command, `command_timeout` the header).
        original: the statement as the user gave it, when `statement` came from elsewhere (a cache row, a
            rewritten statement): `statement` must then have the same declaration head.
        banned: the banned-token policy.
        allowed_axioms: axioms the proof may use beyond the standard three: those the header itself declares
            (a benchmark preamble's `axiom`, as in MathOlympiadBench Imo1994P5), never ones a proof brings in.
        deadline: a `time.monotonic()` instant the whole check must end by (a problem's budget): every wait,
            the header import included, is clipped to the time left; past it the verdict is TIMEOUT.

    Returns:
        A Verification. TIMEOUT and REPL_ERROR (a hang or a crash on the proof, or the deadline reached) are
        inconclusive (`Verification.conclusive` is False): they say nothing about the proof.

    Raises:
        ReplStartError: the REPL cannot start, or twice could not import the header within `command_timeout` (a
            slow disk, a missing Mathlib build, memory): an environment problem, not a verdict on the proof.
    """
    started = time.monotonic()
    refusal = check_proof_text(statement, tactics, original=original, banned=banned)
    if refusal is not None:
        return _verdict(statement, started, *refusal)
    for attempt in range(1, HEADER_ATTEMPTS + 1):
        process = ReplProcess.from_config(config, name="verifier")
        try:
            await process.start()
            timeout, clipped = _clip(config.command_timeout, deadline)
            if timeout <= 0:
                return _verdict(statement, started, Verdict.TIMEOUT, "the time budget ran out before the header import")
            try:
                head = await process.command(header, env=None, timeout=timeout)
            except ValueError as exc:  # the request could not be encoded (a lone surrogate): nothing was sent
                return _verdict(statement, started, Verdict.LEAN_ERROR, f"the header cannot be sent to Lean: {exc}")
            except (ReplTimeoutError, ReplCrashError, ReplStartError) as exc:  # a crash on the first request is a start error
                if clipped:
                    return _verdict(statement, started, Verdict.TIMEOUT, f"the time budget ran out during the header import: {exc}")
                if attempt < HEADER_ATTEMPTS:
                    logger.warning("the verifier's header import failed (%s); retrying in a new process", exc)
                    continue
                raise ReplStartError(
                    f"the verifier could not import the header ({HEADER_ATTEMPTS} tries, {config.command_timeout:g} s "
                    f"each): {exc}",
                    exc.stderr_tail,
                ) from exc
            if isinstance(head, ErrorResponse):
                return _verdict(statement, started, Verdict.LEAN_ERROR, f"the header failed: {head.message}")
            if has_errors(head.messages):
                return _verdict(statement, started, Verdict.LEAN_ERROR, "the header does not elaborate", messages=_render(head.messages))
            return await check_in_env(
                process, head.env, statement, tactics, timeout=config.verify_timeout, allowed_axioms=allowed_axioms,
                started=started, deadline=deadline,
            )
        finally:
            await process.close()
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


async def check_in_env(
    process: ReplProcess,
    env: int,
    statement: Statement,
    tactics: Sequence[str],
    *,
    timeout: float,
    allowed_axioms: frozenset[str] = frozenset(),
    started: float | None = None,
    deadline: float | None = None,
) -> Verification:
    """Elaborate the proof on `env` of a live REPL process (command mode), then check it at the Lean level.

    The caller has already applied `check_proof_text`. `env` must be an env in which the header (imports and
    preamble) is in effect and nothing else was declared: a fresh process's header env for the final check, or a
    warm worker's header env (`Worker.env_for`) for a fast check of a candidate; a command on an env id starts from
    that env's snapshot, whatever else the process ran since, so the two are equally independent.

    Three commands, none of which depends on how the proof text lexes:
    1. on `env`, a reference theorem (`reference_name`) with the original statement's binders and type, proved by
       `sorry`, and its `#print axioms`, whose quoted full name tells the namespace the header leaves open;
    2. on that env, the statement verbatim with the proof: no error and no sorry;
    3. on the proof's env, the guard `example : type_of% @_root_.REF := @_root_.NAME`, which the kernel accepts only
       if the constant NAME (resolved from the root, whatever namespace the proof left open) has the original type,
       and `#print axioms _root_.NAME` under `pp.fullNames`: the one message of this command must be that report,
       quoting NAME's full name, within the allowed axioms.
    A proof that ends the declaration early, opens a namespace, or declares NAME again cannot pass (3); the text
    checks are the first line of defence, this one does not rely on them.

    Returns:
        A Verification; timeouts and crashes of the process are the inconclusive verdicts TIMEOUT and REPL_ERROR.
    """
    t0 = time.monotonic() if started is None else started
    messages: tuple[str, ...] = ()
    reference = reference_name(statement)
    try:
        wait = _wait_or_none(timeout, deadline)
        if wait is None:
            return _verdict(statement, t0, Verdict.TIMEOUT, "the time budget ran out before the proof was checked")
        ref = await process.command(
            f"{statement.renamed(reference)} sorry\n\n{_FULL_NAMES}\n#print axioms {reference}", env=env, timeout=wait
        )
        if isinstance(ref, ErrorResponse) or has_errors(ref.messages):
            detail = ref.message if isinstance(ref, ErrorResponse) else _first_line(error_texts(ref.messages)[0])
            return _verdict(statement, t0, Verdict.LEAN_ERROR, f"the statement does not elaborate: {detail}")
        prefix = _namespace_prefix(ref.messages, reference)
        if prefix is None:
            return _verdict(statement, t0, Verdict.LEAN_ERROR, "no axiom report for the reference statement", messages=_render(ref.messages))
        full = statement.name[len("_root_.") :] if statement.name.startswith("_root_.") else prefix + statement.name

        wait = _wait_or_none(timeout, deadline)
        if wait is None:
            return _verdict(statement, t0, Verdict.TIMEOUT, "the time budget ran out before the proof was checked")
        proof = await process.command(statement.with_proof(tactics), env=ref.env, timeout=wait)
        if isinstance(proof, ErrorResponse):
            return _verdict(statement, t0, Verdict.LEAN_ERROR, proof.message)
        messages = _render(proof.messages)
        if has_errors(proof.messages):
            failed = _verdict(statement, t0, Verdict.LEAN_ERROR, _error_details(error_texts(proof.messages)), messages=messages)
            return replace(failed, lean_messages=tuple(proof.messages))
        if proof.sorries or any(SORRY_WARNING.search(m.data) for m in proof.messages):
            failed = _verdict(statement, t0, Verdict.USES_SORRY, "Lean reports that the proof uses sorry", messages=messages)
            return replace(failed, lean_messages=tuple(proof.messages))

        wait = _wait_or_none(timeout, deadline)
        if wait is None:
            return _verdict(statement, t0, Verdict.TIMEOUT, "the time budget ran out before the axioms were checked")
        report = await process.command(
            f"example : type_of% @_root_.{prefix}{reference} := @_root_.{full}\n\n"
            f"{_FULL_NAMES}\n#print axioms _root_.{full}",
            env=proof.env,
            timeout=wait,
        )
    except ValueError as exc:  # the request could not be encoded (a lone surrogate): nothing was sent
        return _verdict(statement, t0, Verdict.LEAN_ERROR, f"the proof cannot be sent to Lean: {exc}")
    except ReplTimeoutError as exc:
        return _verdict(statement, t0, Verdict.TIMEOUT, str(exc))
    except ReplCrashError as exc:
        oom = " (likely out of memory)" if exc.oom else ""
        return _verdict(statement, t0, Verdict.REPL_ERROR, f"the REPL died{oom}: {exc} (exit {exc.returncode})")

    if isinstance(report, ErrorResponse):
        return _verdict(statement, t0, Verdict.LEAN_ERROR, f"the Lean-level check failed: {report.message}", messages=messages)
    if has_errors(report.messages):
        return _verdict(
            statement, t0, Verdict.STATEMENT_CHANGED,
            f"the constant {full} is not the original statement: {_first_line(error_texts(report.messages)[0])}",
            messages=messages + _render(report.messages),
        )
    axioms = parse_axioms(report.messages, name=full)
    if axioms is None:
        return _verdict(
            statement, t0, Verdict.BAD_AXIOMS, f"not exactly one axiom report for {full}",
            messages=messages + _render(report.messages),
        )
    if SORRY_AXIOM in axioms:
        return _verdict(statement, t0, Verdict.USES_SORRY, "the proof depends on sorryAx", axioms, messages)
    bad = [a for a in axioms if a not in STANDARD_AXIOMS and a not in allowed_axioms]
    if bad:
        return _verdict(statement, t0, Verdict.BAD_AXIOMS, f"non-standard axioms: {', '.join(bad)}", axioms, messages)
    return _verdict(statement, t0, Verdict.VERIFIED, "", axioms, messages)


def reference_name(statement: Statement) -> str:
    """The reference declaration's name: fixed per statement, so that tests can script replies. A proof that
    names it gains nothing: it is proved by `sorry`, so NAME's axioms would list `sorryAx`."""
    return REFERENCE_PREFIX + hashlib.sha256(statement.head.encode()).hexdigest()[:16]


def _clip(timeout: float, deadline: float | None) -> tuple[float, bool]:
    """(the wait allowed, whether the deadline rather than `timeout` set it)."""
    if deadline is None:
        return timeout, False
    left = deadline - time.monotonic()
    return (left, True) if left < timeout else (timeout, False)


def _wait_or_none(timeout: float, deadline: float | None) -> float | None:
    wait, _ = _clip(timeout, deadline)
    return wait if wait > 0 else None


def _error_details(errors: Sequence[str]) -> str:
    """The first error; a proof rejected only for heartbeats says so (F6): under a `maxHeartbeats N` header the
    declaration's budget covers the whole proof, while the search gave each tactic its own."""
    if errors and all(_HEARTBEATS.search(e) for e in errors):
        return f"{HEARTBEAT_BUDGET}: the whole proof outran the declaration's heartbeats: {_first_line(errors[0])}"
    return _first_line(errors[0])


def _namespace_prefix(messages: Sequence[Message], reference: str) -> str | None:
    """`Foo.` when the reference was declared as `Foo.REF` (the header left `namespace Foo` open), else ``."""
    for message in messages:
        match = _REPORT.match(message.data.strip())
        if message.severity == "info" and match and match.group("name").endswith(reference):
            return match.group("name")[: -len(reference)]
    return None


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
    """The checks made before Lean sees anything: (verdict, details) for a refusal, None when Lean may check it.

    They read the very text sent to Lean (`proof_body`, the one rendering), after refusing line separators other
    than `\\n`, with the lexer of prover/lean/lexing.py; a proof whose text that lexer cannot read as Lean would
    is refused. The Lean-level guard of `check_in_env` does not depend on any of this.
    """
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
        separator = line_separator_in(tactic)
        if separator is not None:
            return Verdict.BANNED, f"line separator {separator} in tactic {_first_line(tactic)!r}: Lean ends lines at \\n only"
        token = banned.find(tactic)
        if token is not None:
            return Verdict.BANNED, f"banned token {token!r} in tactic {_first_line(tactic)!r}"
    body = proof_body(tactics)
    # Also with whitespace folded and «» name quotes dropped, so that `set_option  debug.…`, a token split over two
    # tactics, or `set_option «debug».skipKernelTC` is still found.
    token = banned.find(body) or banned.find(_WS.sub(" ", body).replace("«", "").replace("»", ""))
    if token is not None:
        return Verdict.BANNED, f"banned token {token!r} in the proof"
    meta = _META_WORD.search(body)
    if meta is not None:
        return Verdict.STATEMENT_CHANGED, f"the proof mentions the command word {meta.group(0)!r} (refused anywhere, comments included)"
    masked = lex(body)
    if masked.ambiguity is not None:
        return Verdict.STATEMENT_CHANGED, f"the proof text cannot be read unambiguously: {masked.ambiguity}"
    match = _COMMAND_START.search(masked.text)
    if match is not None:
        return Verdict.STATEMENT_CHANGED, f"the proof could end the declaration early: {match.group(0)!r}"
    return None


def parse_axioms(messages: Sequence[Message], name: str | None = None) -> tuple[str, ...] | None:
    """The axioms of the one `#print axioms` report among `messages`; () for "does not depend on any axioms".

    None unless `messages` is exactly one info message in `printAxiomsOf`'s format (and, with `name`, quoting
    that full name): a second message, another constant's report or a report at another severity is no answer.
    """
    if len(messages) != 1 or messages[0].severity != "info":
        return None
    match = _REPORT.match(messages[0].data.strip())
    if match is None or (name is not None and match.group("name") != name):
        return None
    listed = match.group("list")
    if listed is None:
        return ()
    return tuple(part.strip() for part in listed.split(",") if part.strip())


def _render(messages: Sequence[Message]) -> tuple[str, ...]:
    return tuple(f"{m.pos.line}:{m.pos.column}: {m.severity}: {m.data}" for m in messages)


def _first_line(text: str) -> str:
    return text.strip().split("\n", 1)[0]
