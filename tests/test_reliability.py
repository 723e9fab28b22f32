"""Reliability through the CLI (issue 10, items 5-7 and 10-15): budgets that bound the whole run, resume that
gets only what is left and never counts a changed problem, bad paths and malformed records refused in one line.

Lean is played by the fake REPL program (tests/fake_repl.py); a small `sh` launcher gives the verifier's process
(the second one started) a slow header, so that only the final check is slow.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli import FAKE, ROOT, SCENARIOS, run_cli

STATEMENT = "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"
SLACK_S = 8.0  # process start-up and teardown on a loaded machine (unclipped, the waits below last 20 s or more)


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


# -- bench helpers: a --data folder with MiniF2F statements (copied from ../shared/benchmarks into tmp_path)

MINIF2F = ROOT / ".." / "shared" / "benchmarks" / "minif2f-lean4-yangky11" / "Test"
BENCH = SCENARIOS / "bench_minif2f.json"
IDS = ("aime_1983_p1", "aime_1983_p2", "aime_1983_p3", "aime_1984_p1")


def data_dir(tmp_path: Path, ids: tuple[str, ...] = IDS) -> Path:
    test = tmp_path / "data" / "Test"
    test.mkdir(parents=True)
    (tmp_path / "data" / "Valid").mkdir()
    for pid in ids:
        (test / f"{pid}.lean").write_bytes((MINIF2F / f"{pid}.lean").read_bytes())
    return tmp_path / "data"


def bench(out: Path, data: Path, *extra: str, repl: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "bench", "run", "--tasks", "minif2f-test", "--output-path", str(out), "--data", str(data),
        "--repl-cmd", repl or fake(scenario="bench_minif2f.json"), "--no-cache", "--budget", "10", *extra,
        timeout=timeout,
    )


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The CLI's entry point in this process (no interpreter start): (exit code, stderr)."""
    from prover.cli import main

    code = main(list(args))
    return code, capsys.readouterr().err


