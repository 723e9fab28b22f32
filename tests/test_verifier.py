"""The final verifier (DESIGN contract 4) against the FAKE REPL (tests/fake_repl.py): scenario mode simulates Lean,
transcript mode answers with exact texts written here (for the v4.28+ backticked sorry warning and odd replies)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from prover.config import LeanConfig
from prover.errors import ReplStartError
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.protocol import Message, Pos
from prover.lean.statement import Statement
from prover.lean.verifier import Verdict, Verification, check_proof_text, parse_axioms, reference_name, verify_proof
from search.banned import DEFAULT_BANNED, BannedTokens
from search.outcomes import ProofFinished

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
HEADER = "import Mathlib\n\nopen Real"
T1 = Statement.parse("theorem t1 (x : ℕ) : x + 0 = x := by sorry")
T1_STATE = "x : ℕ\n⊢ x + 0 = x"
LONG = "a_theorem_with_a_long_name_that_pushes_the_axiom_list_of_print_axioms_past_the_width"
NO_LEAN = LeanConfig(project_dir=ROOT, repl_command="/nonexistent/prover-test/repl")  # fails if ever started
NOTHING_BANNED = BannedTokens(())


def fake_config(*args: str | Path, **changes: Any) -> LeanConfig:
    argv = [sys.executable, str(FAKE), *map(str, args)]
    return LeanConfig(project_dir=ROOT, repl_command=shlex.join(argv), command_timeout=10, verify_timeout=10).with_(**changes)


def scenario(tmp_path: Path, **spec: Any) -> Path:
    """A scenario where `t1` (x + 0 = x) is closed by `simp`, plus whatever `spec` adds."""
    base: dict[str, Any] = {
        "statements": {"t1": {"goals": [T1_STATE]}},
        "tactics": {T1_STATE: {"simp": {"goals": []}, "rw [Nat.add_comm]": {"goals": ["x : ℕ\n⊢ 0 + x = x"]}},
                    "x : ℕ\n⊢ 0 + x = x": {"exact Nat.zero_add x": {"goals": []}}},
    }
    for key, value in spec.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(base), encoding="utf-8")
    return path


def transcript(tmp_path: Path, header: dict[str, Any], *responses: dict[str, Any], statement: Statement = T1) -> Path:
    """A fake-REPL transcript: the header's answer, the reference statement's (a sorry warning and its axiom
    report), then `responses` (the .in file is not read in that mode)."""
    ref = reference_name(statement)
    reference = {"env": 1, "messages": [msg("declaration uses 'sorry'", "warning"), msg(f"'{ref}' depends on axioms: [sorryAx]")]}
    responses = (header, reference, *responses)
    path = tmp_path / "t.in"
    path.write_text("", encoding="utf-8")
    (tmp_path / "t.expected.out").write_text("\n\n".join(json.dumps(r) for r in responses) + "\n\n", encoding="utf-8")
    return path


def verify(statement: Statement, tactics: list[str], config: LeanConfig, **kwargs: Any) -> Verification:
    return asyncio.run(verify_proof(statement, tactics, header=HEADER, config=config, **kwargs))


def msg(data: str, severity: str = "info") -> dict[str, Any]:
    return {"severity": severity, "pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 6}, "data": data}


# ------------------------------------------------------------------------------------------ accepted


def test_a_real_proof_is_verified(tmp_path: Path) -> None:
    result = verify(T1, ["rw [Nat.add_comm]", "exact Nat.zero_add x"], fake_config("--scenario", scenario(tmp_path)))
    assert result.verdict is Verdict.VERIFIED and result.accepted and result.name == "verified"
    assert result.axioms == ("propext", "Classical.choice", "Quot.sound")
    assert result.details == "" and result.seconds > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.verdict = Verdict.BANNED  # type: ignore[misc]


def test_a_fresh_process_gets_header_env_less_then_the_statement_verbatim(tmp_path: Path) -> None:
    log = tmp_path / "queries.jsonl"
    config = fake_config("--scenario", scenario(tmp_path), "--log", log)
    statement = Statement.parse("theorem t1 (x : ℕ) :\n    x + 0 = x := by\n  omega")  # a proof given with it is dropped
    assert verify(statement, ["simp"], config).accepted
    assert verify(statement, ["simp"], config).accepted
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    queries = [json.loads(e["query"]) for e in entries]
    assert len({e["pid"] for e in entries}) == 2  # one fresh process per check
    header, reference, proof, guard = queries[:4]
    ref = reference_name(statement)
    assert header == {"cmd": HEADER}  # env-less
    assert reference == {"cmd": f"theorem {ref} (x : ℕ) :\n    x + 0 = x := sorry\n\n"
                                f"set_option pp.fullNames true in\n#print axioms {ref}", "env": 0}
    assert proof == {"cmd": "theorem t1 (x : ℕ) :\n    x + 0 = x := by\n  simp", "env": 1}
    assert guard == {"cmd": f"example : type_of% @_root_.{ref} := @_root_.t1\n\n"
                            "set_option pp.fullNames true in\n#print axioms _root_.t1", "env": 2}


def test_no_axioms_at_all_is_accepted(tmp_path: Path) -> None:
    result = verify(T1, ["simp"], fake_config("--scenario", scenario(tmp_path, axioms={"t1": []})))
    assert result.verdict is Verdict.VERIFIED and result.axioms == ()


def test_a_wrapped_axiom_list_is_read_whole(tmp_path: Path) -> None:
    statement = Statement.parse(f"theorem {LONG} (x : ℕ) : x + 0 = x := by sorry")
    spec = scenario(tmp_path, statements={LONG: {"goals": [T1_STATE]}})
    result = verify(statement, ["simp"], fake_config("--scenario", spec))
    assert result.verdict is Verdict.VERIFIED
    assert result.axioms == ("propext", "Classical.choice", "Quot.sound")


# ---------------------------------------------------------------------------------- refused before Lean


@pytest.mark.parametrize("token", DEFAULT_BANNED)
def test_each_banned_token_is_refused_before_lean(token: str) -> None:
    result = verify(T1, ["intro h", f"{token} x"], NO_LEAN)  # NO_LEAN would raise if a process were started
    assert result.verdict is Verdict.BANNED and token in result.details


def test_a_banned_token_split_over_tactics_or_spaced_out_is_found() -> None:
    assert verify(T1, ["set_option", "debug.skipKernelTC true in simp"], NO_LEAN).verdict is Verdict.BANNED
    assert verify(T1, ["set_option  debug.skipKernelTC true in simp"], NO_LEAN).verdict is Verdict.BANNED
    assert verify(T1, ["set_option «debug».skipKernelTC true in simp"], NO_LEAN).verdict is Verdict.BANNED


def test_a_custom_policy_is_applied() -> None:
    assert verify(T1, ["decide"], NO_LEAN, banned=BannedTokens(("decide",))).verdict is Verdict.BANNED


def test_a_changed_statement_is_refused() -> None:
    changed = Statement.parse("theorem t1 (x : ℕ) : x + 0 = x ∨ True := by sorry")
    result = verify(changed, ["simp"], NO_LEAN, original=T1.original)
    assert result.verdict is Verdict.STATEMENT_CHANGED


def test_the_same_statement_as_the_original_goes_to_lean(tmp_path: Path) -> None:
    result = verify(T1, ["simp"], fake_config("--scenario", scenario(tmp_path)), original="theorem t1 (x : ℕ) : x + 0 = x := by\n  simp")
    assert result.accepted


@pytest.mark.parametrize(
    "proof",
    [
        "simp\ntheorem t1 (x : ℕ) : x + 0 = x := by simp",
        "simp\n\nnamespace Evil",
        "simp\nend",
        "simp\n#exit",
        "simp\n#print axioms t1",
        "simp\n@[simp] lemma l : True := trivial",
        "simp\nopen Classical",
        "simp\nset_option pp.all true",
        "simp\nattribute [local instance] Classical.propDecidable",
        "simp\nnoncomputable section",
        # Lean lexes these as a char literal, a raw string and a quoted name, so the `"` inside opens no string
        # and `end` is a command; a scan that took `"` for a string opener would not see it.
        "exact '\"'\nend\nexact '\"'",
        'trace r"\\"\nend\ntrace "x"',
        'trace r#"a"#\nend\ntrace r#"b"#',
        'have «h"» : True := trivial\nend\nhave «"» : True := trivial',
    ],
)
def test_a_proof_that_could_end_the_declaration_early_is_refused(proof: str) -> None:
    result = verify(T1, proof.split("\n"), NO_LEAN, banned=NOTHING_BANNED)
    assert result.verdict is Verdict.STATEMENT_CHANGED
    assert "end the declaration" in result.details or "command word" in result.details


@pytest.mark.parametrize(
    "proof",
    [
        "open Real in simp",
        "set_option maxRecDepth 10000 in\n  norm_num",
        "simp [Nat.add_def] -- theorem by definition, see the end",
        'trace "namespace end theorem"',
        "have hend : x = x := rfl",
        "exact Nat.sub_def x 0",
        "infer_instance",
        "/- section: end -/ omega",
        "simp [show ('a' : Char) = 'a' from rfl, h']",
        "exact (fun c => c) '\\''",
        'trace r#"end "theorem" -- "#',
        "have «end» : True := trivial",
    ],
)
def test_ordinary_tactics_are_not_taken_for_commands(proof: str) -> None:
    assert check_proof_text(T1, proof.split("\n")) is None


def test_an_empty_proof_is_refused() -> None:
    assert verify(T1, [], NO_LEAN).verdict is Verdict.LEAN_ERROR
    assert verify(T1, ["", "  "], NO_LEAN).verdict is Verdict.LEAN_ERROR


# ------------------------------------------------------------------------------------- refused by Lean


def test_a_lean_error_is_refused(tmp_path: Path) -> None:
    spec = scenario(tmp_path, tactics={T1_STATE: {"simp": {"goals": []}, "exact h": {"error": "unknown identifier 'h'"}}})
    result = verify(T1, ["exact h"], fake_config("--scenario", spec))
    assert result.verdict is Verdict.LEAN_ERROR and "unknown identifier 'h'" in result.details
    assert any("error: unknown identifier 'h'" in m for m in result.messages)


def test_unsolved_goals_are_refused(tmp_path: Path) -> None:
    result = verify(T1, ["rw [Nat.add_comm]"], fake_config("--scenario", scenario(tmp_path)))
    assert result.verdict is Verdict.LEAN_ERROR and "unsolved goals" in result.details


def test_a_proof_relying_on_sorry_is_refused(tmp_path: Path) -> None:
    config = fake_config("--scenario", scenario(tmp_path))
    assert verify(T1, ["sorry"], config).verdict is Verdict.BANNED  # the default policy stops it first
    result = verify(T1, ["rw [Nat.add_comm]", "sorry"], config, banned=NOTHING_BANNED)  # Lean sees it
    assert result.verdict is Verdict.USES_SORRY
    assert any("declaration uses 'sorry'" in m for m in result.messages)


def test_sorry_ax_among_the_axioms_is_sorry_even_without_the_warning(tmp_path: Path) -> None:
    spec = scenario(tmp_path, axioms={"t1": ["propext", "sorryAx"]})
    result = verify(T1, ["simp"], fake_config("--scenario", spec))
    assert result.verdict is Verdict.USES_SORRY and "sorryAx" in result.axioms


def test_the_backticked_sorry_warning_is_recognised(tmp_path: Path) -> None:
    path = transcript(tmp_path, {"env": 0}, {"env": 1, "messages": [msg("declaration uses `sorry`", "warning")]},
                      {"env": 2, "messages": [msg("'t1' depends on axioms: [propext]")]})
    assert verify(T1, ["simp"], fake_config("--transcript", path)).verdict is Verdict.USES_SORRY


def test_a_sorries_entry_is_sorry_even_without_the_warning(tmp_path: Path) -> None:
    sorry = {"proofState": 0, "pos": {"line": 2, "column": 2}, "goal": T1_STATE, "endPos": {"line": 2, "column": 7}}
    path = transcript(tmp_path, {"env": 0}, {"env": 1, "sorries": [sorry]},
                      {"env": 2, "messages": [msg("'t1' depends on axioms: [propext]")]})
    assert verify(T1, ["simp"], fake_config("--transcript", path)).verdict is Verdict.USES_SORRY


@pytest.mark.parametrize(
    "axioms, bad",
    [
        (["propext", "Lean.ofReduceBool", "Lean.trustCompiler"], "Lean.ofReduceBool, Lean.trustCompiler"),
        (["t1._native.native_decide.ax_1"], "t1._native.native_decide.ax_1"),
        (["propext", "my_axiom"], "my_axiom"),
    ],
)
def test_non_standard_axioms_are_refused(tmp_path: Path, axioms: list[str], bad: str) -> None:
    result = verify(T1, ["simp"], fake_config("--scenario", scenario(tmp_path, axioms={"t1": axioms})))
    assert result.verdict is Verdict.BAD_AXIOMS and bad in result.details


def test_an_axiom_the_header_declares_is_allowed_only_when_named(tmp_path: Path) -> None:
    config = fake_config("--scenario", scenario(tmp_path, axioms={"t1": ["propext", "sol_prop"]}))
    assert verify(T1, ["simp"], config).verdict is Verdict.BAD_AXIOMS
    allowed = verify(T1, ["simp"], config, allowed_axioms=frozenset({"sol_prop"}))
    assert allowed.verdict is Verdict.VERIFIED and allowed.axioms == ("propext", "sol_prop")
    assert verify(T1, ["simp"], config, allowed_axioms=frozenset({"other"})).verdict is Verdict.BAD_AXIOMS


def test_bad_axioms_in_a_wrapped_list_are_found(tmp_path: Path) -> None:
    statement = Statement.parse(f"theorem {LONG} (x : ℕ) : x + 0 = x := by sorry")
    axioms = ["propext", "Classical.choice", "Lean.ofReduceBool", "Lean.trustCompiler", "Quot.sound"]
    spec = scenario(tmp_path, statements={LONG: {"goals": [T1_STATE]}}, axioms={LONG: axioms})
    result = verify(statement, ["simp"], fake_config("--scenario", spec))
    assert result.verdict is Verdict.BAD_AXIOMS
    assert set(result.axioms) == set(axioms)


def test_tactic_mode_accepts_but_command_mode_rejects(tmp_path: Path) -> None:
    """repl issue #44: the search's `Completed` is not enough; the fresh command-mode check decides."""
    config = fake_config("--scenario", scenario(tmp_path, verify_fails=["t1"]))

    async def search_then_verify() -> tuple[object, Verification]:
        async with ReplPool(config, HEADER) as pool:
            env = ProofEnvironment(pool, T1)
            found = await env.run_tac(await env.start(), "simp")
        return found, await verify_proof(T1, ["simp"], header=HEADER, config=config)

    found, result = asyncio.run(search_then_verify())
    assert isinstance(found, ProofFinished)
    assert result.verdict is Verdict.LEAN_ERROR


