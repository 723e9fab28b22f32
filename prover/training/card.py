"""What a trained model directory says about itself: `prover_training.json`, a model card and a loss curve."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prover.models.trained import TRAINING_FILE

logger = logging.getLogger(__name__)

CARD_FILE = "README.md"
LOSS_PNG = "loss_curve.png"
LOG_FILE = "train_log.jsonl"
_PACKAGES = ("prover", "torch", "transformers", "trl", "peft", "accelerate", "datasets")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages training depends on ("" when one is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = ""
    return out


def losses(log_history: Sequence[Mapping[str, Any]]) -> list[tuple[int, float]]:
    """(step, training loss) from a Trainer's log history."""
    return [(int(e["step"]), float(e["loss"])) for e in log_history if "loss" in e and "step" in e]


def write_loss_png(path: Path, curve: Sequence[tuple[int, float]], title: str) -> bool:
    """The loss curve as a PNG (matplotlib, headless); False when matplotlib is missing or there is no curve."""
    if not curve:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no loss curve PNG (pip install 'prover[train]')")
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in curve], [v for _, v in curve], marker="o" if len(curve) < 30 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_card(out: Path, info: Mapping[str, Any], log_history: Sequence[Mapping[str, Any]]) -> None:
    """Write `prover_training.json`, `train_log.jsonl`, `loss_curve.png` and the model card `README.md` into `out`."""
    curve = losses(log_history)
    (out / TRAINING_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with (out / LOG_FILE).open("w", encoding="utf-8") as fh:
        for entry in log_history:
            fh.write(json.dumps(dict(entry), default=str) + "\n")
    has_png = write_loss_png(out / LOSS_PNG, curve, f"{info['method']} on {Path(str(info['data'])).name}")
    settings = info.get("settings", {})
    counts = info.get("counts", {})
    lines = [
        "---",
        f"base_model: {info['base']}",
        f"library_name: {'peft' if info.get('adapter') else 'transformers'}",
        "tags: [lean4, theorem-proving, prover, trl, " + str(info["method"]) + "]",
        "---",
        "",
        f"# {out.name}",
        "",
        f"`prover train {info['method']}` of `{info['base']}` on `{info['data']}` "
        f"({'LoRA adapter' if info.get('adapter') else 'full weights'}).",
        "",
        f"Trained for the prompt format **`{info['prompt_format']}`** ({info['format_kind']} format): "
        f"`prover prove --model {out.name}` and `prover bench run --model {out.name}` pick it up without "
        "`--prompt-format`.",
        "",
        "## Data",
        "",
        *[f"- {k}: {v}" for k, v in sorted(counts.items())],
        "",
        "## Settings",
        "",
        *[f"- {k}: {v}" for k, v in sorted(settings.items())],
        "",
        "## Result",
        "",
        f"- steps: {info.get('steps')}",
        f"- first / last training loss: {curve[0][1]:.4f} / {curve[-1][1]:.4f}" if curve else "- no loss logged",
        f"- seconds: {info.get('seconds', 0):.1f}",
        "",
        f"![loss curve]({LOSS_PNG})" if has_png else "",
        "",
        "## Versions",
        "",
        *[f"- {k}: {v or '(not installed)'}" for k, v in sorted(info.get("versions", {}).items())],
        "",
    ]
    (out / CARD_FILE).write_text("\n".join(lines), encoding="utf-8")
