"""Chat models: conversations in, long completions out, on `hf`, `vllm` or an OpenAI-compatible `openai` server.

Whole-proof models (and planners) are chat models: their prompts are conversations rendered by the model's own
chat template — `tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)` on `hf` and
`vllm` (the template is never hand-rendered; model-formats.md, DeepSeek-Prover-V2 notes), the server's template on
`openai` (`POST /v1/chat/completions`). Generations are long (8k–40k tokens), so the time limits are sized for
them: `hf` passes `timeout` as `generate(max_time=…)`, `openai` waits `timeout` seconds per request (default
30 min, not the tactic side's 60 s), `vllm` bounds the wait for a batch.

Each completion records its text, its generated-token count and whether it hit `max_tokens` (`truncated`), which
is what extraction needs to reject a 40k-token ramble with a reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from prover.errors import EnvironmentProblem, ModelError, ModelNotFoundError, UsageError
from prover.models.base import Batcher, resolve_model
from prover.models.openai_backend import RETRY_STATUS, TransportError, post_json
from prover.models.registry import Option, choice, optional, parse_bool, parse_options
from search.protocols import Sampling

log = logging.getLogger(__name__)

Message = Mapping[str, str]
Conversation = Sequence[Message]
CHAT_GENERATORS = ("hf", "vllm", "openai")
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


@dataclass(frozen=True, slots=True)
class ChatCompletion:
    """One sampled reply: its text, how many tokens were generated, and whether `max_tokens` cut it."""

    text: str
    tokens: int = 0
    truncated: bool = False


def _positive(value: str) -> float:
    x = float(value)
    if x <= 0:
        raise ValueError("must be positive")
    return x


_COMMON: dict[str, Option] = {
    "timeout": Option(_positive, 1800.0, "seconds one generation (hf, vllm batch) or HTTP request (openai) may take"),
    "trust_remote_code": Option(parse_bool, False, "allow model code from the model directory"),
    "revision": Option(optional(str), None, "hub revision (branch, tag or commit)"),
}
OPTIONS: dict[str, dict[str, Option]] = {
    "hf": {
        **_COMMON,
        "device": Option(str, "auto", "cpu, cuda, cuda:N, or auto (cuda when available)"),
        "dtype": Option(choice("auto", "float32", "float16", "bfloat16"), "auto", "weights dtype (auto: as saved)"),
        "max_batch": Option(int, 8, "most conversations per generate call"),
    },
    "vllm": {
        **_COMMON,
        "tensor_parallel_size": Option(int, 1, "GPUs per model replica (tensor parallel)"),
        "dtype": Option(str, "auto", "auto, float16, bfloat16, float32"),
        "max_model_len": Option(optional(int), None, "context length (default: the model's; Goedel uses 40960)"),
        "gpu_memory_utilization": Option(float, 0.9, "share of GPU memory vLLM may take"),
        "enforce_eager": Option(parse_bool, False, "no CUDA graphs (faster start, slower steps)"),
        "seed": Option(int, 0, "engine seed"),
        "max_batch": Option(int, 256, "most conversations per generate call"),
    },
    "openai": {
        "timeout": _COMMON["timeout"],
        "base_url": Option(str, None, f"server root ending in /v1 (default: $OPENAI_BASE_URL or {DEFAULT_BASE_URL})"),
        "api_key": Option(optional(str), None, "bearer token (default: $OPENAI_API_KEY; none sent when unset)"),
        "concurrency": Option(int, 16, "most HTTP requests in flight"),
        "retries": Option(int, 2, "retries after a failed request"),
        "backoff": Option(float, 1.0, "seconds before the first retry; doubles each retry"),
        "presence_penalty": Option(optional(float), None, "sent when set (Kimina 2025 uses 0.2)"),
    },
}


class ChatModel:
    """Base of the chat backends: `chat(conversations, sampling)` → `sampling.n` completions per conversation.

    `calls`, `tokens`: backend calls made and tokens generated so far. Close with `await close()`.
    """

    name = "chat"

    def __init__(self, model: str) -> None:
        self.model = model
        self.calls = 0
        self.tokens = 0

    async def chat(self, conversations: Sequence[Conversation], sampling: Sampling) -> list[list[ChatCompletion]]:
        if not conversations or sampling.n < 1:
            return [[] for _ in conversations]
        out = await self._chat([[dict(m) for m in c] for c in conversations], sampling)
        if len(out) != len(conversations) or any(len(o) != sampling.n for o in out):
            raise ModelError(f"{self.name} chat returned {[len(o) for o in out]} replies for {len(conversations)} x {sampling.n}")
        self.tokens += sum(c.tokens for o in out for c in o)
        return out

    async def _chat(self, conversations: list[list[dict[str, str]]], sampling: Sampling) -> list[list[ChatCompletion]]:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"generator": self.name, "model": self.model}


def render_chat(tokenizer: Any, conversation: Sequence[Message]) -> str:
    """The conversation as the model's own chat template renders it, ready for the assistant's reply."""
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("the model's tokenizer has no chat template, so it is not a chat (whole-proof) model")
    return str(tokenizer.apply_chat_template(list(conversation), tokenize=False, add_generation_prompt=True))


def has_chat_template(model: str, *, allow_download: bool = False) -> bool | None:
    """Whether a local model's tokenizer config declares a chat template (None: not a local model; cannot tell)."""
    try:
        path = resolve_model(model, allow_download=allow_download)
    except (ModelNotFoundError, EnvironmentProblem):
        return None
    for name in ("tokenizer_config.json", "chat_template.jinja", "chat_template.json"):
        file = os.path.join(path, name)
        if os.path.isfile(file):
            if name != "tokenizer_config.json":
                return True
            try:
                with open(file, encoding="utf-8") as handle:
                    if json.load(handle).get("chat_template"):
                        return True
            except (OSError, ValueError):
                return None
    return False


