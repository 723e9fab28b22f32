"""`prover bench ls | run | report`: benchmark sweeps in lm-evaluation-harness style."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from prover.cli.app import bench_app
from prover.cli.options import (
    AlphaOpt,
    AttemptsOpt,
    BudgetOpt,
    CommandTimeoutOpt,
    GeneratorOpt,
    LeanProject,
    MaxTokensOpt,
    ModelArgsOpt,
    ModelOpt,
    PlannerArgsOpt,
    PlannerGeneratorOpt,
    PlannerOpt,
    PlannerPromptFormatOpt,
    PresetOpt,
    PromptFormatOpt,
    ProofGeneratorOpt,
    ProofMaxTokensOpt,
    ProofModelArgsOpt,
    ProofModelOpt,
    ProofPromptFormatOpt,
    ProofSamplesOpt,
    RepairRoundsOpt,
    ReplCmd,
    SketchesOpt,
    SplitGoalsOpt,
    TemperatureOpt,
    TopPOpt,
    VerboseOpt,
    VerifyTimeoutOpt,
    WholeOnlyOpt,
    WidthOpt,
    agent_config,
    lean_config,
    output_dir,
    planner_config,
    proof_config,
    search_and_model,
    setup_logging,
)
from prover.errors import UsageError


@bench_app.command("ls")
def bench_ls() -> None:
    """List the benchmark tasks."""
    from benchmarks.tasks import list_tasks

    for task in list_tasks():
        wrong = f", {len(task.known_wrong)} known wrong" if task.known_wrong else ""
        print(f"{task.name:24s} v{task.version:5s} {task.size:4d} problems{wrong}  {task.description}")


@bench_app.command("run")
def bench_run(
    tasks: Annotated[str, typer.Option("--tasks", help="Comma-separated task names (see `prover bench ls`).")],
    model: ModelOpt = None,
    generator: GeneratorOpt = None,
    prompt_format: PromptFormatOpt = None,
    model_args: ModelArgsOpt = None,
    planner: PlannerOpt = None,
    planner_generator: PlannerGeneratorOpt = None,
    planner_args: PlannerArgsOpt = None,
    planner_prompt_format: PlannerPromptFormatOpt = None,
    sketches: SketchesOpt = 4,
    split_goals: SplitGoalsOpt = False,
    proof_model: ProofModelOpt = None,
    proof_generator: ProofGeneratorOpt = "hf",
    proof_model_args: ProofModelArgsOpt = None,
    proof_prompt_format: ProofPromptFormatOpt = None,
    proof_samples: ProofSamplesOpt = 8,
    repair_rounds: RepairRoundsOpt = None,
    proof_max_tokens: ProofMaxTokensOpt = None,
    whole_only: WholeOnlyOpt = False,
    limit: Annotated[str | None, typer.Option("--limit", help="Problems per task: a count, or a fraction (for testing only).")] = None,
    output_path: Annotated[Path, typer.Option("--output-path", "-o", help="Runs go to OUTPUT_PATH/<model>/.")] = Path("runs"),
    log_samples: Annotated[bool, typer.Option("--log-samples", help="Keep proof steps and rejected tactics in the samples (for datagen).")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the latest run of this model in OUTPUT_PATH.")] = False,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="With --resume: prove again the problems recorded as `error`.")] = False,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Problems proved at once (each with a Lean worker).", min=1)] = 1,
    preset: PresetOpt = None,
    budget: BudgetOpt = None,
    total_budget: Annotated[str | None, typer.Option("--total-budget", help="Competition mode: one budget for all (e.g. 4.5h).")] = None,
    width: WidthOpt = None,
    alpha: AlphaOpt = None,
    attempts: AttemptsOpt = None,
    tactic_timeout: Annotated[float, typer.Option("--tactic-timeout", min=0.1)] = 10.0,
    temperature: TemperatureOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokensOpt = None,
    data: Annotated[Path | None, typer.Option("--data", help="Folder with the statement data (default: $PROVER_DATA, ../shared/benchmarks, or a pinned clone).")] = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never clone statement data.")] = False,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Run problems as Ray tasks: a cluster address (host:port, `auto`), or `local` for a new local cluster.")] = None,
    command_timeout: CommandTimeoutOpt = 300.0,
    verify_timeout: VerifyTimeoutOpt = 300.0,
    repl_cmd: ReplCmd = None,
    lean_project: LeanProject = None,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    cache: Annotated[Path | None, typer.Option("--cache")] = None,
    allow_download: Annotated[bool, typer.Option("--allow-download", help="Let the model backend fetch weights.")] = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Sweep benchmark tasks; writes results_<time>.json and samples_<task>_<time>.jsonl (lm-eval layout)."""
    from prover.bench import BenchSettings, parse_duration, parse_limit, run_bench, summary_lines
    from prover.lean.project import read_versions

    setup_logging(verbose)
    cpus = os.cpu_count() or 1
    if ray_address is None and workers > cpus:
        # Each worker runs its own Lean process (several GB with Mathlib): more than one per CPU only thrashes.
        print(f"prover: warning: --workers {workers} is more than this machine's {cpus} CPUs", file=sys.stderr)
    lean = lean_config(repl_cmd, lean_project, workers=workers, tactic_timeout=tactic_timeout,
        command_timeout=command_timeout, verify_timeout=verify_timeout)
    search, model, prompt_format = search_and_model(
        preset, model, prompt_format, budget_s=budget, width=width, alpha=alpha, attempts=attempts, seed=seed,
        temperature=temperature, top_p=top_p, max_tokens=max_tokens, tactic_timeout=tactic_timeout,
    )
    settings = BenchSettings(
        tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
        agent=agent_config(
            lean, search, generator, model, prompt_format, model_args, allow_download,
            no_cache=no_cache, cache=cache, preset=preset,
            planner=planner_config(planner, planner_generator, planner_args, planner_prompt_format, sketches),
            split_goals=split_goals,
            proof=proof_config(
                proof_model, proof_generator, proof_model_args, proof_prompt_format, proof_samples, repair_rounds,
                proof_max_tokens, whole_only, allow_download,
            ),
        ),
        output_path=output_path,
        workers=workers,
        limit=parse_limit(limit),
        data=data,
        resume=resume,
        retry_errors=retry_errors,
        log_samples=log_samples,
        total_budget_s=parse_duration(total_budget) if total_budget is not None else None,
        ray_address=ray_address,
        download=not no_download,
    )
    output_dir(output_path, "--output-path")
    bar = _SweepBar()
    try:
        records, summary = asyncio.run(
            run_bench(settings, versions=read_versions(lean.project_dir).as_dict(), on_progress=bar)
        )
    finally:
        bar.close()
    from benchmarks.records import load_run
    from benchmarks.report import markdown_table

    results, samples = load_run(records.run_dir, records.stamp)
    samples = {task: records.samples(task) for task in samples}  # the lines of the problems run now, as they are now
    for line in summary_lines(summary):
        print(line, file=sys.stderr)
    print(markdown_table(results, samples))
    print(f"records: {records.run_dir}", file=sys.stderr)


class _SweepBar:
    """A tqdm bar on a terminal (solved / done / total, elapsed, ETA); plain lines otherwise."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.last = 0.0

    def __call__(self, progress: Any) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=progress.total, initial=progress.done, unit="thm", file=sys.stderr)
            self.bar.n = progress.done
            self.bar.set_postfix_str(f"solved {progress.solved}", refresh=True)
            return
        now = time.monotonic()
        if progress.last is None or now - self.last >= 10.0 or progress.done == progress.total:
            self.last = now
            eta = f", eta {progress.eta_s:.0f}s" if progress.eta_s is not None else ""
            print(f"solved {progress.solved} / done {progress.done} / {progress.total}, "
                  f"{progress.elapsed_s:.0f}s{eta}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@bench_app.command("report")
def bench_report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (OUTPUT_PATH/<model>/).")],
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default RUN_DIR/report/).")] = None,
) -> None:
    """Print the table again and write a cactus plot, an outcome chart and an HTML page."""
    from benchmarks.report import write_report

    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a directory")
    paths = write_report(run_dir, out)
    print(paths.markdown.read_text(encoding="utf-8"))
    print(f"report: {paths.html}", file=sys.stderr)
