"""The `openai` generator: any OpenAI-compatible `/v1/completions` server (`vllm serve`, sglang, …).

Standard library only: `urllib` on a thread pool sized to the concurrency limit. Each HTTP request carries up to
`prompts_per_request` prompts (default 1, which every server accepts; the server batches concurrent requests
itself) and asks for `n` samples with `logprobs=1`; a sample's score is the sum (or mean) of its
`token_logprobs`.

Failures: connection errors, timeouts, HTTP 429/5xx and malformed replies are retried with exponential backoff
(`backoff`, doubling, capped at `max_backoff`, with up to 25 % jitter); after `retries` retries, or at once for
another 4xx, a ModelError says what the server did.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prover.errors import ModelError, UsageError
from prover.models.base import Completion, ModelGenerator
from prover.models.prompts import SCORE_OPTION, PromptFormat, check_score_convention, format_for_model
from prover.models.registry import Option, optional, parse_options
from search.protocols import Sampling

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _positive_int(value: str) -> int:
    x = int(value)
    if x < 1:
        raise ValueError("must be at least 1")
    return x


def _non_negative(value: str) -> float:
    x = float(value)
    if x < 0:
        raise ValueError("must not be negative")
    return x


OPTIONS: dict[str, Option] = {
    "base_url": Option(str, None, f"server root ending in /v1 (default: $OPENAI_BASE_URL or {DEFAULT_BASE_URL})"),
    "api_key": Option(optional(str), None, "bearer token (default: $OPENAI_API_KEY; none sent when unset)"),
    "concurrency": Option(_positive_int, 8, "most HTTP requests in flight"),
    "prompts_per_request": Option(_positive_int, 1, "prompts sent in one request (vLLM and sglang accept lists)"),
    "timeout": Option(_non_negative, 60.0, "seconds for one HTTP request"),
    "retries": Option(int, 3, "retries after a failed request"),
    "backoff": Option(_non_negative, 0.5, "seconds before the first retry; doubles each retry"),
    "max_backoff": Option(_non_negative, 8.0, "longest wait between retries"),
    "score": SCORE_OPTION,
}


class _Retryable(Exception):
    """A failure worth another try (network, timeout, 429/5xx, malformed reply)."""


class OpenAIGenerator(ModelGenerator):
    """Tactics from an OpenAI-compatible completions endpoint; see the module docstring.

    `calls` counts HTTP requests (not retries); `retries_made` counts retries.
    """

    name = "openai"

    def __init__(self, model: str, prompt_format: PromptFormat, opts: Mapping[str, Any]) -> None:
        super().__init__(model, prompt_format, check_score_convention(opts["score"]))
        base = opts["base_url"] or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        if not base.startswith(("http://", "https://")):
            raise UsageError(f"base_url must start with http:// or https:// (got '{base}')")
        self.url = base.rstrip("/") + "/completions"
        self._api_key = opts["api_key"] or os.environ.get("OPENAI_API_KEY")
        self._opts = dict(opts)
        self._limit = asyncio.Semaphore(opts["concurrency"])
        self._executor = ThreadPoolExecutor(max_workers=opts["concurrency"], thread_name_prefix="prover-openai")
        self.retries_made = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @classmethod
    def build(
        cls, model: str | None, prompt_format: str | None, options: Mapping[str, str] | None, allow_download: bool
    ) -> OpenAIGenerator:
        opts = parse_options(cls.name, OPTIONS, options)
        if not model:
            raise UsageError("the openai generator needs the served model name (--model NAME)")
        return cls(model, format_for_model(model, prompt_format), opts)

    async def _complete(self, prompts: list[str], sampling: Sampling) -> list[list[Completion]]:
        size = self._opts["prompts_per_request"]
        chunks = [prompts[i : i + size] for i in range(0, len(prompts), size)]
        results = await asyncio.gather(*(self._request(chunk, sampling) for chunk in chunks))
        return [outs for chunk in results for outs in chunk]

    def _body(self, prompts: Sequence[str], sampling: Sampling) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompts[0] if len(prompts) == 1 else list(prompts),
            "n": sampling.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "logprobs": 1,
        }
        if self.prompt_format.stop:
            body["stop"] = list(self.prompt_format.stop)
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        return json.dumps(body).encode()

    async def _request(self, prompts: list[str], sampling: Sampling) -> list[list[Completion]]:
        body = self._body(prompts, sampling)
        retries = max(0, self._opts["retries"])
        loop = asyncio.get_running_loop()
        last = ""
        self._count_call(len(prompts))
        for attempt in range(retries + 1):
            if attempt:
                self.retries_made += 1
                delay = min(self._opts["max_backoff"], self._opts["backoff"] * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (1 + 0.25 * random.random()))
            async with self._limit:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    # urllib's timeout bounds each socket operation; wait_for bounds the whole request.
                    status, payload = await asyncio.wait_for(
                        loop.run_in_executor(self._executor, self._post, body), self._opts["timeout"] + 1.0
                    )
                    return self._parse(status, payload, len(prompts), sampling.n)
                except _Retryable as exc:
                    last = str(exc)
                except (asyncio.TimeoutError, TimeoutError):
                    last = f"no reply within {self._opts['timeout']} s"
                finally:
                    self.in_flight -= 1
            log.debug("openai request to %s failed (attempt %d): %s", self.url, attempt + 1, last)
        raise ModelError(f"completions server {self.url} failed after {retries + 1} attempts: {last}")

    def _post(self, body: bytes) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._opts["timeout"]) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, reset, timeout, bad status line
            raise _Retryable(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc
        except Exception as exc:  # http.client.IncompleteRead / RemoteDisconnected and kin
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc

    def _parse(self, status: int, payload: bytes, num_prompts: int, n: int) -> list[list[Completion]]:
        text = payload.decode("utf-8", "replace")
        if status in RETRY_STATUS:
            raise _Retryable(f"HTTP {status}: {text[:200]}")
        if status != 200:
            raise ModelError(f"completions server {self.url} answered HTTP {status}: {text[:300]}")
        try:
            choices = json.loads(text)["choices"]
            if not isinstance(choices, list) or len(choices) != num_prompts * n:
                raise ValueError(f"expected {num_prompts * n} choices, got {len(choices) if isinstance(choices, list) else type(choices).__name__}")
            grouped: list[list[Completion]] = [[] for _ in range(num_prompts)]
            for position, choice_ in enumerate(choices):
                index = int(choice_.get("index", position))
                token_lps = choice_["logprobs"]["token_logprobs"]
                values = [float(x) for x in token_lps if x is not None]
                if not 0 <= index < num_prompts * n:
                    raise ValueError(f"choice index {index} out of range")
                grouped[index // n].append(Completion(str(choice_["text"]), sum(values), len(values)))
            if any(len(g) != n for g in grouped):
                raise ValueError("choices do not cover every prompt n times")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
            raise _Retryable(f"malformed reply ({type(exc).__name__}: {exc}): {text[:200]}") from None
        return grouped

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "url": self.url}