class HFChatModel(ChatModel):
    """A transformers causal LM with a chat template; one `generate` call per batch on a worker thread."""

    name = "hf"

    def __init__(self, model: str, opts: Mapping[str, Any], allow_download: bool) -> None:
        super().__init__(model)
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise EnvironmentProblem(
                f"the hf chat model needs torch and transformers ({exc.name} is missing)", fix="pip install 'prover[hf]'"
            ) from None
        self._torch = torch
        self._opts = dict(opts)
        path = resolve_model(model, allow_download=allow_download, revision=opts["revision"])
        kw = {"local_files_only": not allow_download, "trust_remote_code": opts["trust_remote_code"]}
        device = opts["device"] if opts["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = torch.device(device)
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, **kw)
            dtype = {} if opts["dtype"] == "auto" else {"dtype": getattr(torch, opts["dtype"])}
            self.lm: Any = transformers.AutoModelForCausalLM.from_pretrained(path, **kw, **dtype)
        except OSError as exc:
            raise ModelNotFoundError(f"cannot load model {model}: {exc}".splitlines()[0], fix=f"check {path}") from None
        render_chat(self.tokenizer, [{"role": "user", "content": "x"}])  # no template: a usage error now, not later
        self.lm.to(self.device).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        eos = self.lm.generation_config.eos_token_id
        self._eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else []) | {self.tokenizer.eos_token_id}
        self._batcher = Batcher(self._run_batch, max_batch=opts["max_batch"], on_call=self._count, thread_name="prover-chat-hf")

    def _count(self, size: int) -> None:
        self.calls += 1

    async def _chat(self, conversations: list[list[dict[str, str]]], sampling: Sampling) -> list[list[ChatCompletion]]:
        prompts = [render_chat(self.tokenizer, c) for c in conversations]
        return await self._batcher.submit(prompts, sampling)  # type: ignore[return-value]  # the batch returns ChatCompletions

    def _run_batch(self, prompts: list[str], samplings: list[Sampling]) -> list[list[ChatCompletion]]:
        torch, sampling = self._torch, samplings[0]
        # The template already holds the special tokens (BOS included), so the tokenizer must not add them again.
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        try:
            with torch.inference_mode():
                out = self.lm.generate(
                    **enc, max_new_tokens=sampling.max_tokens, num_return_sequences=sampling.n, do_sample=True,
                    temperature=max(sampling.temperature, 1e-5), top_p=sampling.top_p, top_k=0,
                    pad_token_id=self.tokenizer.pad_token_id, max_time=self._opts["timeout"],
                )
        except RuntimeError as exc:
            raise ModelError(f"hf generate failed: {exc}".splitlines()[0]) from exc
        gen = out[:, enc["input_ids"].shape[1] :].tolist()
        flat = []
        for ids in gen:
            end = next((i for i, t in enumerate(ids) if t in self._eos), None)
            kept = ids if end is None else ids[:end]
            flat.append(ChatCompletion(self.tokenizer.decode(kept, skip_special_tokens=True), len(kept) + (end is not None), end is None and len(ids) >= sampling.max_tokens))
        n = sampling.n
        return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]

    async def close(self) -> None:
        self._batcher.close()


