"""`prover train sft | dpo`: TRL's SFTTrainer / DPOTrainer (+ PEFT LoRA) on a datagen folder.

SFT examples are tokenised here, not by TRL: the prompt's tokens are exactly `tokenizer(prompt)` — what the `hf`
generator feeds the model when proving — and the completion's tokens follow them, ending with EOS. TRL would
tokenise prompt + completion together and split at their common prefix, which differs from the proving-time
tokens whenever tokens merge across the boundary (TRL's own warning about it, trl/trainer/sft_trainer.py). The
dataset then carries `input_ids` + `completion_mask` and `completion_only_loss=True` puts the loss on the
completion only (TRL docs, "SFT Trainer": prompt-completion datasets; huggingface.co/docs/trl/sft_trainer).
DPO takes `prompt`/`chosen`/`rejected` texts (TRL docs, "DPO Trainer": preference datasets).

The output is written into a temporary sibling folder and renamed into place at the very end, so a killed or
failed run never leaves a folder that looks complete.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from prover.errors import EnvironmentProblem, ModelNotFoundError, UsageError
from prover.models.base import resolve_model
from prover.models.trained import TRAINING_FILE, adapter_base, is_adapter_dir, trained_prompt_format
from prover.training.card import package_versions, write_card
from prover.training.examples import (
    Example,
    Pair,
    TrainFormat,
    check_data_dir,
    dedup,
    dpo_pairs,
    format_kind,
    is_chat_format,
    resolve_format,
    sft_examples,
)

logger = logging.getLogger(__name__)

Method = Literal["sft", "dpo"]
# Weights above this size are not trained on a CPU: hours per step (a 7B model holds ~15 GB in bf16).
CPU_TRAIN_LIMIT_BYTES = 2 * 1024**3
TRAIN_FIX = "pip install 'prover[train]' (or make install)"


@dataclass(frozen=True)
class TrainSettings:
    """One `prover train` run (the CLI's options)."""

    method: Method
    base: str
    data: Path
    output: Path
    prompt_format: str | None = None
    lora: bool = False
    merge: bool = False
    max_steps: int = -1
    epochs: float = 1.0
    lr: float | None = None  # default: 2e-4 with LoRA, 1e-5 full (SFT); 5e-6 / 5e-7 (DPO)
    batch_size: int = 8
    seed: int = 0
    overwrite: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    beta: float = 0.1
    max_length: int = 2048
    max_pairs_per_state: int = 8
    allow_download: bool = False
    progress: bool = False  # draw the Trainer's progress bar (the CLI decides)
    extra_info: dict[str, Any] = field(default_factory=dict)

    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        if self.method == "sft":
            return 2e-4 if self.lora else 1e-5
        return 5e-6 if self.lora else 5e-7


@dataclass(frozen=True)
class TrainResult:
    """What a run wrote: the output folder, its counts and the loss curve."""

    output: Path
    counts: dict[str, int]
    losses: list[tuple[int, float]]
    seconds: float


def require_train_extra() -> None:
    """EnvironmentProblem (exit 3) unless torch, transformers, trl, peft, accelerate and datasets import."""
    for module in ("torch", "transformers", "trl", "peft", "accelerate", "datasets"):
        try:
            __import__(module)
        except ImportError:
            raise EnvironmentProblem(f"prover train needs the train extra ({module} is missing)", fix=TRAIN_FIX) from None


def check_output(output: Path, overwrite: bool) -> None:
    """UsageError when `output` exists (unless overwrite) or its parent is not a directory."""
    if output.exists() and not overwrite:
        raise UsageError(f"--output {output} exists (pass --overwrite to replace it)")
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output} is not a directory")


def _weights_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".pth"))


def load_base(base: str, allow_download: bool) -> tuple[Any, Any, str]:
    """(model, tokenizer, local path) of the base. A `prover train` LoRA output as base is merged into its own
    base first, so that training continues from it (expert iteration's next round)."""
    import torch
    import transformers

    path = resolve_model(base, allow_download=allow_download)
    if not is_adapter_dir(path) and _weights_bytes(Path(path)) > CPU_TRAIN_LIMIT_BYTES and not torch.cuda.is_available():
        size = _weights_bytes(Path(path)) / 1024**3
        raise EnvironmentProblem(
            f"training {base} ({size:.1f} GB of weights) needs a GPU and torch sees none",
            fix="run on a machine with CUDA (nvidia-smi), or train a smaller model",
        )
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        if getattr(config, "is_encoder_decoder", False):
            raise UsageError(f"{base} is an encoder-decoder model: prover train trains causal language models")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        if is_adapter_dir(path):
            from peft import PeftModel

            model = transformers.AutoModelForCausalLM.from_pretrained(adapter_base(path), local_files_only=True)
            model = PeftModel.from_pretrained(model, path).merge_and_unload()
        else:
            model = transformers.AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load base model {base}: {exc}".splitlines()[0], fix=f"check {path}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise UsageError(f"the tokenizer of {base} has no end-of-sequence token: completions could not end")
    return model, tokenizer, path


