"""The `hf` generator: transformers `generate` for causal and seq2seq (ByT5) models, on CPU or GPU.

One `generate` call per wave of requests (concurrent `propose` calls with the same sampling settings are merged
by the Batcher), left padding for causal models. Sampling at temperature > 0, beam search at temperature 0 (or
with `decoding=beam`). Scores come from the raw logits of each generated token (`output_logits` +
`compute_transition_scores(normalize_logits=True)`), i.e. the model's own log-probs before temperature or top-p,
the same quantity vLLM reports; a sequence's log-prob counts its tokens up to and including the end-of-sequence
token. A sequence that reached `max_tokens` without an end-of-sequence token or stop string is unfinished and
dropped. One generate call cannot give each row its own random stream, so the wave's request seeds are hashed
into one seed for torch's global generator (the calls run one at a time on the generator's own thread): the same
requests with the same seeds give the same tactics, and different states give different streams.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from dataclasses import replace

from prover.errors import EnvironmentProblem, ModelError, ModelNotFoundError, UsageError
from prover.models.base import Batcher, Completion, ModelGenerator, resolve_model, use_beam_search
from prover.models.prompts import SCORE_OPTION, PromptFormat, check_score_convention, format_for_model
from prover.models.registry import Option, choice, optional, parse_bool, parse_options
from prover.models.trained import load_pretrained
from search.protocols import Sampling

log = logging.getLogger(__name__)


def _combined_seed(seeds: Sequence[int | None]) -> int:
    """One torch seed for a generate call from its prompts' request seeds (order-sensitive, 63 bits)."""
    text = ",".join("-" if s is None else str(s) for s in seeds)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1

OPTIONS: dict[str, Option] = {
    "device": Option(str, "auto", "cpu, cuda, cuda:N, or auto (cuda when available)"),
    "dtype": Option(choice("auto", "float32", "float16", "bfloat16"), "auto", "weights dtype (auto: as saved)"),
    "decoding": Option(choice("auto", "sample", "beam"), "auto", "auto: beam search at temperature 0, else sampling"),
    "max_input_tokens": Option(int, 2048, "prompts are truncated to this many tokens (ReProver: 2048 bytes)"),
    "max_batch": Option(int, 32, "most prompts per generate call"),
    "score": SCORE_OPTION,
    "trust_remote_code": Option(parse_bool, False, "allow model code from the model directory"),
    "revision": Option(optional(str), None, "hub revision (branch, tag or commit)"),
}


