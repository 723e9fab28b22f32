"""`prover check` end to end against the fake REPL (tests/fake_repl.py, scenario tests/scenarios/check.json).

The pools, the verifier (check_proof_text, check_in_env, verify_proof with --fresh), the batch writer and the CLI
are the real code; only Lean is the scripted fake.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prover.cli import main

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
SCENARIO = ROOT / "tests" / "scenarios" / "check.json"
HEADER = "import Mathlib\n\nopen Nat\n\n"


def fake(*extra: str, scenario: Path = SCENARIO) -> str:
    return shlex.join([sys.executable, str(FAKE), "--scenario", str(scenario), *extra])


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_check(tmp_path: Path, *args: str, repl: str | None = None) -> tuple[int, list[dict]]:
    out = tmp_path / "verdicts.jsonl"
    if out.exists():
        out.unlink()
    rc = main(["check", *args, "-o", str(out), "--quiet", "--repl-cmd", repl or fake(), "--timeout", "10"])
    return rc, lines(out) if out.exists() else []


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_every_theorem_of_a_lean_file_gets_a_verdict_in_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lean = tmp_path / "a.lean"
    lean.write_text(
        HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by\n  simp\n\n"
        "/-- two steps -/\ntheorem two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by\n  norm_num\n  linarith\n\n"
        "lemma aux_lemma (n : ℕ) : 0 + n = n := by\n  sorry\n",
        encoding="utf-8",
    )
    rc, out = run_check(tmp_path, str(lean), "--workers", "2")
    assert [(o["theorem"], o["verdict"]) for o in out] == [
        ("add_zero", "verified"), ("two_steps", "verified"), ("aux_lemma", "banned")
    ]
    assert out[0]["id"] == f"{lean}:add_zero"
    assert out[0]["axioms"] == ["propext", "Classical.choice", "Quot.sound"]
    assert out[2]["details"] == "banned token 'sorry' in tactic 'sorry'"
    assert all(o["seconds"] >= 0 for o in out)
    assert rc == 1  # not every proof verified
    table = capsys.readouterr().out
    assert "verified" in table and "banned" in table and "total" in table


def test_jsonl_shapes_and_bad_lines_each_get_a_verdict_and_the_batch_goes_on(tmp_path: Path) -> None:
    good_code = HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by simp\n"
    path = tmp_path / "in.jsonl"
    records = [
        {"id": "code", "code": good_code},
        {"id": "parts", "statement": "theorem two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry",
         "proof": "norm_num\nlinarith"},
        {"id": "no-theorem", "code": "import Mathlib\n#check 1\n"},
        {"id": "huge", "code": good_code + "-- " + "x" * 1_100_000},
        {"id": "bad-header", "header": "import Mathlib\ntheorem bad_header : True := trivial\n",
         "statement": "theorem add_zero (n : ℕ) : n + 0 = n", "proof": "simp"},
        {"id": "surrogate", "code": good_code + "-- \udc80"},
        {"id": "not-a-string", "code": 3},
        ["not", "an", "object"],
    ]
    text = "".join(json.dumps(r) + "\n" for r in records)
    path.write_bytes(text.encode() + b"{not json\n" + b'{"id": "latin1", "code": "caf\xe9"}\n')
    rc, out = run_check(tmp_path, str(path))
    verdicts = {o["id"]: (o["verdict"], o["details"]) for o in out}
    assert len(out) == 10
    assert verdicts["code"][0] == "verified" and verdicts["parts"][0] == "verified"
    assert verdicts["no-theorem"] == ("error", "no theorem or lemma in the code")
    assert verdicts["huge"][0] == "error" and "MB" in verdicts["huge"][1]
    assert verdicts["bad-header"][0] == "error" and "does not elaborate" in verdicts["bad-header"][1]
    assert verdicts["surrogate"] == ("error", "`code` is not valid UTF-8")
    assert verdicts["not-a-string"] == ("error", "`code` must be a string")
    assert verdicts["in.jsonl:8"][0] == "error"
    assert verdicts["in.jsonl:9"][0] == "error" and "not JSON" in verdicts["in.jsonl:9"][1]
    assert verdicts["in.jsonl:10"][0] == "error" and "UTF-8" in verdicts["in.jsonl:10"][1]
    assert rc == 1


CHEATS = [
    ("sorry", {"statement": "theorem add_zero (n : ℕ) : n + 0 = n", "proof": "sorry"}, "banned"),
    ("native_decide", {"statement": "theorem decide_me : 2 ^ 10 = 1024", "proof": "native_decide"}, "banned"),
    ("axiom-in-code", {"code": "import Mathlib\naxiom cheat : 1 = 2\ntheorem uses_cheat : 1 = 2 := by\n  exact cheat\n"}, "banned"),
    # The axiom arrives through an import (no `axiom` in the text): only `#print axioms` can see it.
    ("axiom-imported", {"code": "import Mathlib\nimport Cheats\ntheorem uses_cheat : 1 = 2 := by\n  exact cheat\n"}, "bad_axioms"),
    ("elab-in-header", {"code": "import Mathlib\nelab \"trust_me\" : tactic => pure ()\ntheorem add_zero (n : ℕ) : n + 0 = n := by simp\n"}, "banned"),
]


@pytest.mark.parametrize("fresh", [False, True], ids=["warm", "fresh"])
def test_cheating_proofs_are_rejected(tmp_path: Path, fresh: bool) -> None:
    path = write_jsonl(tmp_path / "cheats.jsonl", [{"id": name, **record} for name, record, _ in CHEATS])
    rc, out = run_check(tmp_path, str(path), *(["--fresh"] if fresh else []))
    assert {o["id"]: o["verdict"] for o in out} == {name: want for name, _, want in CHEATS}
    imported = next(o for o in out if o["id"] == "axiom-imported")
    assert "cheat" in imported["details"] and "cheat" in imported["axioms"]
    assert rc == 1


def test_allow_axiom_accepts_a_header_axiom_it_names(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "a", "code": "import Mathlib\nimport Cheats\ntheorem uses_cheat : 1 = 2 := by\n  exact cheat\n"}])
    rc, out = run_check(tmp_path, str(path), "--allow-axiom", "cheat")
    assert out[0]["verdict"] == "verified" and rc == 0


def test_statements_guard_rejects_a_proof_of_another_theorem(tmp_path: Path) -> None:
    statements = write_jsonl(tmp_path / "statements.jsonl", [
        {"id": "p1", "header": HEADER, "statement": "theorem add_zero (n : ℕ) : n + 0 = n := by sorry"},
        {"id": "p2", "header": HEADER, "statement": "theorem two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"},
    ])
    proofs = write_jsonl(tmp_path / "proofs.jsonl", [
        {"id": "p1", "code": HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by simp"},
        # p2 is answered with a proof of an easier, changed statement under the same name.
        {"id": "p2", "code": HEADER + "theorem two_steps (a b : ℕ) (h : a = b) : b = a := by\n  linarith"},
        # a helper lemma before the theorem is allowed …
        {"id": "p1", "code": HEADER + "lemma aux_lemma (n : ℕ) : 0 + n = n := by simp\n\ntheorem add_zero (n : ℕ) : n + 0 = n := by simp"},
        # … a definition that could change what the statement means is not.
        {"id": "p1", "code": HEADER + "def Nat.succ (n : ℕ) : ℕ := n\n\ntheorem add_zero (n : ℕ) : n + 0 = n := by simp"},
        {"id": "p1", "code": "import Mathlib\ntheorem add_zero (n : ℕ) : n + 0 = n := by simp"},
        {"id": "p3", "code": HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by simp"},
        {"id": "p2", "statement": "theorem two_steps (a b : ℕ) (h : a = b) : b + 0 = a", "proof": "norm_num\nlinarith"},
    ])
    rc, out = run_check(tmp_path, str(proofs), "--statements", str(statements))
    got = [(o["verdict"], o["details"]) for o in out]
    assert got[0][0] == "verified"
    assert got[1] == ("statement_changed", "the statement differs from the original")
    assert got[2][0] == "verified"
    assert got[3][0] == "statement_changed" and "'def'" in got[3][1]
    assert got[4][0] == "statement_changed" and "header differs" in got[4][1]
    assert got[5][0] == "verified"  # no id p3: found by the theorem's name
    assert got[6][0] == "verified"  # no header given: the expected statement's header is used
    assert rc == 1


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "code": HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by simp"}])
    (tmp_path / "exists.jsonl").write_text('{"id": "a"}\n')
    bad_statements = tmp_path / "st.jsonl"
    bad_statements.write_text("{oops\n")
    cases = [
        ["check", str(good), "--no-such-option"],
        ["check", str(tmp_path / "missing.jsonl")],
        ["check", str(good), "--resume"],
        ["check", str(good), "-o", str(tmp_path / "exists.jsonl")],
        ["check", str(good), "--statements", str(bad_statements)],
        ["check", str(good), "--workers", "0"],
        ["check", str(good), "--allow-axiom", "two words"],
    ]
    for argv in cases:
        assert main([*argv, "--repl-cmd", fake()]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("prover: error:") and "Traceback" not in err, (argv, err)


def test_a_missing_repl_is_an_environment_problem(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "code": HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by simp"}])
    assert main(["check", str(good), "--quiet", "--repl-cmd", str(tmp_path / "no-such-repl")]) == 3


def test_kill_9_then_resume_loses_nothing_and_checks_nothing_twice(tmp_path: Path) -> None:
    n = 12
    scenario = tmp_path / "slow.json"
    scenario.write_text(json.dumps({
        "statements": {f"s{i}": {"goals": [f"⊢ g{i}"]} for i in range(n)},
        "tactics": {f"⊢ g{i}": {"wait": {"fault": "slow:0.15", "goals": []}} for i in range(n)},
    }))
    proofs = write_jsonl(tmp_path / "in.jsonl", [
        {"id": f"p{i}", "statement": f"theorem s{i} : g{i}", "proof": "wait"} for i in range(n)
    ])
    out, log = tmp_path / "out.jsonl", tmp_path / "queries.log"
    argv = [sys.executable, "-m", "prover.cli", "check", str(proofs), "-o", str(out), "--quiet", "--workers", "2",
            "--repl-cmd", fake("--log", str(log), scenario=scenario)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its REPL workers, mid-batch
    proc.wait()
    first = lines(out)
    assert 3 <= len(first) < n
    with out.open("a") as stream:
        stream.write('{"id": "p9", "verd')  # a torn last line, as a kill during a write would leave
    done = subprocess.run([*argv, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    final = lines(out)
    assert [o["id"] for o in final] == [f"p{i}" for i in range(n)]
    assert final[: len(first)] == first
    assert all(o["verdict"] == "verified" for o in final)
    assert f"({len(first)} from the earlier run)" in done.stdout
    # Only proofs in flight at the kill (at most --workers of them) were sent to Lean twice.
    sent = [json.loads(line)["query"] for line in log.read_text().splitlines()]
    counts = [sum(f"theorem s{i} :" in q and "#print" not in q for q in sent) for i in range(n)]
    assert all(c >= 1 for c in counts) and sum(c - 1 for c in counts) <= 2
    assert all(c == 1 for c in counts[: len(first) - 2])


def test_resume_refuses_an_output_of_another_input(tmp_path: Path) -> None:
    proofs = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "code": HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by simp"}])
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "zzz", "verdict": "verified"}) + "\n")
    assert main(["check", str(proofs), "-o", str(out), "--resume", "--quiet", "--repl-cmd", fake()]) == 2