def choose_format(settings: TrainSettings, base_path: str, tokenizer: Any = None) -> TrainFormat:
    """`--prompt-format`, else the format the base was trained for, else the one the base's name selects."""
    from prover.models.prompts import format_for_model

    name = settings.prompt_format or trained_prompt_format(base_path) or trained_prompt_format(base_path, "proof")
    return resolve_format(name, tokenizer) if name else format_for_model(settings.base)


def check_renderable(fmt: TrainFormat, tokenizer: Any, sample_prompt: str, base: str) -> None:
    """A chat format needs a tokenizer with a chat template (its turn markers are that template's tokens)."""
    if is_chat_format(fmt, sample_prompt) and not getattr(tokenizer, "chat_template", None):
        raise UsageError(
            f"prompt format '{fmt.name}' renders chat turns and the tokenizer of {base} has no chat template; "
            "pick a plain format with --prompt-format (see `prover models`)"
        )


def tokenize_sft(examples: Sequence[Example], tokenizer: Any) -> dict[str, list[list[int]]]:
    """`input_ids` and `completion_mask` columns: prompt tokens as the generator tokenises the prompt, then the
    completion's tokens and EOS (mask 1 on those only)."""
    input_ids: list[list[int]] = []
    masks: list[list[int]] = []
    for ex in examples:
        prompt = tokenizer(ex.prompt)["input_ids"]
        completion = tokenizer(ex.completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        input_ids.append(list(prompt) + list(completion))
        masks.append([0] * len(prompt) + [1] * len(completion))
    return {"input_ids": input_ids, "completion_mask": masks}


class _LossLog:
    """A TrainerCallback-shaped recorder: every logged loss, passed on to `on_log`."""

    def __init__(self, on_log: Callable[[int, float], None] | None) -> None:
        self.on_log = on_log

    def callback(self) -> Any:
        from transformers import TrainerCallback

        recorder = self

        class Callback(TrainerCallback):  # type: ignore[misc]  # transformers is untyped here
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                if recorder.on_log is not None and logs and "loss" in logs:
                    recorder.on_log(int(state.global_step), float(logs["loss"]))

        return Callback()


def _common_args(settings: TrainSettings, output_dir: Path) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "output_dir": str(output_dir),
        "max_steps": settings.max_steps,
        "num_train_epochs": settings.epochs,
        "learning_rate": settings.learning_rate(),
        "per_device_train_batch_size": settings.batch_size,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "disable_tqdm": not settings.progress,
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "use_cpu": not cuda,
        "max_length": settings.max_length,
        "dataset_num_proc": None,
    }


def _lora_config(settings: TrainSettings) -> Any:
    from peft import LoraConfig

    # all-linear: every linear layer but the output head (PEFT docs, LoraConfig target_modules).
    return LoraConfig(
        task_type="CAUSAL_LM", r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=0.0,
        target_modules="all-linear",
    )


def _run_sft(settings: TrainSettings, model: Any, tokenizer: Any, examples: Sequence[Example], work: Path,
             log: _LossLog) -> Any:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    dataset = Dataset.from_dict(tokenize_sft(examples, tokenizer))
    args = SFTConfig(**_common_args(settings, work), completion_only_loss=True)
    return SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
        peft_config=_lora_config(settings) if settings.lora else None, callbacks=[log.callback()],
    )


def _run_dpo(settings: TrainSettings, model: Any, tokenizer: Any, pairs: Sequence[Pair], work: Path,
             log: _LossLog) -> Any:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    dataset = Dataset.from_dict(
        {"prompt": [p.prompt for p in pairs], "chosen": [p.chosen for p in pairs], "rejected": [p.rejected for p in pairs]}
    )
    args = DPOConfig(**_common_args(settings, work), beta=settings.beta)
    # The reference is the base itself: with LoRA, TRL uses the model with the adapter disabled; without, a frozen
    # copy (TRL would otherwise reload it from config._name_or_path, which is not the base when it was merged here).
    ref = None if settings.lora else copy.deepcopy(model).eval()
    return DPOTrainer(
        model=model, ref_model=ref, args=args, train_dataset=dataset, processing_class=tokenizer,
        peft_config=_lora_config(settings) if settings.lora else None, callbacks=[log.callback()],
    )