def test_a_header_that_fails_is_a_lean_error(tmp_path: Path) -> None:
    path = transcript(tmp_path, {"env": 0, "messages": [msg("unknown module prefix 'Mathlib'", "error")]})
    result = verify(T1, ["simp"], fake_config("--transcript", path))
    assert result.verdict is Verdict.LEAN_ERROR and "header" in result.details


def test_a_missing_axiom_report_is_not_accepted(tmp_path: Path) -> None:
    path = transcript(tmp_path, {"env": 0}, {"env": 1}, {"env": 2})
    assert verify(T1, ["simp"], fake_config("--transcript", path)).verdict is Verdict.BAD_AXIOMS


# ------------------------------------------------------------------------------- the process misbehaves


def test_a_hang_is_a_timeout_verdict(tmp_path: Path) -> None:
    config = fake_config("--scenario", scenario(tmp_path), "--fault-at", "2:hang", verify_timeout=0.5)
    result = verify(T1, ["simp"], config)
    assert result.verdict is Verdict.TIMEOUT and result.seconds < 5


def test_a_slow_header_is_not_a_timeout_of_the_proof(tmp_path: Path) -> None:
    config = fake_config("--scenario", scenario(tmp_path), "--header-delay", "0.6", verify_timeout=0.5)
    assert verify(T1, ["simp"], config).accepted  # the header gets command_timeout, the proof verify_timeout