def lines_of(run: Path) -> list[dict]:
    (path,) = run.glob("samples_minif2f-test_*.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def results_of(run: Path) -> dict:
    (path,) = run.glob("results_*.json")
    return json.loads(path.read_text(encoding="utf-8"))


# -- item 6: a killed competition run gets only what is left


def test_a_sigkilled_total_budget_run_resumes_with_only_the_time_left(tmp_path: Path) -> None:
    total = 10.0
    repl = fake("--header-delay", "60", scenario="bench_minif2f.json")  # every problem spends its whole allotment
    args = [
        sys.executable, "-m", "prover.cli", "bench", "run", "--tasks", "minif2f-test", "--output-path",
        str(tmp_path / "runs"), "--data", str(data_dir(tmp_path)), "--repl-cmd", repl, "--no-cache",
        "--total-budget", f"{total:g}s",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "runs" / "portfolio"
    used, waited = 0.0, time.monotonic()
    while used < 4.0 and time.monotonic() - waited < 30:  # the clock is saved while the run goes on
        time.sleep(0.2)
        for checkpoint in run.glob(".elapsed_*.json"):
            used = json.loads(checkpoint.read_text() or "{}").get("total_evaluation_time_seconds", 0.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert used >= 4.0
    before = len(lines_of(run)) if list(run.glob("samples_*.jsonl")) else 0

    resumed = run_cli(*args[3:], "--resume", timeout=60)
    assert resumed.returncode in (0, 1), resumed.stderr
    lines = lines_of(run)
    assert {s["id"] for s in lines} == set(IDS) and len(lines) == len(IDS)
    # What the resumed session handed out is what was left, not the whole budget again.
    given = sum(s["budget_s"] for s in lines[before:])
    assert 0 < given <= total - used + 0.5
    assert results_of(run)["total_evaluation_time_seconds"] <= total + 1.5


# -- item 7: resume never counts a proof of a statement that changed, nor one made with another Lean


def test_resume_proves_a_changed_statement_again_and_results_count_only_current_records(tmp_path: Path) -> None:
    data = data_dir(tmp_path, IDS[:2])
    first = bench(tmp_path / "runs", data)
    assert first.returncode == 0, first.stderr
    run = tmp_path / "runs" / "portfolio"
    before = {s["id"]: s["statement_sha256"] for s in lines_of(run)}
    edited = data / "Test" / "aime_1983_p1.lean"
    edited.write_text("-- edited since the run started\n" + edited.read_text(encoding="utf-8"), encoding="utf-8")

    again = bench(tmp_path / "runs", data, "--resume")
    assert again.returncode == 0, again.stderr
    assert "changed since they were recorded" in again.stderr
    lines = lines_of(run)
    assert len(lines) == 3 and lines[-1]["id"] == "aime_1983_p1"
    assert lines[-1]["statement_sha256"] != before["aime_1983_p1"]
    results = results_of(run)
    assert results["results"]["minif2f-test"]["n"] == 2
    from benchmarks.records import dataset_sha256
    from benchmarks.tasks import get_task

    current = get_task("minif2f-test").load(data, download=False)
    assert results["versions"]["tasks"]["minif2f-test"]["dataset_sha256"] == dataset_sha256(current)


def test_resume_with_another_lean_is_refused_with_the_reason(tmp_path: Path) -> None:
    data = data_dir(tmp_path, IDS[:1])
    assert bench(tmp_path / "runs", data).returncode == 0
    project = tmp_path / "lean"
    project.mkdir()
    (project / "lakefile.lean").write_bytes((ROOT / "lakefile.lean").read_bytes())
    (project / "lean-toolchain").write_text("leanprover/lean4:v4.25.0\n")
    proc = bench(tmp_path / "runs", data, "--resume", "--lean-project", str(project))
    assert proc.returncode == 2
    assert "other versions" in proc.stderr and "v4.24.0 -> v4.25.0" in proc.stderr
    assert proc.stderr.count("\n") == 1


# -- item 10: a malformed samples line is skipped with a warning everywhere


def test_malformed_sample_lines_are_skipped_by_report_resume_and_datagen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    data = data_dir(tmp_path, IDS[:2])
    assert bench(tmp_path / "runs", data, "--log-samples").returncode == 0
    run = tmp_path / "runs" / "portfolio"
    (samples,) = run.glob("samples_*.jsonl")
    with samples.open("ab") as f:
        f.write(b'\xff\xfe{"id": "x"}\n')
        f.write(b'{"id": "aime_1983_p1", "status": ["proved"], "proof": "rfl", "seconds": "1"}\n')
        f.write(b'{"id": "aime_1983_p2", "status": "proved", "proof": [1], "steps": [{"tactic": 3}]}\n')
    for args in (
        ["bench", "report", str(run)],
        ["datagen", str(run), "-o", str(tmp_path / "out")],
        ["bench", "run", "--tasks", "minif2f-test", "--output-path", str(tmp_path / "runs"), "--data", str(data),
         "--repl-cmd", fake(scenario="bench_minif2f.json"), "--no-cache", "--budget", "10", "--log-samples",
         "--resume"],
    ):
        caplog.clear()
        code, err = cli(*args, capsys=capsys)
        assert code == 0, (args[:2], err)
        assert "internal error" not in err
        warnings = [r.getMessage() for r in caplog.records]
        assert any("not a JSON object" in w for w in warnings), args[:2]
        assert sum("malformed" in w for w in warnings) >= 2, args[:2]
    assert results_of(run)["results"]["minif2f-test"]["solved"] == 2  # the bad `proved` lines count for nothing


# -- item 11: bad or unwritable paths are one line and exit 2


def test_bad_paths_are_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = data_dir(tmp_path, IDS[:1])
    afile = tmp_path / "afile"
    afile.write_text("x")
    adir = tmp_path / "adir"
    adir.mkdir()
    cache = tmp_path / "c.sqlite"
    from search.cache import ProofCache

    ProofCache.open(cache).close()
    (tmp_path / "bad.jsonl").write_bytes(b"\xff\xfe\n")
    badlean = data_dir(tmp_path / "b", IDS[:1])
    (badlean / "Test" / "aime_1983_p1.lean").write_bytes(b"theorem aime_1983_p1 : True := by sorry -- \xe9\n")
    badjsonl = tmp_path / "dj" / "minif2f-deepseek-prover-v1.5"
    badjsonl.mkdir(parents=True)
    (badjsonl / "minif2f.jsonl").write_bytes(b'{"name": "\xe9"}\n')
    cases = [
        ["bench", "run", "--tasks", "minif2f-test", "--output-path", str(afile), "--data", str(data)],
        ["bench", "run", "--tasks", "minif2f-test", "--output-path", "/dev/null", "--data", str(data)],
        ["bench", "run", "--tasks", "minif2f-test", "--output-path", str(afile / "sub"), "--data", str(data)],
        ["bench", "run", "--tasks", "minif2f-test", "--output-path", str(tmp_path / "r"), "--data", str(badlean)],
        ["bench", "run", "--tasks", "minif2f-deepseek-test", "--output-path", str(tmp_path / "r"), "--data", str(tmp_path / "dj")],
        ["datagen", str(tmp_path), "-o", str(afile)],
        ["cache", "export", str(adir), "--cache", str(cache)],
        ["cache", "export", str(afile / "x.jsonl"), "--cache", str(cache)],
        ["cache", "import", str(tmp_path / "bad.jsonl"), "--cache", str(cache)],
    ]
    for args in cases:
        if args[0] == "bench":
            args += ["--repl-cmd", fake(scenario="bench_minif2f.json"), "--no-cache", "--budget", "5"]
        code, err = cli(*args, capsys=capsys)
        assert code == 2, (args, err)
        assert err.startswith("prover: error:") and err.count("\n") == 1, (args, err)


def test_a_full_disk_leaves_no_temporary_results_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import records

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(records.os, "fsync", full)
    with pytest.raises(OSError):
        records.write_json_atomic(tmp_path / "results_x.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


# -- item 12: a statement that does not elaborate is one log line, not a traceback


def test_a_statement_that_does_not_elaborate_is_logged_in_one_line(tmp_path: Path) -> None:
    data = data_dir(tmp_path, IDS[:2])
    bad = data / "Test" / "zz_not_in_the_scenario.lean"
    bad.write_text("import Mathlib\n\ntheorem zz_not_in_the_scenario : 1 = 1 := by\n  sorry\n", encoding="utf-8")
    proc = bench(tmp_path / "runs", data)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if "zz_not_in_the_scenario" in line]
    assert "recorded as an error" in line
    statuses = {s["id"]: s["status"] for s in lines_of(tmp_path / "runs" / "portfolio")}
    assert statuses["zz_not_in_the_scenario"] == "error"


# -- item 13: a Ray address with nothing behind it


def test_a_ray_address_with_no_cluster_exits_3_quickly(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    proc = bench(tmp_path / "runs", data_dir(tmp_path, IDS[:1]), "--ray-address", f"127.0.0.1:{port}", timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert "no Ray cluster answers" in proc.stderr and proc.stderr.count("\n") == 1
    assert time.monotonic() - t0 < 15


# -- item 14: --model-args keeps comma-separated values; annotations defuse comment tokens


def test_model_args_take_a_comma_separated_tactic_list() -> None:
    _, code, out = prove_timed("--repl-cmd", fake(), "--model-args", "tactics=norm_num,linarith", budget=30)
    assert code == 0 and out["proof"] == "norm_num\nlinarith"
    _, code, out = prove_timed("--repl-cmd", fake(), "--model-args", "tactics=linarith", budget=30)
    assert out["status"] != "proved"  # only the given tactics run: linarith alone cannot prove it


def comments_balanced(text: str) -> bool:
    """Lean's block comments nest: every `/-` opens one, every `-/` closes one; True when they pair up."""
    depth, i = 0, 0
    while i < len(text) - 1:
        pair = text[i : i + 2]
        if pair in ("/-", "-/"):
            depth += 1 if pair == "/-" else -1
            if depth < 0:
                return False
            i += 2
        else:
            i += 1
    return depth == 0


def test_annotate_defuses_comment_tokens_in_goals(tmp_path: Path) -> None:
    goal = "s : Set ℕ\n⊢ s /- t = -/ u"
    scenario = {
        "statements": {"c": {"goals": ["⊢ True"]}},
        "tactics": {"⊢ True": {"norm_num": {"goals": [goal]}}, goal: {"linarith": {"goals": []}}},
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    repl = shlex.join([sys.executable, str(FAKE), "--scenario", str(path)])
    proc = run_cli("prove", "theorem c : True := by sorry", "--repl-cmd", repl, "--no-cache", "--annotate", "--budget", "30")
    assert proc.returncode == 0, proc.stderr
    assert "/- t" not in proc.stdout and "= -/" not in proc.stdout
    assert comments_balanced(proc.stdout)
    from prover.datagen import annotate

    assert all(comments_balanced(line) for line in annotate([{"tactic": "t", "state_after": "a -/ /- /-/ b"}]))