class HFGenerator(ModelGenerator):
    """Tactics from a transformers model.

    Build it with `build_generator("hf", model=NAME_OR_DIR, options={...})`; the model is loaded at build time
    (from the local directory or the local HF cache; downloading only with `allow_download`).
    """

    name = "hf"

    def __init__(self, model: str, prompt_format: PromptFormat, opts: Mapping[str, Any], allow_download: bool) -> None:
        super().__init__(model, prompt_format, check_score_convention(opts["score"]))
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise EnvironmentProblem(
                f"the hf generator needs torch and transformers ({exc.name} is missing)", fix="pip install 'prover[hf]'"
            ) from None
        self._torch = torch
        self._opts = dict(opts)
        path = resolve_model(model, allow_download=allow_download, revision=opts["revision"])
        local_only = {"local_files_only": not allow_download, "trust_remote_code": opts["trust_remote_code"]}
        device = opts["device"]
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        try:
            config = transformers.AutoConfig.from_pretrained(path, **local_only)
            self.seq2seq = bool(getattr(config, "is_encoder_decoder", False))
            tokenizer = transformers.AutoTokenizer.from_pretrained(path, **local_only)
            cls = transformers.AutoModelForSeq2SeqLM if self.seq2seq else transformers.AutoModelForCausalLM
            kwargs: dict[str, Any] = dict(local_only)
            if opts["dtype"] != "auto":
                kwargs["dtype"] = getattr(torch, opts["dtype"])
            # Any: the Auto classes return a union whose `generate` output types mypy cannot narrow per model.
            lm: Any = load_pretrained(cls, path, **kwargs)  # a `prover train` LoRA output: base + adapter
        except OSError as exc:
            raise ModelNotFoundError(f"cannot load model {model}: {exc}".splitlines()[0], fix=f"check {path}") from None
        except ValueError as exc:
            if "trust_remote_code" in str(exc) and not opts["trust_remote_code"]:
                # InternLM2/2.5 ship their own modelling code (their scripts load with trust_remote_code=True).
                raise EnvironmentProblem(
                    f"model {model} contains custom code that transformers runs only when allowed",
                    fix="--model-args trust_remote_code=true (after checking the model's code)",
                ) from None
            raise ModelError(f"cannot load model {model}: {exc}".splitlines()[0]) from None
        lm.to(self.device).eval()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if not self.seq2seq:
            tokenizer.padding_side = "left"  # generation continues at the right end of every prompt
            tokenizer.truncation_side = "left"  # a long state loses its start, never the prompt's closing marker
        self.tokenizer = tokenizer
        self.lm = lm
        eos = lm.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            eos_ids.add(tokenizer.eos_token_id)
        self._eos_ids = torch.tensor(sorted(eos_ids) or [-1], device=self.device)
        self._batcher = Batcher(self._run_batch, max_batch=opts["max_batch"], on_call=self._count_call, thread_name="prover-hf")

    @classmethod
    def build(
        cls, model: str | None, prompt_format: str | None, options: Mapping[str, str] | None, allow_download: bool
    ) -> HFGenerator:
        opts = parse_options(cls.name, OPTIONS, options)
        if not model:
            raise UsageError("the hf generator needs a model (--model NAME_OR_DIR)")
        return cls(model, format_for_model(model, prompt_format), opts, allow_download)

    async def _complete(
        self, prompts: list[str], sampling: Sampling, seeds: Sequence[int | None] | None = None
    ) -> list[list[Completion]]:
        seeds = list(seeds) if seeds is not None else [sampling.seed] * len(prompts)
        unseeded = replace(sampling, seed=None)
        return await self._batcher.submit(prompts, unseeded, [(unseeded, s) for s in seeds])

    def _run_batch(self, prompts: list[str], settings: list[tuple[Sampling, int | None]]) -> list[list[Completion]]:
        # The Batcher merges only prompts whose unseeded Sampling is equal, so one generate call serves them all.
        seeds = [seed for _, seed in settings]
        seed = None if all(s is None for s in seeds) else _combined_seed(seeds)
        try:
            return self._generate(prompts, settings[0][0], seed)
        except RuntimeError as exc:  # CUDA OOM, shape errors: the model, not the caller, failed
            raise ModelError(f"hf generate failed: {exc}".splitlines()[0]) from exc

    def _generate(self, prompts: list[str], sampling: Sampling, seed: int | None = None) -> list[list[Completion]]:
        torch = self._torch
        n = sampling.n
        beam = use_beam_search(self._opts["decoding"], sampling) or (
            self._opts["decoding"] == "auto" and sampling.temperature <= 0
        )
        enc = self.tokenizer(
            prompts, return_tensors="pt", padding=True, truncation=True, max_length=self._opts["max_input_tokens"]
        ).to(self.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_tokens,
            "num_return_sequences": n,
            "return_dict_in_generate": True,
            "output_logits": True,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if beam:
            kwargs.update(num_beams=n, do_sample=False, length_penalty=self.length_penalty, early_stopping=True)
        else:
            kwargs.update(do_sample=True, temperature=max(sampling.temperature, 1e-5), top_p=sampling.top_p, top_k=0)
        if self.prompt_format.stop:
            kwargs.update(stop_strings=list(self.prompt_format.stop), tokenizer=self.tokenizer)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            out = self.lm.generate(**enc, **kwargs)
            token_lp = self.lm.compute_transition_scores(
                out.sequences, out.logits, getattr(out, "beam_indices", None) if beam else None, normalize_logits=True
            )
        start = 1 if self.seq2seq else enc["input_ids"].shape[1]
        gen = out.sequences[:, start:]
        token_lp = token_lp[:, -gen.shape[1] :] if gen.shape[1] else token_lp[:, :0]
        is_eos = torch.isin(gen, self._eos_ids)
        valid = (is_eos.cumsum(dim=1) - is_eos.long()) == 0  # up to and including the first end-of-sequence token
        if beam and getattr(out, "beam_indices", None) is not None:
            bi = out.beam_indices[:, -gen.shape[1] :] if gen.shape[1] else out.beam_indices[:, :0]
            valid &= bi >= 0
        lp_sum = token_lp.masked_fill(~valid, 0.0).sum(dim=1).tolist()
        counts = valid.sum(dim=1).tolist()
        ids = [tuple(g[v].tolist()) for g, v in zip(gen, valid)]
        texts = self.tokenizer.batch_decode([list(i) for i in ids], skip_special_tokens=True)
        ended = is_eos.any(dim=1).tolist()
        stops = self.prompt_format.stop
        flat = [
            Completion(t, float(s), int(c), i, finished=bool(e) or any(stop in t for stop in stops))
            for t, s, c, i, e in zip(texts, lp_sum, counts, ids, ended)
        ]
        return [flat[i * n : (i + 1) * n] for i in range(len(prompts))]

    async def close(self) -> None:
        self._batcher.close()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": str(self.device), "seq2seq": self.seq2seq}
