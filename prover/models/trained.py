"""Models written by `prover train`: the prompt format they were trained for, and LoRA adapters applied at load.

A trained model directory holds `prover_training.json` (written by `prover.training`). When it names a prompt
format, `--model DIR` uses it without `--prompt-format`. A directory that holds a PEFT adapter
(`adapter_config.json`, PEFT's own file name) next to the base's `config.json` is loaded as the base model named in
the adapter config with the adapter applied on top (PEFT `PeftModel.from_pretrained`,
https://huggingface.co/docs/peft — "Load adapters").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prover.errors import EnvironmentProblem

TRAINING_FILE = "prover_training.json"
ADAPTER_FILE = "adapter_config.json"


def training_info(model: str | Path | None) -> dict[str, Any]:
    """The `prover_training.json` of a trained model directory; {} for anything else (hub names, plain models)."""
    if not model:
        return {}
    path = Path(model).expanduser() / TRAINING_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def trained_prompt_format(model: str | Path | None, kind: str = "tactic") -> str | None:
    """The prompt format a trained model directory was trained for, if of that kind (`tactic` or `proof`)."""
    info = training_info(model)
    name = info.get("prompt_format")
    return name if isinstance(name, str) and name and info.get("format_kind", "tactic") == kind else None


def is_adapter_dir(path: str | Path) -> bool:
    """Does the directory hold a PEFT adapter (rather than full weights)?"""
    return (Path(path) / ADAPTER_FILE).is_file()


def adapter_base(path: str | Path) -> str:
    """The base model an adapter directory was trained on (its `base_model_name_or_path`)."""
    config = json.loads((Path(path) / ADAPTER_FILE).read_text(encoding="utf-8"))
    return str(config["base_model_name_or_path"])


def load_pretrained(cls: Any, path: str, **kwargs: Any) -> Any:
    """`cls.from_pretrained(path)`; for an adapter directory, the base with the adapter applied (not merged)."""
    if not is_adapter_dir(path):
        return cls.from_pretrained(path, **kwargs)
    try:
        from peft import PeftModel
    except ImportError:
        raise EnvironmentProblem(
            f"{path} holds a LoRA adapter and peft is not installed", fix="pip install 'prover[train]'"
        ) from None
    base = cls.from_pretrained(adapter_base(path), **kwargs)
    return PeftModel.from_pretrained(base, path, is_trainable=False)