@pytest.mark.parametrize("fault, oom", [("exit139", False), ("exit137", True), ("garbage", False)])
def test_a_crash_is_a_repl_error_verdict(tmp_path: Path, fault: str, oom: bool) -> None:
    result = verify(T1, ["simp"], fake_config("--scenario", scenario(tmp_path), "--fault-at", f"2:{fault}"))
    assert result.verdict is Verdict.REPL_ERROR
    assert ("out of memory" in result.details) is oom


def test_a_repl_that_cannot_start_raises() -> None:
    with pytest.raises(ReplStartError):
        verify(T1, ["simp"], NO_LEAN)


# ---------------------------------------------------------------------------------------- axiom parsing


def _message(data: str) -> Message:
    return Message(severity="info", pos=Pos(line=1, column=0), data=data)


def test_parse_axioms_reads_both_forms_and_wrapped_lists() -> None:
    assert parse_axioms([_message("'t' depends on axioms: [propext, Classical.choice, Quot.sound]")]) == (
        "propext", "Classical.choice", "Quot.sound")
    assert parse_axioms([_message("'t' does not depend on any axioms")]) == ()
    wrapped = "'t' depends on axioms: [propext,\n sorryAx,\n Classical.choice,\n Quot.sound]"
    assert parse_axioms([_message(wrapped)]) == ("propext", "sorryAx", "Classical.choice", "Quot.sound")
    assert parse_axioms([_message("something else")]) is None
