"""Soundness of the final check (issue 10 items 1-3 and 8; issue 8 F4, F6, F7): smuggled commands, lexing that
differs from Lean's, axiom reports about other constants, the Lean-level guard, and inconclusive re-checks.

The FAKE REPL (tests/fake_repl.py with tests/fake_lean.py) splits command texts and resolves names as Lean does,
so a smuggled `namespace Foo` really redirects an unqualified `#print axioms t1` there, as it would in Lean.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prover.config import LeanConfig
from prover.errors import ReplStartError
from prover.lean.process import ReplProcess
from prover.lean.protocol import Message, Pos
from prover.lean.statement import OTHER_LINE_SEPARATORS, Statement
from prover.lean.verifier import (
    HEARTBEAT_BUDGET,
    STANDARD_AXIOMS,
    Verdict,
    Verification,
    check_in_env,
    check_proof_text,
    parse_axioms,
    reference_name,
    verify_proof,
)
from search.banned import BannedTokens
from search.cache import CacheKey, ProofCache

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fake_lean  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
HEADER = "import Mathlib"
T1 = Statement.parse("theorem t1 (x : ℕ) : x + 0 = x := by sorry")
T1_STATE = "x : ℕ\n⊢ x + 0 = x"
NATIVE = "decide (native := true)"  # closes the goal, but through Lean.ofReduceBool: never a verified proof
NO_LEAN = LeanConfig(project_dir=ROOT, repl_command="/nonexistent/prover-test/repl")
SPEC: dict[str, Any] = {
    "statements": {"t1": {"goals": [T1_STATE]}},
    "tactics": {T1_STATE: {"simp": {"goals": []}, NATIVE: {"goals": []}}},
}


def scenario_file(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "soundness.json"
    path.write_text(json.dumps({**SPEC, **changes}), encoding="utf-8")
    return path


def fake_config(*args: str | Path, **changes: Any) -> LeanConfig:
    argv = [sys.executable, str(FAKE), *map(str, args)]
    return LeanConfig(project_dir=ROOT, repl_command=shlex.join(argv), command_timeout=10, verify_timeout=10).with_(**changes)


def verify(tactics: list[str], config: LeanConfig, **kwargs: Any) -> Verification:
    return asyncio.run(verify_proof(T1, tactics, header=HEADER, config=config, **kwargs))


@asynccontextmanager
async def warm(config: LeanConfig) -> AsyncIterator[tuple[ReplProcess, int]]:
    """One fake REPL with the header elaborated: (process, header env) for `check_in_env`."""
    process = ReplProcess.from_config(config, name="test")
    await process.start()
    try:
        head = await process.command(HEADER, env=None, timeout=10)
        assert not hasattr(head, "message")
        yield process, head.env  # type: ignore[union-attr]
    finally:
        await process.close()


def guard_only(tactics: list[str], config: LeanConfig) -> Verification:
    """The Lean-level check alone, with none of the text checks in front of it."""

    async def run() -> Verification:
        async with warm(config) as (process, env):
            return await check_in_env(process, env, T1, tactics, timeout=10)

    return asyncio.run(run())


# ------------------------------------------------------------------ item 1: line breaks only Python sees


@pytest.mark.parametrize("sep", sorted(OTHER_LINE_SEPARATORS))
def test_a_line_separator_other_than_newline_is_refused_before_lean(sep: str) -> None:
    # The attack: to the old text check one `--` comment; after `splitlines()` Lean got a namespace and
    # a decoy theorem that `#print axioms t1` resolved to.
    attack = f"{NATIVE} -- x{sep}namespace Foo{sep}theorem t1 (x : ℕ) : x + 0 = x := by simp"
    result = verify([attack], NO_LEAN)  # NO_LEAN raises if a process is started
    assert result.verdict is Verdict.BANNED and "line separator" in result.details


def test_the_rendering_splits_on_newline_only() -> None:
    text = T1.with_proof(["simp -- a\u2028b"])
    assert text == "theorem t1 (x : ℕ) : x + 0 = x := by\n  simp -- a\u2028b"


def test_the_guard_alone_stops_a_smuggled_namespace_and_decoy(tmp_path: Path) -> None:
    # Sent with real newlines and no text check at all: Lean elaborates t1 by native code, then Foo.t1 by simp.
    # `#print axioms t1` would now resolve to Foo.t1 (standard axioms); `_root_.t1` is the original one.
    tactics = [NATIVE, "namespace Foo", "theorem t1 (x : ℕ) : x + 0 = x := by simp"]
    result = guard_only(tactics, fake_config("--scenario", scenario_file(tmp_path)))
    assert result.verdict is Verdict.BAD_AXIOMS and "Lean.ofReduceBool" in result.details


def test_the_guard_alone_stops_a_proof_that_ends_early_with_a_decoy(tmp_path: Path) -> None:
    tactics = [NATIVE, "theorem t : True := trivial", "#print axioms t"]
    result = guard_only(tactics, fake_config("--scenario", scenario_file(tmp_path)))
    assert result.verdict is Verdict.BAD_AXIOMS and "Lean.ofReduceBool" in result.details


def test_a_header_namespace_is_found_through_the_reference(tmp_path: Path) -> None:
    # A preamble that leaves `namespace Olymp` open: the theorem is Olymp.t1, and the guard must name it so.
    async def run() -> Verification:
        async with warm(fake_config("--scenario", scenario_file(tmp_path))) as (process, env):
            opened = await process.command("namespace Olymp", env=env, timeout=10)
            return await check_in_env(process, opened.env, T1, ["simp"], timeout=10)  # type: ignore[union-attr]

    result = asyncio.run(run())
    assert result.accepted, result


# --------------------------------------------------------------------- item 2: lexing as Lean lexes


@pytest.mark.parametrize(
    "hidden",
    [
        'trace s!"{\'"\'}"',  # one interpolated literal: the `'"'` is a char inside `{…}`
        'trace m!"{\'"\'}"',
        'trace f!"{\'"\'}"',
        "exact 2'\"'",  # a number, then the char literal '"'
        "exact (f)ᶜ'\"'",  # `ᶜ` is no identifier character: a char literal follows
    ],
)
def test_code_after_a_literal_lean_closes_is_seen(hidden: str) -> None:
    refusal = check_proof_text(T1, [hidden, "namespace Foo", 'trace "x"'], banned=BannedTokens(()))
    assert refusal is not None and refusal[0] is Verdict.STATEMENT_CHANGED


def test_lexing_follows_lean_on_ordinary_literals() -> None:
    for tactic in ['trace s!"{x} and {y}"', "exact 2'", "simp [h', h₁']", "exact 'a'", 'trace "a -- b"']:
        assert check_proof_text(T1, [tactic]) is None, tactic


@pytest.mark.parametrize("word", ["macro_rules", "elab", "syntax", "notation", "attribute", "initialize", "simproc"])
def test_meta_command_words_are_refused_even_inside_comments(word: str) -> None:
    refusal = check_proof_text(T1, [f"simp -- {word} here"])
    assert refusal is not None and "command word" in refusal[1]


@pytest.mark.parametrize("word", ["notation3", "seal", "unseal", "dsimproc", "register_simp_attr", "add_aesop_rules", "recall", "proof_wanted"])
def test_the_command_words_f10_listed_are_refused(word: str) -> None:
    assert check_proof_text(T1, ["simp", f"{word} foo"], banned=BannedTokens(())) is not None


# -------------------------------------------------------------------- item 3: exactly one right report


def _info(data: str, severity: str = "info") -> Message:
    return Message(severity=severity, pos=Pos(line=1, column=0), data=data)  # type: ignore[arg-type]


def test_parse_axioms_wants_one_info_report_quoting_the_name() -> None:
    good = _info("'t1' depends on axioms: [propext]")
    assert parse_axioms([good], name="t1") == ("propext",)
    assert parse_axioms([_info("'Foo.t1' depends on axioms: [propext]")], name="t1") is None  # another constant
    assert parse_axioms([good, _info("'t' does not depend on any axioms")], name="t1") is None  # two reports
    assert parse_axioms([_info("'t1' depends on axioms: [propext]", "warning")], name="t1") is None
    assert parse_axioms([_info("'t1' does not depend on any axioms")], name="t1") == ()


def _msg(data: str, severity: str = "info") -> dict[str, Any]:
    return {"severity": severity, "pos": {"line": 1, "column": 0}, "endPos": None, "data": data}


def _transcript(tmp_path: Path, last: dict[str, Any]) -> Path:
    """Header, reference (with its report), proof, then `last` as the answer to the guard and `#print axioms`."""
    reference = {"env": 1, "messages": [_msg(f"'{reference_name(T1)}' depends on axioms: [sorryAx]")]}
    replies = [{"env": 0}, reference, {"env": 2}, last]
    (tmp_path / "t.in").write_text("", encoding="utf-8")
    (tmp_path / "t.expected.out").write_text("\n\n".join(map(json.dumps, replies)) + "\n\n", encoding="utf-8")
    return tmp_path / "t.in"


@pytest.mark.parametrize(
    "messages",
    [
        [("'Foo.t1' depends on axioms: [propext]",)],  # a report on another declaration
        [("'t1' depends on axioms: [propext]",), ("'t' does not depend on any axioms",)],  # two reports
        [("'t1' depends on axioms: [propext]", "warning")],  # not an info message
        [],
    ],
)
def test_only_one_report_on_the_theorem_itself_is_an_answer(tmp_path: Path, messages: list[tuple[str, ...]]) -> None:
    path = _transcript(tmp_path, {"env": 3, "messages": [_msg(*m) for m in messages]})
    result = verify(["simp"], fake_config("--transcript", path))
    assert result.verdict is Verdict.BAD_AXIOMS and "exactly one axiom report" in result.details


# --------------------------------------------------------------------------- the property test


# Generated proofs have the shape of an attack, every piece random: a first tactic (honest or native); a lexing
# trick that might make a text check misread what follows (a comment, a string, char literals, interpolations,
# numbers glued to quotes); a scope change; a decoy declaration; a tail; each after a random separator.
_BASES = st.sampled_from(["simp", NATIVE, NATIVE])
_TRICKS = st.one_of(
    st.just(""),
    st.sampled_from(["-- c", "/- c -/", "/-", "-/", '"s"', '"', "'\"'", "'\\''", 's!"{\'"\'}"', 'm!"{"}"', "2'\"'", "(f)ᶜ'\"'", "«x»"]),
)
_SCOPES = st.sampled_from(["namespace Foo", "namespace Foo", "section", "end", "open Foo", "set_option pp.all true", ""])
_DECOYS = st.sampled_from(
    ["theorem t1 (x : ℕ) : x + 0 = x := by simp", "theorem _root_.t1 (x : ℕ) : x + 0 = x := by simp",
     "theorem t : True := trivial", ""]
)
_TAILS = st.one_of(st.just(""), st.sampled_from(["#print axioms t1", "end Foo", "#exit", "simp", '"', "-/", "namespace Foo"]))
_SEPARATORS = st.sampled_from(["\n", "\n", "\n", " ", "\n  ", *sorted(OTHER_LINE_SEPARATORS)])


@st.composite
def tactic_texts(draw: st.DrawFn) -> list[str]:
    text = draw(_BASES)
    for piece in (_TRICKS, _SCOPES, _DECOYS, _TAILS):
        text += draw(_SEPARATORS) + draw(piece)
    # cut into one to three tactics at random newlines, as a model's tactics would come
    lines = text.split("\n")
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(lines) - 1)), max_size=2)))
    return ["\n".join(lines[a:b]) for a, b in zip([0, *cuts], [*cuts, len(lines)]) if lines[a:b]]


def _truly_sound(tactics: list[str]) -> bool:
    """What Lean does with the text sent (the fake's Lean lexing): the first command is t1's declaration and its
    proof runs no native code."""
    first = fake_lean.split_commands(T1.with_proof(tactics))[0]
    decl = fake_lean.declaration(first.text)
    return decl is not None and decl.name == "t1" and not fake_lean.native_axioms(decl.proof)


@pytest.fixture(scope="module")
def warm_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[asyncio.AbstractEventLoop, ReplProcess, int]]:
    """One warm fake REPL for every example (a command on the header env is independent of the ones before)."""
    config = fake_config("--scenario", scenario_file(tmp_path_factory.mktemp("prop")))
    loop = asyncio.new_event_loop()
    context = warm(config)
    process, env = loop.run_until_complete(context.__aenter__())
    yield loop, process, env
    loop.run_until_complete(context.__aexit__(None, None, None))
    loop.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tactics=tactic_texts())
def test_a_proof_is_accepted_only_when_lean_would_agree(
    warm_fake: tuple[asyncio.AbstractEventLoop, ReplProcess, int], tactics: list[str]
) -> None:
    loop, process, env = warm_fake
    guard = loop.run_until_complete(check_in_env(process, env, T1, tactics, timeout=10))
    refusal = check_proof_text(T1, tactics)
    if guard.accepted:  # the Lean-level guard and the single report, with no text check in front
        assert _truly_sound(tactics), (tactics, guard)
        assert set(guard.axioms) <= STANDARD_AXIOMS
    if refusal is None and guard.accepted:  # what verify_proof does
        assert _truly_sound(tactics)


def test_the_property_test_can_accept() -> None:
    # The generator's plain cases do pass: the property above is not vacuous.
    assert _truly_sound(["simp -- c"]) and not _truly_sound([NATIVE, "namespace Foo"])


# --------------------------------------------------------------- F4: the header import is no verdict


@pytest.mark.parametrize("fault", ["hang", "exit139"])
def test_a_header_import_that_fails_twice_is_an_environment_fault(
    tmp_path: Path, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = fake_config("--scenario", scenario_file(tmp_path), "--fault-at", f"1:{fault}", command_timeout=1.0)
    with pytest.raises(ReplStartError, match="could not import the header"):
        verify(["simp"], config)
    assert sum("retrying in a new process" in r.getMessage() for r in caplog.records) == 1


def test_a_deadline_bounds_the_header_import(tmp_path: Path) -> None:
    config = fake_config("--scenario", scenario_file(tmp_path), "--header-delay", "5")
    t0 = time.monotonic()
    result = verify(["simp"], config, deadline=time.monotonic() + 0.5)
    assert result.verdict is Verdict.TIMEOUT and not result.conclusive and "budget" in result.details
    assert time.monotonic() - t0 < 4


def test_a_deadline_already_past_checks_nothing(tmp_path: Path) -> None:
    result = verify(["simp"], fake_config("--scenario", scenario_file(tmp_path)), deadline=time.monotonic() - 1)
    assert result.verdict is Verdict.TIMEOUT and not result.conclusive


# ------------------------------------------------------------------------ F6: the heartbeat budget


def test_a_proof_rejected_for_the_declarations_heartbeats_says_so(tmp_path: Path) -> None:
    beats = "(deterministic) timeout at `whnf`, maximum number of heartbeats (400000) has been reached"
    spec = scenario_file(tmp_path, tactics={T1_STATE: {"simp": {"error": beats}}})
    result = verify(["simp"], fake_config("--scenario", spec))
    assert result.verdict is Verdict.LEAN_ERROR and HEARTBEAT_BUDGET in result.details and result.conclusive


# ------------------------------------------------------------------------- F7: nested `by` blocks


def test_a_nested_by_block_in_column_zero_stays_nested() -> None:
    text = T1.with_proof(["have h : x + 0 = x := by\nsimp", "exact h"])
    assert text.endswith(":= by\n  have h : x + 0 = x := by\n    simp\n  exact h")
    # relative indentation inside the continuation is kept
    text = T1.with_proof(["have h : True := by\nconstructor\n· simp\n  ring\n· simp"])
    assert text.endswith("by\n    constructor\n    · simp\n      ring\n    · simp")
    # a continuation that is already deeper is left alone
    assert T1.with_proof(["all_goals\n  trivial"]).endswith("by\n  all_goals\n    trivial")


# --------------------------------------------------------- item 8: an inconclusive re-check keeps the proof


def _cache_with_t1(path: Path) -> ProofCache:
    cache = ProofCache.open(path)
    key = CacheKey("v4.24.0", "v4.24.0", HEADER, T1.head)
    cache.put(key, ["simp"], Verification(Verdict.VERIFIED), theorem_name="t1")
    return cache


def test_prove_keeps_a_cached_proof_whose_recheck_crashed(tmp_path: Path) -> None:
    from prover.agent import _cached_proof

    cache = _cache_with_t1(tmp_path / "c.sqlite")
    key = CacheKey("v4.24.0", "v4.24.0", HEADER, T1.head)

    async def crashed(proof: tuple[str, ...]) -> Verification:
        return Verification(Verdict.REPL_ERROR, "the REPL died")

    async def rejected(proof: tuple[str, ...]) -> Verification:
        return Verification(Verdict.LEAN_ERROR, "unknown tactic")

    with cache:
        assert asyncio.run(_cached_proof(cache, key, "t1", False, crashed)) is None
        assert cache.get(key) is not None  # kept
        assert asyncio.run(_cached_proof(cache, key, "t1", False, rejected)) is None
        assert cache.get(key) is None  # a conclusive rejection deletes


def test_cache_verify_keeps_what_it_could_not_recheck(tmp_path: Path) -> None:
    from tests.test_cli import run_cli

    path = tmp_path / "c.sqlite"
    _cache_with_t1(path).close()
    scenario = scenario_file(tmp_path)
    crash = f"{sys.executable} {FAKE} --scenario {scenario} --fault-at 3:exit139"  # the proof command crashes
    out = run_cli("cache", "verify", "--cache", str(path), "--repl-cmd", crash)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"checked": 1, "dropped": 0, "could_not_recheck": 1}
    assert "could not re-check t1" in out.stderr
    with ProofCache.open(path) as cache:
        assert cache.counts()["proofs"] == 1
    # F4 from the CLI: a header import that crashes in both processes is an environment problem (exit 3), no verdict
    header_crash = f"{sys.executable} {FAKE} --scenario {scenario} --fault-at 1:exit139"
    out = run_cli("cache", "verify", "--cache", str(path), "--repl-cmd", header_crash)
    assert out.returncode == 3 and "could not import the header" in out.stderr and "Traceback" not in out.stderr
    with ProofCache.open(path) as cache:
        assert cache.counts()["proofs"] == 1
    broken = scenario_file(tmp_path, verify_fails=["t1"])
    out = run_cli("cache", "verify", "--cache", str(path), "--repl-cmd", f"{sys.executable} {FAKE} --scenario {broken}")
    assert json.loads(out.stdout) == {"checked": 1, "dropped": 1, "could_not_recheck": 0}


# ------------------------------------------------------------------ F10: the statement-unchanged check runs


def test_the_agent_asks_the_verifier_to_compare_with_the_users_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import prover.agent
    from tests.test_agent import STATEMENT, config, prove

    originals: list[str | None] = []
    real = prover.agent.verify_proof

    async def recording(*args: Any, **kwargs: Any) -> Verification:
        originals.append(kwargs.get("original"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(prover.agent, "verify_proof", recording)
    assert prove(config(tmp_path / "proofs.sqlite")).proved  # type: ignore[attr-defined]
    assert originals and all(o == STATEMENT for o in originals)