class VLLMChatModel(ChatModel):
    """A vLLM offline engine: the tokenizer's chat template renders each conversation, `LLM.generate` samples."""

    name = "vllm"

    def __init__(self, model: str, opts: Mapping[str, Any], allow_download: bool) -> None:
        super().__init__(model)
        from prover.models.vllm_backend import _hub_offline, _import_vllm

        vllm = _import_vllm()
        path = resolve_model(model, allow_download=allow_download, revision=opts["revision"])
        keys = ("tensor_parallel_size", "dtype", "max_model_len", "gpu_memory_utilization", "enforce_eager", "seed",
                "trust_remote_code")
        args = {k: opts[k] for k in keys if opts[k] is not None}
        self._opts = dict(opts)
        try:
            with _hub_offline(not allow_download):
                self.engine: Any = vllm.LLM(model=path, tokenizer=path, **args)
        except (OSError, ValueError) as exc:
            raise ModelError(f"vLLM could not start on {path}: {exc}".splitlines()[0]) from exc
        self.tokenizer = self.engine.get_tokenizer()
        render_chat(self.tokenizer, [{"role": "user", "content": "x"}])
        self._batcher = Batcher(self._run_batch, max_batch=opts["max_batch"], batch_key=lambda s: None,
                                on_call=lambda size: None, thread_name="prover-chat-vllm")

    async def _chat(self, conversations: list[list[dict[str, str]]], sampling: Sampling) -> list[list[ChatCompletion]]:
        self.calls += 1
        prompts = [render_chat(self.tokenizer, c) for c in conversations]
        try:
            return await asyncio.wait_for(self._batcher.submit(prompts, sampling), self._opts["timeout"])  # type: ignore[return-value]
        except asyncio.TimeoutError:
            raise ModelError(f"vLLM did not answer within {self._opts['timeout']} s") from None

    def _run_batch(self, prompts: list[str], samplings: list[Sampling]) -> list[list[ChatCompletion]]:
        from vllm import SamplingParams

        params = [SamplingParams(n=s.n, temperature=max(s.temperature, 0.0), top_p=s.top_p, max_tokens=s.max_tokens,
                                 seed=s.seed) for s in samplings]
        # The rendered template already starts with BOS: do not let the tokenizer add a second one.
        inputs = [{"prompt_token_ids": self.tokenizer.encode(p, add_special_tokens=False)} for p in prompts]
        outputs = self.engine.generate(inputs, params, use_tqdm=False)
        return [[ChatCompletion(c.text, len(c.token_ids), c.finish_reason == "length") for c in o.outputs] for o in outputs]

    async def close(self) -> None:
        self._batcher.close()
        stop = getattr(getattr(self, "engine", None), "shutdown", None)
        if callable(stop):
            stop()


