"""`prover train sft | dpo` and `prover iterate`: training on the project's own search data (the `train` extra)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from prover.cli.app import app
from prover.cli.options import (
    GeneratorOpt,
    LeanProject,
    ModelArgsOpt,
    PromptFormatOpt,
    ReplCmd,
    VerboseOpt,
    agent_config,
    lean_config,
    setup_logging,
)
from prover.errors import UsageError
from search import SearchConfig

train_app = typer.Typer(help="Fine-tune a model on `prover datagen` data (TRL + PEFT; the `train` extra).", no_args_is_help=True)
app.add_typer(train_app, name="train")

BaseOpt = Annotated[str, typer.Option("--model", "-m", help="Base model: a local directory or a hub name in the local cache.")]
DataOpt = Annotated[Path, typer.Option("--data", help="A `prover datagen` output folder.")]
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="Where the trained model goes (usable as --model OUT).")]
LoraOpt = Annotated[bool, typer.Option("--lora/--full", help="Train a LoRA adapter (PEFT) instead of every weight.")]
MergeOpt = Annotated[bool, typer.Option("--merge", help="With --lora: save merged weights (for vllm) instead of the adapter.")]
MaxStepsOpt = Annotated[int, typer.Option("--max-steps", help="Stop after this many optimizer steps (-1: by --epochs).")]
EpochsOpt = Annotated[float, typer.Option("--epochs", min=0.0)]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate (default: 2e-4 LoRA / 1e-5 full for SFT, 40x lower for DPO).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1)]
SeedOpt = Annotated[int, typer.Option("--seed")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --output folder.")]
LoraROpt = Annotated[int, typer.Option("--lora-r", min=1, help="LoRA rank.")]
MaxLenOpt = Annotated[int, typer.Option("--max-length", min=8, help="Longest tokenised example.")]
BetaOpt = Annotated[float, typer.Option("--beta", help="DPO: strength of the pull towards the base.")]


def _settings(method: str, **kw: Any) -> Any:
    from prover.training.trainer import TrainSettings

    return TrainSettings(method=method, progress=sys.stderr.isatty(), **kw)  # type: ignore[arg-type]


def _run_train(settings: Any) -> None:
    from prover.training.trainer import train

    last = [0.0]

    def on_log(step: int, loss: float) -> None:
        # The Trainer draws its own bar on a terminal; elsewhere a line every 10 s.
        now = time.monotonic()
        if not settings.progress and now - last[0] >= 10.0:
            last[0] = now
            print(f"step {step}: loss {loss:.4f}", file=sys.stderr)

    result = train(settings, on_log=on_log)
    first, final = (result.losses[0][1], result.losses[-1][1]) if result.losses else (None, None)
    print(json.dumps({"output": str(result.output), "counts": result.counts, "steps": len(result.losses),
                      "loss_first": first, "loss_last": final, "seconds": round(result.seconds, 1)}))


@train_app.command("sft")
def train_sft(
    model: BaseOpt, data: DataOpt, output: OutputOpt, prompt_format: PromptFormatOpt = None, lora: LoraOpt = False,
    merge: MergeOpt = False, max_steps: MaxStepsOpt = -1, epochs: EpochsOpt = 1.0, lr: LrOpt = None,
    batch_size: BatchOpt = 8, seed: SeedOpt = 0, overwrite: OverwriteOpt = False, lora_r: LoraROpt = 16,
    max_length: MaxLenOpt = 2048, verbose: VerboseOpt = 0,
) -> None:
    """Supervised fine-tuning: state → tactic (tactic formats) or statement → proof (whole-proof formats)."""
    setup_logging(verbose)
    _run_train(_settings("sft", base=model, data=data, output=output, prompt_format=prompt_format, lora=lora,
                         merge=merge, max_steps=max_steps, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         overwrite=overwrite, lora_r=lora_r, lora_alpha=2 * lora_r, max_length=max_length))


@train_app.command("dpo")
def train_dpo(
    model: BaseOpt, data: DataOpt, output: OutputOpt, prompt_format: PromptFormatOpt = None, lora: LoraOpt = False,
    merge: MergeOpt = False, max_steps: MaxStepsOpt = -1, epochs: EpochsOpt = 1.0, lr: LrOpt = None,
    batch_size: BatchOpt = 8, seed: SeedOpt = 0, overwrite: OverwriteOpt = False, lora_r: LoraROpt = 16,
    max_length: MaxLenOpt = 2048, beta: BetaOpt = 0.1,
    max_pairs_per_state: Annotated[int, typer.Option("--max-pairs-per-state", min=1)] = 8,
    verbose: VerboseOpt = 0,
) -> None:
    """Preference tuning (BFS-Prover): chosen = the proved-path tactic, rejected = a sibling Lean rejected."""
    setup_logging(verbose)
    _run_train(_settings("dpo", base=model, data=data, output=output, prompt_format=prompt_format, lora=lora,
                         merge=merge, max_steps=max_steps, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         overwrite=overwrite, lora_r=lora_r, lora_alpha=2 * lora_r, max_length=max_length, beta=beta,
                         max_pairs_per_state=max_pairs_per_state))


def _parse_band(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"--ppl-band expects LO,HI (perplexities), got {text!r}") from None
    if not 0 <= lo < hi:
        raise UsageError(f"--ppl-band needs 0 <= LO < HI, got {text!r}")
    return lo, hi


@app.command()
def iterate(
    tasks: Annotated[str, typer.Option("--tasks", help="The training pool: comma-separated task names (`prover bench ls`).")],
    model: BaseOpt,
    run_dir: Annotated[Path, typer.Option("--run-dir", help="Where every round's records, data, model and scores go.")],
    rounds: Annotated[int, typer.Option("--rounds", min=1)] = 2,
    method: Annotated[str, typer.Option("--method", help="sft or dpo.")] = "sft",
    seed_runs: Annotated[list[Path] | None, typer.Option("--seed-runs", help="Earlier sweep runs whose data every round also trains on (repeatable).")] = None,
    easy_expansions: Annotated[int, typer.Option("--easy-expansions", help="Problems proved within this many expansions give no data (-1: keep all).")] = 1,
    ppl_band: Annotated[str | None, typer.Option("--ppl-band", help="Keep steps whose completion perplexity is within LO,HI.")] = None,
    final_eval: Annotated[bool, typer.Option("--final-eval/--no-final-eval", help="Sweep the pool with the last model.")] = True,
    generator: GeneratorOpt = None,
    prompt_format: PromptFormatOpt = None,
    model_args: ModelArgsOpt = None,
    limit: Annotated[str | None, typer.Option("--limit", help="Problems per task: a count or a fraction.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1)] = 1,
    budget: Annotated[float, typer.Option("--budget", help="Seconds per problem.", min=0.1)] = 600.0,
    width: Annotated[int, typer.Option("--width", min=1)] = 8,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.5,
    tactic_timeout: Annotated[float, typer.Option("--tactic-timeout", min=0.1)] = 10.0,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 1.1,
    data: Annotated[Path | None, typer.Option("--data", help="Folder with the statement data.")] = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never clone statement data.")] = False,
    repl_cmd: ReplCmd = None,
    lean_project: LeanProject = None,
    lora: LoraOpt = False, merge: MergeOpt = False, max_steps: MaxStepsOpt = -1, epochs: EpochsOpt = 1.0,
    lr: LrOpt = None, batch_size: BatchOpt = 8, seed: SeedOpt = 0, lora_r: LoraROpt = 16,
    max_length: MaxLenOpt = 2048,
    verbose: VerboseOpt = 0,
) -> None:
    """Expert iteration: sweep → datagen → filter → train, ROUNDS times; resumable; prints pass rates per round."""
    from prover.bench import BenchSettings, parse_limit
    from prover.lean.project import read_versions
    from prover.training.iterate import IterateSettings, run_iterate, summary_table
    from prover.training.trainer import require_train_extra

    setup_logging(verbose)
    if method not in ("sft", "dpo"):
        raise UsageError(f"--method is sft or dpo, got {method!r}")
    require_train_extra()
    lean = lean_config(repl_cmd, lean_project, workers=workers, tactic_timeout=tactic_timeout)
    bench = BenchSettings(
        tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
        agent=agent_config(
            lean,
            SearchConfig(budget_s=budget, width=width, alpha=alpha, seed=seed, temperature=temperature,
                         tactic_timeout=tactic_timeout),
            generator or "hf", model, prompt_format, model_args, False, no_cache=True, cache=None,
        ),
        output_path=run_dir, workers=workers, limit=parse_limit(limit), data=data, log_samples=True,
        download=not no_download,
    )
    settings = IterateSettings(
        run_dir=run_dir, base=model, rounds=rounds, bench=bench,
        train=_settings(method, base=model, data=run_dir, output=run_dir, prompt_format=prompt_format, lora=lora,
                        merge=merge, max_steps=max_steps, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                        lora_r=lora_r, lora_alpha=2 * lora_r, max_length=max_length),
        seed_runs=tuple(seed_runs or ()), easy_expansions=None if easy_expansions < 0 else easy_expansions,
        ppl_band=_parse_band(ppl_band), final_eval=final_eval, versions=read_versions(lean.project_dir).as_dict(),
    )

    def on_step(round_name: str, step: str) -> None:
        print(f"{round_name}: {step} done", file=sys.stderr)

    rows = run_iterate(settings, on_step=on_step)
    print(summary_table(rows))
    print(f"run: {run_dir}", file=sys.stderr)
