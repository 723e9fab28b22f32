"""`prover` end to end, without Lean: the CLI drives the fake REPL program through `--repl-cmd`.

The fake REPL (tests/fake_repl.py) is a stand-in for Lean that follows the real wire protocol and plays scripted
proof worlds (tests/scenarios/cli_*.json); the portfolio generator proposes its fixed tactics. Everything else —
pool, proof environment, search, verifier (in a fresh fake process), cache, exit codes — is the real code.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
SCENARIOS = ROOT / "tests" / "scenarios"


def repl_cmd(scenario: str, *extra: str) -> str:
    return shlex.join([sys.executable, str(FAKE), "--scenario", str(SCENARIOS / scenario), *extra])


def run_cli(*args: str, stdin: str | None = None, cache_dir: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    env.pop("PROVER_DEBUG", None)
    if cache_dir is not None:
        env["XDG_CACHE_HOME"] = str(cache_dir)
    return subprocess.run(
        [sys.executable, "-m", "prover.cli", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def prove_json(statement: str, scenario: str, *extra: str, cache_dir: Path | None = None) -> tuple[int, dict]:
    args = ["prove", statement, "--repl-cmd", repl_cmd(scenario), "--json", "--budget", "60", "--tactic-timeout", "2"]
    if cache_dir is None:
        args.append("--no-cache")
    proc = run_cli(*args, *extra, cache_dir=cache_dir)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_a_proof_is_found_verified_and_printed() -> None:
    code, out = prove_json("theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry", "cli_proof.json")
    assert code == 0
    assert out["status"] == "proved"
    assert out["proof"] == "norm_num\nlinarith"
    assert out["statement"].startswith("theorem cli_two_steps")
    assert out["verdict"] == "verified"
    stats = out["stats"]
    assert stats["expansions"] >= 2 and stats["lean_calls"] >= 3 and stats["model_calls"] >= 2
    assert {"seconds_model", "seconds_lean", "seconds_search", "seconds_verify"} <= stats.keys()
    assert out["versions"]["lean"] == "v4.24.0"
    assert out["versions"]["mathlib"] == "v4.24.0" and out["versions"]["repl"] == "v4.24.0"


def test_plain_output_is_a_ready_to_paste_block_and_annotate_adds_goals() -> None:
    statement = "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"
    base = ["prove", statement, "--repl-cmd", repl_cmd("cli_proof.json"), "--no-cache", "--budget", "60"]
    plain = run_cli(*base)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by\n  norm_num\n  linarith\n"
    annotated = run_cli(*base, "--annotate")
    assert annotated.returncode == 0, annotated.stderr
    lines = annotated.stdout.splitlines()
    assert lines[1] == "  norm_num"
    assert lines[2].lstrip().startswith("/-")
    comment = annotated.stdout[annotated.stdout.index("/-") : annotated.stdout.index("-/")]
    assert "⊢ b = a" in comment
    assert "  linarith" in lines and lines[-1].strip() == "/- no goals -/"


def test_no_proof_exits_one() -> None:
    code, out = prove_json("theorem cli_false : (1 : ℕ) = 2 := by sorry", "cli_none.json")
    assert code == 1
    assert out["status"] == "failed"
    assert out["proof"] is None
    assert out["stop_reason"] in {"root_failed", "exhausted"}


def test_repl_crashes_mid_search_are_survived() -> None:
    # norm_num kills the REPL with SIGSEGV, linarith with SIGKILL, nlinarith hangs past the tactic timeout;
    # omega (fifth in the portfolio) still proves it on a restarted worker.
    code, out = prove_json("theorem cli_crash (x : ℕ) : x ≤ x + 1 := by sorry", "cli_crash.json")
    assert code == 0, out
    assert out["proof"] == "omega"
    assert out["stats"]["replays"] >= 0


def test_a_proof_the_final_check_rejects_is_never_reported() -> None:
    code, out = prove_json("theorem cli_unsound : 2 + 2 = 5 := by sorry", "cli_verify_fails.json")
    assert code == 1
    assert out["status"] == "failed"
    assert out["proof"] is None
    assert out["verdict"] == "lean_error"


def test_statement_that_does_not_elaborate_exits_two_with_leans_error() -> None:
    proc = run_cli("prove", "theorem cli_typo : Natt := by sorry", "--repl-cmd", repl_cmd("cli_bad_statement.json"), "--no-cache")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "unknown identifier 'Natt'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_statement_from_stdin_and_from_a_file(tmp_path: Path) -> None:
    cmd = repl_cmd("cli_proof.json")
    statement = "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"
    piped = run_cli("prove", "-", "--repl-cmd", cmd, "--no-cache", "--json", stdin=statement)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["proof"] == "norm_num\nlinarith"
    source = tmp_path / "Two.lean"
    source.write_text("import Mathlib\n\nopen Nat\n\n" + statement + "\n", encoding="utf-8")
    from_file = run_cli("prove", "--file", str(source), "--theorem", "cli_two_steps", "--repl-cmd", cmd, "--no-cache", "--json")
    assert from_file.returncode == 0, from_file.stderr
    assert json.loads(from_file.stdout)["status"] == "proved"


def test_second_run_is_served_from_the_cache_after_reverification(tmp_path: Path) -> None:
    statement = "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"
    first_code, first = prove_json(statement, "cli_proof.json", cache_dir=tmp_path)
    second_code, second = prove_json(statement, "cli_proof.json", cache_dir=tmp_path)
    assert (first_code, second_code) == (0, 0)
    assert first["cached"] is False and second["cached"] is True
    assert second["proof"] == first["proof"]
    assert second["verdict"] == "verified"
    assert (tmp_path / "prover" / "proofs.sqlite").is_file()


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["prove", ""], None, "empty"),
        (["prove", "   "], None, "empty"),
        (["prove", "theorem : True := by sorry"], None, "no name"),
        (["prove", "--file", "/nonexistent/x.lean", "--theorem", "t"], None, "cannot read"),
        (["prove", "--file", "tests/scenarios/cli_proof.json"], None, "--theorem"),
        (["prove", "--budget", "soon", "theorem t : True := by sorry"], None, "--budget"),
        (["prove", "--frobnicate", "theorem t : True := by sorry"], None, "frobnicate"),
        (["prove", "-"], "", "empty"),
        (["prove", "theorem t : True := by sorry", "--model-args", "novalue"], None, "key=value"),
        (["prove", "theorem t : True := by sorry", "--generator", "portfolyo"], None, "portfolio"),
        (["bench", "run", "--tasks", "minif2f-tset"], None, "minif2f-test"),
        (["prove", "theorem t : True := by sorry", "--repl-cmd", "lake 'env repl"], None, "not a valid command line"),
        (["bench", "run", "--tasks", "minif2f-test", "--repl-cmd", 'lake "env'], None, "not a valid command line"),
    ],
)
def test_bad_input_exits_two_with_one_line(args: list[str], stdin: str | None, needle: str, tmp_path: Path) -> None:
    proc = run_cli(*args, stdin=stdin, cache_dir=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("prover: error:")
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreadable_file_is_bad_input(tmp_path: Path) -> None:
    source = tmp_path / "locked.lean"
    source.write_bytes(b"\xff\xfe not utf-8 \x80")
    proc = run_cli("prove", "--file", str(source), "--theorem", "t")
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_missing_repl_program_is_an_environment_problem() -> None:
    proc = run_cli("prove", "theorem t : True := by sorry", "--repl-cmd", "/nonexistent/repl --flag", "--no-cache")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_doctor_without_lean_says_what_to_run() -> None:
    proc = run_cli("doctor", "--lean-project", str(ROOT))
    if proc.returncode == 0:
        pytest.skip("this machine has a working Lean setup")
    assert proc.returncode == 3
    assert "make lean" in proc.stdout


def test_doctor_with_a_repl_command_checks_only_that_program() -> None:
    proc = run_cli("doctor", "--repl-cmd", repl_cmd("cli_proof.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_models_lists_the_backends() -> None:
    proc = run_cli("models")
    assert proc.returncode == 0
    for name in ("portfolio", "hf", "vllm", "openai"):
        assert name in proc.stdout


def test_an_unreachable_model_server_is_an_error_not_a_failed_proof() -> None:
    # Port 9 (discard) on loopback: connection refused at once, so the retries end quickly.
    proc = run_cli(
        "prove", "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry",
        "--repl-cmd", repl_cmd("cli_proof.json"), "--no-cache", "--json", "--budget", "60",
        "--generator", "openai", "--model", "tiny",
        "--model-args", "base_url=http://127.0.0.1:9/v1,retries=1,backoff=0.05,timeout=2",
    )
    assert proc.returncode == 3, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "error" and out["proof"] is None
    assert out["error"]


@pytest.mark.parametrize("where", ["argument", "header", "stdin"])
def test_a_statement_that_is_not_utf8_is_bad_input(where: str, tmp_path: Path) -> None:
    # Undecodable bytes reach Python as lone surrogates (argv) or a decode error (stdin), never as Lean text.
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", XDG_CACHE_HOME=str(tmp_path))
    bad = b"theorem t : True := by sorry \xff\xfe"
    argv: list[bytes] = [sys.executable.encode(), b"-m", b"prover.cli", b"prove"]
    stdin = b""
    if where == "argument":
        argv.append(bad)
    elif where == "header":
        argv += [b"theorem t : True := by sorry", b"--header", b"import Mathlib \x80"]
    else:
        argv.append(b"-")
        stdin = bad
    argv += [b"--repl-cmd", repl_cmd("cli_proof.json").encode(), b"--no-cache"]
    proc = subprocess.run(argv, input=stdin, capture_output=True, cwd=ROOT, env=env, timeout=60)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert "not valid UTF-8" in err and err.count("\n") == 1 and "Traceback" not in err
