"""The generator interface, the request coalescer shared by the local backends, and offline model resolution."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover.errors import EnvironmentProblem, ModelError, ModelNotFoundError
from prover.models.prompts import PromptFormat, Score
from search.protocols import Candidate, PolicyRequest, Sampling

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Completion:
    """One raw sample: its text, the sum of its tokens' log-probs, how many tokens it has, (where the backend
    knows them) the token ids, end-of-sequence token included, and whether it ended on its own (EOS or a stop
    string) rather than being cut at the token limit. A cut sample is an unfinished tactic: never sent to Lean."""

    text: str
    logprob_sum: float
    num_tokens: int
    token_ids: tuple[int, ...] = ()
    finished: bool = True


def use_beam_search(decoding: str, sampling: Sampling) -> bool:
    """Beam search for `decoding=beam`, or for `auto` at temperature 0 with more than one candidate wanted.

    The authors of ReProver, InternLM-StepProver, LLMStep and Llemma decode with beam search at T=0
    (`use_beam_search=temperature==0.0`); vLLM refuses n>1 greedy requests ("n must be 1 when using greedy
    sampling"), so T=0 with n>1 can only mean beams.
    """
    return decoding == "beam" or (decoding == "auto" and sampling.temperature <= 0 and sampling.n > 1)


class TacticGenerator:
    """Base of every backend; satisfies `search.protocols.Policy`.

    `propose` takes a wave of requests and returns, for each request in order, its candidates best first (at most
    `sampling.n`, possibly fewer after cleaning and deduplication). `calls` counts the backend calls (batches)
    made, for stats. Use `close()` (or `async with`) to release engines, threads and connections.
    """

    name: str = "generator"

    def __init__(self) -> None:
        self.calls = 0

    async def propose(self, requests: Sequence[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> TacticGenerator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def describe(self) -> dict[str, Any]:
        """What a result file records about the model (name, model, prompt format)."""
        return {"generator": self.name}


# prompts (text, or whatever the backend's engine takes) and one settings value per prompt → completions per prompt
RunBatch = Callable[[list[Any], list[Any]], list[list[Completion]]]


@dataclass(eq=False)
class _Pending:
    prompts: list[Any]
    key: Hashable
    settings: list[Any]  # one per prompt
    future: asyncio.Future[list[list[Completion]]]


class Batcher:
    """Coalesces concurrent `submit` calls into few blocking backend calls, run one at a time on a worker thread.

    While a backend call runs, new submissions wait; when it returns, every waiting submission whose batch key
    matches the oldest one goes into the next call (up to `max_batch` prompts per call). So many searches sharing
    one model get batched generation without knowing about each other.

    Args:
        run_batch: the blocking backend call: prompts and one settings value per prompt (what `submit` was
            given: a Sampling, or whatever the backend needs) → completions per prompt.
        max_batch: most prompts per backend call (a larger submission is split over several calls).
        batch_key: submissions merge only when their keys are equal (default: the whole Sampling, for backends
            that take one setting per call; vLLM takes one per prompt and merges everything).
        on_call: called with the number of prompts of every backend call (for stats).
    """

    def __init__(
        self,
        run_batch: RunBatch,
        *,
        max_batch: int = 64,
        batch_key: Callable[[Any], Hashable] = lambda s: s,
        on_call: Callable[[int], None] | None = None,
        thread_name: str = "prover-model",
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max(1, max_batch)
        self._batch_key = batch_key
        self._on_call = on_call
        self._pending: list[_Pending] = []
        self._closed = False
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)

    async def submit(
        self, prompts: Sequence[Any], sampling: Any, per_prompt: Sequence[Any] | None = None
    ) -> list[list[Completion]]:
        """Completions for each prompt, in order.

        `sampling` is the submission's settings (its batch key is taken from it); `per_prompt`, when given, is
        what `run_batch` receives for each prompt instead of `sampling` (e.g. settings with each prompt's seed).
        """
        if self._closed:
            raise ModelError("the generator is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[list[Completion]]] = loop.create_future()
        settings = list(per_prompt) if per_prompt is not None else [sampling] * len(prompts)
        if len(settings) != len(prompts):
            raise ValueError(f"{len(settings)} per-prompt settings for {len(prompts)} prompts")
        self._pending.append(_Pending(list(prompts), self._batch_key(sampling), settings, future))
        worker = self._worker
        if worker is None or worker.done() or worker.get_loop() is not loop:
            self._worker = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(0)  # one loop turn: let concurrent callers enqueue before the batch is cut
            key = self._pending[0].key
            group = [p for p in self._pending if p.key == key and not p.future.done()]
            taken = {id(p) for p in group}
            self._pending = [p for p in self._pending if id(p) not in taken and not p.future.done()]
            if not group:
                continue
            prompts = [prompt for p in group for prompt in p.prompts]
            samplings = [setting for p in group for setting in p.settings]
            try:
                results: list[list[Completion]] = []
                for start in range(0, len(prompts), self._max_batch):
                    chunk = slice(start, start + self._max_batch)
                    if self._on_call is not None:
                        self._on_call(len(prompts[chunk]))
                    results.extend(
                        await loop.run_in_executor(self._executor, self._run_batch, prompts[chunk], samplings[chunk])
                    )
                if len(results) != len(prompts):
                    raise ModelError(f"backend returned {len(results)} results for {len(prompts)} prompts")
            except Exception as exc:
                if len(group) > 1:
                    # One caller's bad request (an over-long prompt, say) must not fail the others merged with
                    # it: run each submission on its own, so the exception reaches only the caller it belongs to.
                    log.debug("merged backend call failed (%s); retrying its %d submissions one by one", exc, len(group))
                    for p in group:
                        await self._run_alone(loop, p)
                    continue
                for p in group:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            start = 0
            for p in group:
                part = results[start : start + len(p.prompts)]
                start += len(p.prompts)
                if not p.future.done():
                    p.future.set_result(part)

    async def _run_alone(self, loop: asyncio.AbstractEventLoop, p: _Pending) -> None:
        if p.future.done():
            return
        try:
            results: list[list[Completion]] = []
            for start in range(0, len(p.prompts), self._max_batch):
                chunk = slice(start, start + self._max_batch)
                if self._on_call is not None:
                    self._on_call(len(p.prompts[chunk]))
                samplings = p.settings[chunk]
                results.extend(await loop.run_in_executor(self._executor, self._run_batch, p.prompts[chunk], samplings))
            if len(results) != len(p.prompts):
                raise ModelError(f"backend returned {len(results)} results for {len(p.prompts)} prompts")
        except Exception as exc:  # handed to this caller only, who re-raises it
            if not p.future.done():
                p.future.set_exception(exc)
            return
        if not p.future.done():
            p.future.set_result(results)

    def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=True)


class ModelGenerator(TacticGenerator):
    """A generator backed by a language model: prompt adapter in, cleaned and scored candidates out.

    Subclasses implement `_complete(prompts, sampling, seeds)` → completions per prompt; `seeds` holds each
    prompt's request seed (`PolicyRequest.seed`, else `Sampling.seed`). Samples cut at the token limit
    (`Completion.finished` false) are dropped here, before cleaning.
    """

    def __init__(self, model: str, prompt_format: PromptFormat, score: Score | None = None) -> None:
        super().__init__()
        self.model = model
        self.prompt_format = prompt_format
        self.score = score
        self.batch_sizes: list[int] = []
        self.truncated_samples = 0  # samples dropped because they hit max_tokens

    async def propose(self, requests: Sequence[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]:
        if not requests:
            return []
        if sampling.n < 1:
            return [[] for _ in requests]
        prompts = [self.prompt_format.prompt(r) for r in requests]
        seeds = [r.seed if r.seed is not None else sampling.seed for r in requests]
        completions = await self._complete(prompts, sampling, seeds)
        self.truncated_samples += sum(not c.finished for outs in completions for c in outs)
        return [
            self.prompt_format.candidates(
                ((c.text, c.logprob_sum, c.num_tokens) for c in outs if c.finished), sampling.n, self.score
            )
            for outs in completions
        ]

    async def _complete(
        self, prompts: list[str], sampling: Sampling, seeds: Sequence[int | None] | None = None
    ) -> list[list[Completion]]:
        raise NotImplementedError

    @property
    def length_penalty(self) -> float:
        """Beam-search length penalty matching the score convention: 1.0 (per-token) for mean, 0.0 for sum.

        ReProver beams with `length_penalty=0` and sums (prover/tactic_generator.py @fd6d99c); InternLM and
        LLMStep use vLLM's default 1.0 and rank by the mean.
        """
        return 1.0 if (self.score or self.prompt_format.score) == "mean" else 0.0

    def _count_call(self, batch_size: int) -> None:
        self.calls += 1
        self.batch_sizes.append(batch_size)

    def describe(self) -> dict[str, Any]:
        return {
            "generator": self.name,
            "model": self.model,
            "prompt_format": self.prompt_format.name,
            "score": self.score or self.prompt_format.score,
        }


# ---- where the weights are ---------------------------------------------------------------------------------------


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or model.count("/") > 1 or os.sep != "/" and os.sep in model


def download_fix(model: str) -> str:
    """The command that downloads a hub model (huggingface_hub ≥ 1.0 ships `hf`; older ones `huggingface-cli`)."""
    return f"hf download {model}"


def resolve_model(model: str, *, allow_download: bool = False, revision: str | None = None) -> str:
    """A local directory holding the model: `model` itself if it is one, else its snapshot in the HF cache.

    Never touches the network unless `allow_download`; a missing model raises ModelNotFoundError at once with
    the download command as `fix`.

    Raises:
        ModelNotFoundError: no local weights (and downloading not allowed or failed).
        EnvironmentProblem: huggingface_hub is not installed (the `hf` extra).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model directory {model} has no config.json",
                fix="point --model at a directory written by save_pretrained, or at a hub name",
            )
        return str(path)
    if _looks_like_path(model) or path.exists():
        raise ModelNotFoundError(f"model directory {model} does not exist", fix="check the --model path")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise EnvironmentProblem(
            f"cannot look up model {model}: huggingface_hub is not installed", fix="pip install 'prover[hf]'"
        ) from None
    try:
        local = snapshot_download(model, revision=revision, local_files_only=not allow_download)
    except Exception as exc:  # LocalEntryNotFoundError, HFValidationError, network errors: all mean "no weights"
        reason = "is not available locally and downloading is not allowed" if not allow_download else f"could not be downloaded ({type(exc).__name__}: {exc})"
        raise ModelNotFoundError(f"model {model} {reason}", fix=download_fix(model)) from None
    if not (Path(str(local)) / "config.json").is_file():
        raise ModelNotFoundError(f"model {model} is only partly downloaded (no config.json)", fix=download_fix(model))
    return str(local)