class OpenAIChatModel(ChatModel):
    """`POST {base_url}/chat/completions` with `n` samples; retries 429/5xx and network errors with backoff."""

    name = "openai"

    def __init__(self, model: str, opts: Mapping[str, Any]) -> None:
        super().__init__(model)
        base = opts["base_url"] or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        if not base.startswith(("http://", "https://")):
            raise UsageError(f"base_url must start with http:// or https:// (got '{base}')")
        self.url = base.rstrip("/") + "/chat/completions"
        self._key = opts["api_key"] or os.environ.get("OPENAI_API_KEY")
        self._opts = dict(opts)
        self._limit = asyncio.Semaphore(max(1, opts["concurrency"]))
        self._executor = ThreadPoolExecutor(max_workers=max(1, opts["concurrency"]), thread_name_prefix="prover-chat")

    async def _chat(self, conversations: list[list[dict[str, str]]], sampling: Sampling) -> list[list[ChatCompletion]]:
        return list(await asyncio.gather(*(self._one(c, sampling) for c in conversations)))

    async def _one(self, conversation: list[dict[str, str]], sampling: Sampling) -> list[ChatCompletion]:
        body: dict[str, Any] = {"model": self.model, "messages": conversation, "n": sampling.n,
                                "temperature": sampling.temperature, "top_p": sampling.top_p,
                                "max_tokens": sampling.max_tokens}
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if self._opts["presence_penalty"] is not None:
            body["presence_penalty"] = self._opts["presence_penalty"]
        data = json.dumps(body).encode()
        loop = asyncio.get_running_loop()
        last = ""
        self.calls += 1
        for attempt in range(max(0, self._opts["retries"]) + 1):
            if attempt:
                await asyncio.sleep(self._opts["backoff"] * 2 ** (attempt - 1) * (1 + 0.25 * random.random()))
            async with self._limit:
                try:
                    status, payload = await asyncio.wait_for(
                        loop.run_in_executor(self._executor, self._post, data), self._opts["timeout"] + 1.0
                    )
                except (asyncio.TimeoutError, TimeoutError):
                    last = f"no reply within {self._opts['timeout']} s"
                    continue
                except TransportError as exc:
                    last = str(exc)
                    continue
            text = payload.decode("utf-8", "replace")
            if status in RETRY_STATUS:
                last = f"HTTP {status}: {text[:200]}"
                continue
            if status != 200:
                raise ModelError(f"chat server {self.url} answered HTTP {status}: {text[:300]}")
            try:
                return _parse_chat(json.loads(text), sampling.n)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                last = f"malformed reply ({type(exc).__name__}: {exc}): {text[:200]}"
        raise ModelError(f"chat server {self.url} failed after {self._opts['retries'] + 1} attempts: {last}")

    def _post(self, data: bytes) -> tuple[int, bytes]:
        return post_json(self.url, data, api_key=self._key, timeout=self._opts["timeout"])

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "url": self.url}


def _parse_chat(reply: Any, n: int) -> list[ChatCompletion]:
    choices = reply["choices"]
    if not isinstance(choices, list) or len(choices) != n:
        raise ValueError(f"expected {n} choices, got {len(choices) if isinstance(choices, list) else type(choices).__name__}")
    usage = reply.get("usage") or {}
    per_choice = int(usage.get("completion_tokens") or 0) // max(1, n)
    out = []
    for choice_ in sorted(choices, key=lambda c: int(c.get("index", 0))):
        message = choice_["message"]
        content = message.get("content") or ""
        # vLLM's reasoning parsers move the thinking out of `content`; keep it, as the model wrote it.
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        text = f"<think>\n{reasoning}\n</think>\n{content}" if reasoning else content
        out.append(ChatCompletion(str(text), per_choice, choice_.get("finish_reason") == "length"))
    return out


def build_chat_model(
    generator: str, model: str | None, options: Mapping[str, str] | None = None, *, allow_download: bool = False
) -> ChatModel:
    """A chat backend (`hf`, `vllm` or `openai`) for `model`; `options` are `--proof-model-args k=v` strings.

    Raises:
        UsageError: unknown generator or option, no model, or a local model without a chat template.
        ModelNotFoundError, EnvironmentProblem: weights or packages are missing.
    """
    if generator not in CHAT_GENERATORS:
        raise UsageError(f"unknown proof generator '{generator}'; known: {', '.join(CHAT_GENERATORS)}")
    if not model:
        raise UsageError("a whole-proof model needs a name (--proof-model NAME_OR_DIR)")
    opts = parse_options(f"{generator} (proof model)", OPTIONS[generator], options)
    if generator == "hf":
        return HFChatModel(model, opts, allow_download)
    if generator == "vllm":
        return VLLMChatModel(model, opts, allow_download)
    return OpenAIChatModel(model, opts)
