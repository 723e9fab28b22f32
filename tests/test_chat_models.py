"""Chat backends: an OpenAI-compatible /v1/chat/completions test server, and a tiny hf chat model with a template."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from prover.errors import ModelError, UsageError
from prover.models.chat import OpenAIChatModel, build_chat_model, has_chat_template, render_chat
from prover.models.proof_policy import ChatProofPolicy
from prover.models.proof_prompts import FORMATS
from search.proofs import ProofRequest
from search.protocols import Sampling
from tiny_models import causal_dir, chat_dir  # noqa: F401  (fixtures)

STATEMENT = "theorem t (x : ℕ) : x + 0 = x := by sorry"
GOOD = "Plan: simp.\n```lean4\nimport Mathlib\n\ntheorem t (x : ℕ) : x + 0 = x := by\n  simp\n```"


class ChatServer:
    """Answers chat completions from `replies` (cycled); `plan` holds HTTP statuses to return first."""

    def __init__(self) -> None:
        self.replies: list[str] = [GOOD]
        self.plan: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        self.finish = "stop"
        self.reasoning: str | None = None
        self.lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.bodies.append(body)
            if self.plan:
                return self.plan.pop(0), {"error": {"message": "scripted"}}
        choices = []
        for i in range(body["n"]):
            message: dict[str, Any] = {"role": "assistant", "content": self.replies[i % len(self.replies)]}
            if self.reasoning:
                message["reasoning_content"] = self.reasoning
            choices.append({"index": i, "message": message, "finish_reason": self.finish})
        choices.reverse()
        return 200, {"id": "chat-1", "object": "chat.completion", "choices": choices,
                     "usage": {"prompt_tokens": 10, "completion_tokens": 7 * body["n"], "total_tokens": 10 + 7 * body["n"]}}


@pytest.fixture
def chat_server() -> Iterator[tuple[str, ChatServer]]:
    state = ChatServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, reply = (404, {"error": "no such route"}) if self.path != "/v1/chat/completions" else state.answer(body)
            payload = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", state
    finally:
        httpd.shutdown()
        httpd.server_close()


def _policy(url: str, fmt: str = "goedel-v2", **opts: str) -> ChatProofPolicy:
    model = build_chat_model("openai", "Goedel-LM/Goedel-Prover-V2-8B", {"base_url": url, "backoff": "0.01", **opts})
    return ChatProofPolicy(model, FORMATS[fmt])


def test_openai_chat_sends_the_conversation_and_extracts(chat_server):
    url, server = chat_server
    server.replies = [GOOD, "no code at all"]
    policy = _policy(url, presence_penalty="0.2")
    request = ProofRequest("t", "import Mathlib", STATEMENT)
    (samples,) = asyncio.run(policy.generate([request], Sampling(n=2, temperature=1.0, top_p=0.95, max_tokens=32768)))
    body = server.bodies[0]
    assert body["messages"] == FORMATS["goedel-v2"].conversation(request)
    assert (body["n"], body["max_tokens"], body["top_p"], body["presence_penalty"]) == (2, 32768, 0.95, 0.2)
    assert samples[0].body == "simp" and samples[0].tokens == 7
    assert samples[1].body is None and samples[1].reason == "no lean4 code block"
    assert policy.chat.tokens == 14


def test_openai_chat_keeps_reasoning_content_and_marks_truncation(chat_server):
    url, server = chat_server
    server.reasoning, server.finish, server.replies = "let me think", "length", ["```lean4\ntheorem t"]
    (samples,) = asyncio.run(_policy(url).generate([ProofRequest("t", "", STATEMENT)], Sampling(n=1)))
    assert samples[0].output.startswith("<think>\nlet me think\n</think>\n")
    assert samples[0].truncated and samples[0].reason == "truncated at max_tokens before a complete code block"


def test_openai_chat_retries_then_fails_with_a_model_error(chat_server):
    url, server = chat_server
    server.plan = [503]
    (samples,) = asyncio.run(_policy(url).generate([ProofRequest("t", "", STATEMENT)], Sampling(n=1)))
    assert samples[0].body == "simp" and len(server.bodies) == 2
    server.plan = [500, 500, 500]
    with pytest.raises(ModelError, match="failed after 3 attempts"):
        asyncio.run(_policy(url).generate([ProofRequest("t", "", STATEMENT)], Sampling(n=1)))
    server.plan = [400]
    with pytest.raises(ModelError, match="HTTP 400"):
        asyncio.run(_policy(url).generate([ProofRequest("t", "", STATEMENT)], Sampling(n=1)))


def test_a_dead_server_is_a_model_error():
    model = OpenAIChatModel("m", {"base_url": "http://127.0.0.1:9/v1", "api_key": None, "concurrency": 1, "retries": 0,
                                  "backoff": 0.0, "timeout": 2.0, "presence_penalty": None})
    with pytest.raises(ModelError):
        asyncio.run(model.chat([[{"role": "user", "content": "x"}]], Sampling(n=1)))


def test_usage_errors():
    with pytest.raises(UsageError, match="unknown proof generator"):
        build_chat_model("portfolio", "m")
    with pytest.raises(UsageError, match="needs a name"):
        build_chat_model("openai", None)
    with pytest.raises(UsageError, match="unknown option 'tempreature'"):
        build_chat_model("openai", "m", {"tempreature": "1"})


needs_hf = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="the hf extra (torch, transformers) is not installed",
)


@needs_hf
def test_hf_chat_model_renders_the_tokenizer_template_and_generates(chat_dir):
    model = build_chat_model("hf", str(chat_dir), {"device": "cpu", "timeout": "30"})
    conversation = [{"role": "system", "content": "S"}, {"role": "user", "content": "prove it"}]
    assert render_chat(model.tokenizer, conversation) == "<s>S\n\nUser: prove it\n\nAssistant:"

    async def go():
        try:
            return await model.chat([conversation, conversation], Sampling(n=2, temperature=1.0, max_tokens=12, seed=1))
        finally:
            await model.close()

    out = asyncio.run(go())
    assert [len(o) for o in out] == [2, 2]
    assert all(0 < c.tokens <= 12 and isinstance(c.text, str) for o in out for c in o)
    assert any(c.truncated for o in out for c in o) or all(c.tokens < 12 for o in out for c in o)
    assert has_chat_template(str(chat_dir)) is True


@needs_hf
def test_a_tokenizer_without_chat_template_is_a_usage_error(causal_dir):
    assert has_chat_template(str(causal_dir)) is False
    with pytest.raises(UsageError, match="no chat template"):
        build_chat_model("hf", str(causal_dir), {"device": "cpu"})