def train(settings: TrainSettings, on_log: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train and write `settings.output` (atomically: a temporary sibling folder renamed at the end).

    Raises:
        UsageError: bad data folder, output exists without overwrite, a format the tokenizer cannot render.
        EnvironmentProblem: the train extra is missing, the base cannot be loaded offline, no GPU for a big model.
    """
    started = time.monotonic()
    require_train_extra()
    check_output(settings.output, settings.overwrite)
    if settings.merge and not settings.lora:
        raise UsageError("--merge merges a LoRA adapter: it needs --lora")
    check_data_dir(settings.data)
    import datasets
    import transformers

    if not settings.progress:
        datasets.disable_progress_bars()
        transformers.utils.logging.disable_progress_bar()
    transformers.set_seed(settings.seed)
    model, tokenizer, base_path = load_base(settings.base, settings.allow_download)
    fmt = choose_format(settings, base_path, tokenizer)
    counts: dict[str, int]
    if settings.method == "sft":
        examples = dedup(sft_examples(settings.data, fmt))
        check_renderable(fmt, tokenizer, examples[0].prompt, settings.base)
        counts = {"examples": len(examples)}
        for ex in examples:
            counts[f"examples_{ex.source}"] = counts.get(f"examples_{ex.source}", 0) + 1
    else:
        pairs = dpo_pairs(settings.data, fmt, settings.max_pairs_per_state)
        check_renderable(fmt, tokenizer, pairs[0].prompt, settings.base)
        counts = {"pairs": len(pairs), "states": len({p.prompt for p in pairs})}

    output = settings.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        log = _LossLog(on_log)
        work = tmp / "trainer"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers v5 renames TRL still passes
            if settings.method == "sft":
                trainer = _run_sft(settings, model, tokenizer, examples, work, log)
            else:
                trainer = _run_dpo(settings, model, tokenizer, pairs, work, log)
            _quiet(trainer)
            trainer.train()
        shutil.rmtree(work, ignore_errors=True)
        trained = trainer.model
        # A LoRA trained on top of a LoRA output (the base merged in memory above) cannot name that merged base on
        # disk: it is saved merged.
        merge = settings.lora and (settings.merge or is_adapter_dir(base_path))
        adapter = settings.lora and not merge
        if merge:
            trained = trained.merge_and_unload()
        trained.save_pretrained(tmp)
        if adapter:
            # resolve_model and AutoConfig look for config.json; the adapter names its base by local path.
            trained.get_base_model().config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        history = list(trainer.state.log_history)
        seconds = time.monotonic() - started
        info = {
            "method": settings.method,
            "base": settings.base,
            "base_path": base_path,
            "data": str(settings.data.resolve()),
            "prompt_format": fmt.name,
            "format_kind": format_kind(fmt),
            "adapter": adapter,
            "merged": merge,
            "counts": counts,
            "settings": _settings_summary(settings),
            "steps": int(trainer.state.global_step),
            "seconds": seconds,
            "versions": package_versions(),
            **settings.extra_info,
        }
        write_card(tmp, info, history)
        _replace_dir(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    from prover.training.card import losses

    return TrainResult(output=output, counts=counts, losses=losses(history), seconds=seconds)


def _quiet(trainer: Any) -> None:
    """Library code prints nothing: drop the Trainer's stdout printer (losses go to `on_log`)."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def _settings_summary(settings: TrainSettings) -> dict[str, Any]:
    keep = ("lora", "merge", "max_steps", "epochs", "batch_size", "seed", "lora_r", "lora_alpha", "max_length")
    summary = {k: v for k, v in asdict(settings).items() if k in keep}
    summary["lr"] = settings.learning_rate()
    if settings.method == "dpo":
        summary.update(beta=settings.beta, max_pairs_per_state=settings.max_pairs_per_state)
    return summary


def _replace_dir(tmp: Path, output: Path) -> None:
    """Move the finished `tmp` to `output`; an old `output` (only with --overwrite) is moved aside first."""
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        os.replace(output, old)
    os.replace(tmp, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def is_trained_dir(path: Path) -> bool:
    """Does `path` hold a finished `prover train` output?"""
    return (path / TRAINING_FILE).is_file()


def completion_perplexities(model: Any, tokenizer: Any, examples: Sequence[Example], batch_size: int = 16) -> list[float]:
    """Per-example perplexity of the completion given the prompt (exp of the mean token NLL), as tokenised for
    training. Used by the perplexity-band filter (BFS-Prover-V2) and to check that training lowers the loss."""
    import torch

    columns = tokenize_sft(examples, tokenizer)
    device = next(model.parameters()).device
    out: list[float] = []
    model.eval()
    for start in range(0, len(examples), batch_size):
        ids = columns["input_ids"][start : start + batch_size]
        masks = columns["completion_mask"][start : start + batch_size]
        width = max(len(x) for x in ids)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
        attention = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids], device=device)
        target_mask = torch.tensor([m + [0] * (width - len(m)) for m in masks], device=device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), input_ids[:, 1:], reduction="none")
        mask = target_mask[:, 1:].float()
        mean = (nll * mask).sum(1) / mask.sum(1).clamp(min=1)
        out.extend(math.exp(min(v, 50.0)) for v in mean.tolist())
    return out
