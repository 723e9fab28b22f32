"""Reliability through the CLI (issue 10, items 5-7 and 10-15): budgets that bound the whole run, resume that
gets only what is left and never counts a changed problem, bad paths and malformed records refused in one line.

Lean is played by the fake REPL program (tests/fake_repl.py); a small `sh` launcher gives the verifier's process
(the second one started) a slow header, so that only the final check is slow.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from tests.test_cli import FAKE, SCENARIOS, run_cli

STATEMENT = "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"
SLACK_S = 2.5  # process start-up and teardown on a loaded machine


def fake(*extra: str, scenario: str = "cli_proof.json") -> str:
    return shlex.join([sys.executable, str(FAKE), "--scenario", str(SCENARIOS / scenario), *extra])


def prove_timed(*args: str, budget: float = 3.0) -> tuple[float, int, dict]:
    t0 = time.monotonic()
    proc = run_cli("prove", STATEMENT, "--no-cache", "--json", "--budget", str(budget), *args, timeout=60)
    wall = time.monotonic() - t0
    assert proc.stdout.strip(), proc.stderr
    return wall, proc.returncode, json.loads(proc.stdout)


# -- item 5: --budget bounds the whole run


def test_a_hung_header_import_ends_within_the_budget() -> None:
    wall, code, out = prove_timed("--repl-cmd", fake("--header-delay", "30"))
    assert code == 1 and out["status"] == "timeout"
    assert "header" in out["error"]
    assert out["stats"]["seconds_total"] < 3.0 + 0.5
    assert wall < 3.0 + SLACK_S


def test_a_slow_final_check_is_clipped_to_the_budget_and_never_reported_proved(tmp_path: Path) -> None:
    # The pool's worker starts first and is fast; every later process (the verifier) takes 20 s to import.
    marker = tmp_path / "first"
    launcher = f"if mkdir {shlex.quote(str(marker))} 2>/dev/null; then exec {fake()}; else exec {fake('--header-delay', '20')}; fi"
    wall, code, out = prove_timed("--repl-cmd", shlex.join(["sh", "-c", launcher]))
    assert out["status"] != "proved" and code == 1
    assert out["verdict"] == "timeout"
    assert out["stats"]["seconds_total"] < 3.0 + 0.5
    assert wall < 3.0 + SLACK_S


def test_verify_and_command_timeouts_are_options() -> None:
    _, code, out = prove_timed("--repl-cmd", fake(), "--verify-timeout", "5", "--command-timeout", "0.5", budget=20.0)
    assert code == 0 and out["status"] == "proved"  # the fake's header is instant: 0.5 s is enough
    proc = run_cli("prove", STATEMENT, "--no-cache", "--repl-cmd", fake("--header-delay", "2"), "--command-timeout", "0.5")
    assert proc.returncode == 3 and "0.5 s" in proc.stderr, proc.stderr
    bad = run_cli("prove", STATEMENT, "--no-cache", "--repl-cmd", fake(), "--verify-timeout", "0")
    assert bad.returncode == 2
