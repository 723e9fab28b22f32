"""DESIGN.md contract 3 on REAL REPL answers, loaded from the recorded transcripts (never pasted here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prover.lean.protocol import (
    CommandResponse,
    ErrorResponse,
    ProofStepResponse,
    classify_tactic_response,
    parse_response,
)
from search.outcomes import LeanError, ProofFinished, TacticState

# (transcript, 0-based response index, expected outcome, the contract-3 rule it exercises)
TABLE = [
    ("test/unknown_tactic", 1, LeanError, '{"message"} alone'),
    ("test/invalid_tactic", 1, LeanError, "an error message although a new proof state came back"),
    ("test/Mathlib/test/20240209", 1, LeanError, "an error message although a new proof state came back"),
    ("test/tactic_mode_sorry", 1, LeanError, "non-empty sorries (the step is sorry)"),
    ("test/have_by_sorry", 2, LeanError, "non-empty sorries with goals left"),
    ("test/self_proof_exact_check", 2, LeanError, "goals [] but the kernel check failed"),
    ("test/Mathlib/test/placeholder_synthesis", 4, LeanError, "goals [] but metavariables remain"),
    ("test/proof_step", 3, ProofFinished, "goals [] and Completed"),
    ("test/readme", 2, ProofFinished, "goals [] and Completed"),
    ("test/proof_step", 1, TacticState, "open goals"),
    ("test/readme", 1, TacticState, "open goals"),
    ("test/Mathlib/test/placeholder_synthesis", 3, TacticState, "open goals with a case tag"),
]


def response(transcripts: Path, name: str, index: int) -> str:
    text = (transcripts / f"{name}.expected.out").read_text(encoding="utf-8")
    return [part for part in text.split("\n\n") if part.strip()][index]


@pytest.mark.parametrize(("name", "index", "expected", "rule"), TABLE, ids=[f"{n}#{i}" for n, i, _, _ in TABLE])
def test_contract_3_on_real_answers(transcripts: Path, name: str, index: int, expected: type, rule: str) -> None:
    resp = parse_response(response(transcripts, name, index))
    result = classify_tactic_response(resp, state_id=42)
    assert isinstance(result, expected), f"{rule}: got {result!r}"
    if isinstance(result, TacticState):
        assert isinstance(resp, ProofStepResponse)
        assert result.goals == resp.goals and result.id == 42
    if isinstance(result, ProofFinished):
        assert result.id == 42


def test_the_table_covers_every_rule(transcripts: Path) -> None:
    kinds = {type(parse_response(response(transcripts, n, i))) for n, i, _, _ in TABLE}
    assert kinds == {ErrorResponse, ProofStepResponse}
    statuses = {
        r.proof_status
        for n, i, _, _ in TABLE
        if isinstance(r := parse_response(response(transcripts, n, i)), ProofStepResponse) and not r.goals
    }
    assert any(s and s.startswith("Error: kernel") for s in statuses)
    assert any(s and "metavariable" in s for s in statuses)
    assert "Completed" in statuses


def test_error_texts_are_kept(transcripts: Path) -> None:
    result = classify_tactic_response(parse_response(response(transcripts, "test/invalid_tactic", 1)), 1)
    assert isinstance(result, LeanError) and "my_fake_premise" in result.error
    result = classify_tactic_response(parse_response(response(transcripts, "test/unknown_tactic", 1)), 1)
    assert isinstance(result, LeanError) and "unknown tactic" in result.error
    result = classify_tactic_response(parse_response(response(transcripts, "test/self_proof_exact_check", 2)), 1)
    assert isinstance(result, LeanError) and "kernel type check failed" in result.error


def test_a_command_response_is_not_a_tactic_outcome(transcripts: Path) -> None:
    resp = parse_response(response(transcripts, "test/readme", 0))
    assert isinstance(resp, CommandResponse)
    with pytest.raises(TypeError):
        classify_tactic_response(resp, 0)


def test_no_goals_without_a_proof_status_is_not_a_proof() -> None:
    # A REPL older than v4.19 sends no proofStatus: never call that finished.
    result = classify_tactic_response(ProofStepResponse(proof_state=3, goals=()), 3)
    assert isinstance(result, LeanError)


def test_warnings_ride_along_with_a_state() -> None:
    resp = parse_response(
        '{"proofState": 2, "goals": ["⊢ True"], "proofStatus": "Incomplete: open goals remain", "messages": '
        '[{"severity": "warning", "pos": {"line": 0, "column": 0}, "endPos": null,'
        ' "data": "this tactic is never executed"}]}'
    )
    result = classify_tactic_response(resp, 7)
    assert isinstance(result, TacticState) and result.messages == ("this tactic is never executed",)
