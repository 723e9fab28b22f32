"""The `lean` tier of `prover check`: the same CLI against the REAL Lean REPL (skipped without `lake` and a built
project, with the reason; tests/conftest.py). One warm worker imports Mathlib once for every proof below."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main

pytestmark = pytest.mark.lean

ROOT = Path(__file__).resolve().parent.parent
PROBLEM = ROOT.parent / "shared" / "benchmarks" / "minif2f-lean4-yangky11" / "Test" / "mathd_numbertheory_229.lean"


def test_real_lean_verdicts_for_a_proof_and_its_cheats(tmp_path: Path) -> None:
    original = PROBLEM.read_text(encoding="utf-8")
    header, _, statement = original.partition("theorem ")
    statement = "theorem " + statement
    solved = original.replace(":= by sorry", ":= by\n  norm_num")
    records = [
        {"id": "proof", "code": solved},
        {"id": "sorry", "code": original},
        # An axiom the header declares: `--allow-axiom other` lets the word through, `#print axioms` catches it.
        {"id": "axiom", "code": header + "axiom cheat : (5^30) % 7 = 1\n\n" + statement.replace("by sorry", "cheat")},
        {"id": "wrong", "code": original.replace(":= by sorry", ":= by\n  rfl\n  simp")},
        # With the statement it must prove, a proof of an easier one is refused.
        {"id": "easier", "code": solved.replace("(5^30) % 7 = 1", "(5^30) % 7 = 1 ∨ True"),
         "expected_statement": statement, "expected_header": header},
    ]
    proofs = tmp_path / "proofs.jsonl"
    proofs.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "verdicts.jsonl"
    rc = main(["check", str(proofs), "-o", str(out), "--quiet", "--allow-axiom", "other", "--timeout", "300"])
    verdicts = {json.loads(line)["id"]: json.loads(line) for line in out.read_text().splitlines()}
    assert verdicts["proof"]["verdict"] == "verified", verdicts["proof"]
    assert set(verdicts["proof"]["axioms"]) <= {"propext", "Classical.choice", "Quot.sound"}
    assert verdicts["sorry"]["verdict"] == "banned"
    assert verdicts["axiom"]["verdict"] == "bad_axioms" and "cheat" in verdicts["axiom"]["axioms"]
    assert verdicts["wrong"]["verdict"] == "lean_error" and verdicts["wrong"]["messages"]
    assert verdicts["easier"]["verdict"] == "statement_changed"
    assert rc == 1
