"""Conformance of the wire models with the real REPL's recorded transcripts, and request validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from prover.lean.protocol import (
    SORRY_WARNING,
    CommandRequest,
    CommandResponse,
    ErrorResponse,
    FileRequest,
    PickleEnvRequest,
    PickleProofStateRequest,
    ProofStepResponse,
    TacticRequest,
    UnpickleEnvRequest,
    UnpickleProofStateRequest,
    encode_request,
    parse_request,
    parse_response,
)
from conftest import transcripts_dir

_WS = " \t\r\n"


def read_requests(path: Path) -> list[str]:
    """Queries as the REPL reads them (REPL/Main.lean getLines): lines up to a blank one, right-trimmed, joined."""
    queries: list[str] = []
    parts: list[str] = []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip(_WS):
            parts.append(line.rstrip(_WS))
        elif parts:
            queries.append("".join(parts))
            parts = []
    if parts:
        queries.append("".join(parts))
    return queries


def answered(queries: list[str]) -> list[str]:
    """The queries that get a reply: `#` and `--` queries are skipped by the REPL's loop."""
    return [q for q in queries if not (q.startswith("#") or q.startswith("--"))]


def read_responses(path: Path) -> list[str]:
    return [part for part in path.read_text(encoding="utf-8").split("\n\n") if part.strip()]


def expected_of(path: Path) -> Path:
    return path.with_name(path.name[: -len(".in")] + ".expected.out")


def _inputs() -> list[Path]:
    return sorted(transcripts_dir().rglob("*.in"))


INPUTS = _inputs()
IDS = [str(p.relative_to(transcripts_dir())) for p in INPUTS]


def test_transcripts_are_there(transcripts: Path) -> None:
    assert len(INPUTS) >= 10, f"too few transcripts under {transcripts}"


@pytest.mark.parametrize("path", INPUTS, ids=IDS)
def test_every_request_parses_and_round_trips(path: Path) -> None:
    queries = answered(read_requests(path))
    assert queries
    for query in queries:
        req = parse_request(query)
        wire = encode_request(req)
        assert wire.endswith("}\n\n") and "\n" not in wire[:-2]
        assert parse_request(wire) == req
        # Nothing the REPL reads is lost: every key we model comes back with its value.
        sent, original = json.loads(wire), json.loads(query)
        assert all(original[k] == v for k, v in sent.items())


@pytest.mark.parametrize("path", INPUTS, ids=IDS)
def test_every_response_parses_and_counts_match(path: Path) -> None:
    expected = expected_of(path)
    if not expected.exists():
        pytest.skip("no expected output upstream (the REPL's own test harness skips it too)")
    queries = answered(read_requests(path))
    responses = read_responses(expected)
    assert len(responses) == len(queries)
    for query, text in zip(queries, responses):
        resp = parse_response(text)
        req = parse_request(query)
        raw = json.loads(text)
        if isinstance(resp, ErrorResponse):
            assert set(raw) == {"message"}
        elif isinstance(req, (TacticRequest, PickleProofStateRequest, UnpickleProofStateRequest)):
            assert isinstance(resp, ProofStepResponse)
            assert resp.proof_state == raw["proofState"] and list(resp.goals) == raw["goals"]
            assert len(resp.messages) == len(raw.get("messages", []))
            assert len(resp.sorries) == len(raw.get("sorries", []))
        else:
            assert isinstance(resp, CommandResponse)
            assert resp.env == raw["env"]
            assert len(resp.messages) == len(raw.get("messages", []))
            assert len(resp.sorries) == len(raw.get("sorries", []))
            assert len(resp.tactics) == len(raw.get("tactics", []))
            assert resp.infotree == raw.get("infotree")


def test_request_dispatch_follows_the_repl_order() -> None:
    # REPL/Main.lean parse: a pickle shape wins over a command that happens to carry pickleTo.
    assert isinstance(parse_request('{"cmd": "x", "env": 1, "pickleTo": "a.olean"}'), PickleEnvRequest)
    assert isinstance(parse_request('{"proofState": 1, "pickleTo": "a.olean"}'), PickleProofStateRequest)
    assert isinstance(parse_request('{"unpickleEnvFrom": "a.olean"}'), UnpickleEnvRequest)
    assert isinstance(parse_request('{"path": "f.lean", "allTactics": true}'), FileRequest)
    assert isinstance(parse_request('{"tactic": "simp", "proofState": 0, "cmd": "x"}'), TacticRequest)
    with pytest.raises(ValueError):
        parse_request('{"tactic": "simp"}')
    with pytest.raises(ValueError):
        parse_request("\n")


@pytest.mark.parametrize(
    "build",
    [
        lambda: TacticRequest(tactic="simp", proof_state=-1),
        lambda: TacticRequest(tactic="simp", proof_state=True),
        lambda: TacticRequest(tactic="simp", proof_state=1.0),
        lambda: TacticRequest(tactic=["simp"], proof_state=0),
        lambda: CommandRequest(cmd="x", env=-3),
        lambda: CommandRequest(cmd=None),
        lambda: CommandRequest(cmd="x", all_tactics="yes"),
    ],
)
def test_requests_that_would_kill_the_repl_are_refused(build: object) -> None:
    with pytest.raises(ValidationError):
        build()  # type: ignore[operator]


def test_encoding_is_one_line_with_one_blank_line_and_raw_unicode() -> None:
    wire = encode_request(CommandRequest(cmd="theorem t : ∀ x : ℕ, 𝓝 x = 𝓝 x := by\n  intro x\n\n  rfl", env=0))
    assert wire.count("\n") == 2 and wire.endswith("\n\n") and wire.startswith("{")
    assert "𝓝" in wire  # not a \ud835 surrogate pair, which Lean's JSON parser would not join
    assert json.loads(wire)["cmd"].count("\n") == 3
    assert encode_request(TacticRequest(tactic="simp", proof_state=0)) == '{"tactic":"simp","proofState":0}\n\n'
    with pytest.raises(ValueError):
        encode_request(TacticRequest(tactic="bad \ud800 surrogate", proof_state=0))


def test_unknown_keys_are_ignored_and_end_pos_may_be_null() -> None:
    resp = parse_response(
        '{"env": 3, "gc": true, "messages": [{"severity": "error", "pos": {"line": 1, "column": 17},'
        ' "endPos": null, "data": "unexpected end of input"}]}'
    )
    assert isinstance(resp, CommandResponse) and resp.messages[0].end_pos is None
    with pytest.raises(ValueError):
        parse_response('{"what": 1}')
    with pytest.raises(ValueError):
        parse_response("not json")


def test_models_are_frozen() -> None:
    req = TacticRequest(tactic="simp", proof_state=0)
    with pytest.raises(ValidationError):
        req.tactic = "ring"  # type: ignore[misc]


def test_sorry_warning_matches_both_spellings() -> None:
    assert SORRY_WARNING.search("declaration uses 'sorry'")
    assert SORRY_WARNING.search("declaration uses `sorry`")
    assert not SORRY_WARNING.search("declaration uses sorryAx")
