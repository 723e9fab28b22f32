"""`prover serve` as users run it: a real uvicorn server on loopback (a subprocess of the real CLI), driven by a
real HTTP client (httpx), with the fake REPL (tests/scenarios/check.json) behind it."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
psutil = pytest.importorskip("psutil")

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
SCENARIO = ROOT / "tests" / "scenarios" / "check.json"
HEADER = "import Mathlib\n\nopen Nat\n\n"
ADD_ZERO = {"statement": "theorem add_zero (n : ℕ) : n + 0 = n := by sorry", "proof": "simp"}
SLOW = {"statement": "theorem slow_one : slow goal", "proof": "wait"}  # the fake takes 0.6 s


class Server:
    def __init__(self, *args: str) -> None:
        repl = shlex.join([sys.executable, str(FAKE), "--scenario", str(SCENARIO)])
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prover.cli", "serve", "--port", "0", "--repl-cmd", repl, "--timeout", "10", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        assert match, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.url = match.group(1)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def repls(self) -> list[psutil.Process]:
        return [p for p in psutil.Process(self.proc.pid).children(recursive=True) if "fake_repl" in " ".join(p.cmdline())]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        finally:
            self.client.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--workers", "2", "--token", "s3cret", "--max-body-mb", "2")
    yield s
    s.stop()


def auth() -> dict[str, str]:
    return {"Authorization": "Bearer s3cret"}


def test_check_one_and_many_proofs_in_parallel(server: Server) -> None:
    one = server.client.post("/check", json={"id": "one", **ADD_ZERO}, headers=auth())
    assert one.status_code == 200
    assert [(r["id"], r["verdict"]) for r in one.json()["results"]] == [("one", "verified")]

    def batch(i: int) -> list[tuple[str, str]]:
        body = {"proofs": [{"id": f"{i}-a", **ADD_ZERO}, {"id": f"{i}-b", "code": HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by omega"}]}
        resp = server.client.post("/check", json=body, headers=auth())
        assert resp.status_code == 200, resp.text
        return [(r["id"], r["verdict"]) for r in resp.json()["results"]]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(batch, range(8)))
    assert results == [[(f"{i}-a", "verified"), (f"{i}-b", "lean_error")] for i in range(8)]
    health = server.client.get("/health").json()
    assert health["status"] == "ok" and health["workers"] == 2 and health["checked"] >= 17
    assert health["pools"][0]["workers"] == 2 and health["queue"]["admitted"] == 0
    assert len(server.repls()) == 2  # two warm workers served all 17 checks


def test_cheating_proofs_are_rejected_over_http(server: Server) -> None:
    cheats = [
        {"id": "sorry", "statement": ADD_ZERO["statement"], "proof": "sorry"},
        {"id": "native", "statement": "theorem decide_me : 2 ^ 10 = 1024", "proof": "native_decide"},
        {"id": "axiom", "code": "import Mathlib\naxiom cheat : 1 = 2\ntheorem uses_cheat : 1 = 2 := by\n  exact cheat"},
        {"id": "imported", "code": "import Mathlib\nimport Cheats\ntheorem uses_cheat : 1 = 2 := by\n  exact cheat"},
    ]
    resp = server.client.post("/check", json=cheats, headers=auth())
    assert [r["verdict"] for r in resp.json()["results"]] == ["banned", "banned", "banned", "bad_axioms"]


def test_kimina_verify_endpoint(server: Server) -> None:
    body = {"codes": [
        {"custom_id": "good", "proof": HEADER + "theorem add_zero (n : ℕ) : n + 0 = n := by\n  simp"},
        {"custom_id": 7, "code": "import Mathlib\nimport Cheats\ntheorem uses_cheat : 1 = 2 := by\n  exact cheat"},
        {"custom_id": "none", "proof": "import Mathlib\n"},
    ], "timeout": 60, "infotree_type": None, "disable_cache": False}
    results = server.client.post("/verify", json=body, headers=auth()).json()["results"]
    good, cheat, none = results
    assert good["custom_id"] == "good" and good["error"] is None
    assert not [m for m in good["response"]["messages"] if m["severity"] == "error"]
    # A kimina client's pass test (no error, no error message) fails on the injected axiom.
    assert cheat["custom_id"] == "7" and cheat["error"] is None
    assert any(m["severity"] == "error" and "bad_axioms" in m["data"] for m in cheat["response"]["messages"])
    assert none["error"].startswith("error: no theorem")


def test_bad_requests_get_json_reasons_and_the_server_lives_on(server: Server) -> None:
    post = server.client.post
    assert post("/check", json=[{"id": "x", **ADD_ZERO}]).status_code == 401
    assert post("/check", json=[{"id": "x", **ADD_ZERO}], headers={"Authorization": "Bearer wrong"}).status_code == 401
    cases = [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (json.dumps([]).encode(), 422),
        (json.dumps([1, 2]).encode(), 422),
        (json.dumps({"proofs": [{"id": "t", **ADD_ZERO}], "timeout": "soon"}).encode(), 422),
        (json.dumps({"id": "big", "code": "x" * (3 * 1024 * 1024)}).encode(), 413),
    ]
    for body, status in cases:
        resp = post("/check", content=body, headers=auth())
        assert resp.status_code == status, (body[:40], resp.text)
        assert resp.json()["error"]
    assert post("/verify", json={"codes": [{"proof": "x"}]}, headers=auth()).status_code == 422
    assert post("/verify", json={"codes": "nope"}, headers=auth()).status_code == 422
    # A record with a bad field is a per-proof `error` verdict, not a failed request.
    resp = post("/check", json=[{"id": "bad", "statement": 5, "proof": "simp"}, {"id": "ok", **ADD_ZERO}], headers=auth())
    assert [r["verdict"] for r in resp.json()["results"]] == ["error", "verified"]
    assert server.client.get("/health").json()["status"] == "ok"


def test_full_queue_503_then_sigterm_while_busy_answers_and_leaves_no_repl() -> None:
    server = Server("--workers", "1", "--queue", "2", "--grace", "0.3")
    try:
        answers: dict[str, httpx.Response] = {}

        def send(name: str, proofs: list[dict]) -> None:
            answers[name] = server.client.post("/check", json={"proofs": proofs})

        first = threading.Thread(target=send, args=("busy", [{"id": f"s{i}", **SLOW} for i in range(2)]))
        first.start()
        deadline = time.monotonic() + 10
        while server.client.get("/health").json()["queue"]["admitted"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        full = server.client.post("/check", json={"id": "late", **ADD_ZERO})
        assert full.status_code == 503 and full.headers["Retry-After"] == "1"
        assert "full" in full.json()["error"]
        repls = server.repls()
        assert repls
        server.proc.send_signal(signal.SIGTERM)  # one slow check is running, the other waits
        first.join(timeout=20)
        busy = answers["busy"]
        assert busy.status_code == 200
        verdicts = [r["verdict"] for r in busy.json()["results"]]
        assert verdicts[-1] == "cancelled" and set(verdicts) <= {"verified", "cancelled"}
        assert server.proc.wait(timeout=20) == 0
        gone = psutil.wait_procs(repls, timeout=5)[1]
        assert not gone, f"REPL processes left behind: {gone}"
    finally:
        server.stop()


def test_request_deadline_answers_timeout(server: Server) -> None:
    resp = server.client.post("/check", json={"proofs": [{"id": "s", **SLOW}], "timeout": 0.2}, headers=auth())
    assert resp.json()["results"][0]["verdict"] == "timeout"
    assert "deadline" in resp.json()["results"][0]["details"]
    ok = server.client.post("/check", json={"id": "after", **ADD_ZERO}, headers=auth())  # the worker is still good
    assert ok.json()["results"][0]["verdict"] == "verified"


def test_reward_function_backed_by_the_server(server: Server) -> None:
    from prover.service.reward import LeanReward

    reward = LeanReward(server=server.url, token="s3cret")
    statement = "theorem add_zero (n : ℕ) : n + 0 = n := by sorry"
    completions = ["```lean\nsimp\n```", "```lean\n" + HEADER + "theorem add_zero (n : ℕ) : n = n + 0 := by simp\n```"]
    assert reward(completions, statement=[statement] * 2, header=[HEADER] * 2) == [1.0, 0.0]
