"""`prover prove`: one theorem from the command line."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from prover.cli.app import EXIT_ENVIRONMENT, EXIT_NOT_PROVED, EXIT_PROVED, app
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
    planner_config,
    proof_config,
    search_and_model,
    setup_logging,
)
from prover.config import DEFAULT_HEADER
from prover.errors import UsageError


def _read_statement(statement: str | None, file: Path | None, theorem: str | None, header: str | None) -> tuple[str, str]:
    """(statement text, header) from the prove command's inputs."""
    from prover.lean.statement import split_file

    if file is not None:
        if statement is not None:
            raise UsageError("give either a statement or --file, not both")
        if theorem is None:
            raise UsageError("--file needs --theorem NAME")
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from None
        file_header, stmt = split_file(text, theorem)
        header = header if header is not None else file_header
        _require_utf8(header, "--header")
        return stmt, header
    if theorem is not None:
        raise UsageError("--theorem needs --file")
    if statement is None or statement == "-":
        if sys.stdin is None or (statement is None and sys.stdin.isatty()):
            raise UsageError("no statement: pass it as an argument, with --file F --theorem NAME, or on stdin")
        try:
            statement = sys.stdin.read()
        except UnicodeDecodeError:
            raise UsageError("the statement on stdin is not valid UTF-8") from None
    if not statement.strip():
        raise UsageError("the statement is empty")
    header = header if header is not None else DEFAULT_HEADER
    _require_utf8(statement, "the statement")
    _require_utf8(header, "--header")
    return statement, header


def _require_utf8(text: str, what: str) -> None:
    # Python decodes undecodable argv bytes to lone surrogates, which cannot be sent to Lean as JSON text.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8") from None


class _ProgressLine:
    """One self-overwriting line on a terminal; on a pipe, a line every few seconds."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = time.monotonic() - (1.0 if self.tty else 0.0)
        self.drawn = False

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if now - self.last < (0.25 if self.tty else 10.0):
            return
        self.last, self.drawn = now, True
        text = (
            f"elapsed {progress.elapsed_s:6.1f}s  expansions {progress.expansions:6d}  "
            f"nodes {progress.nodes:6d}  best depth {progress.best_depth:3d}"
        )
        sys.stderr.write(("\r" + text) if self.tty else (text + "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            sys.stderr.write("\n")


@app.command()
def prove(
    statement: Annotated[str | None, typer.Argument(help="`theorem name … := by sorry`, a bare proposition, or `-` for stdin.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A .lean file holding the theorem.")] = None,
    theorem: Annotated[str | None, typer.Option("--theorem", "-t", help="The theorem's name in --file.")] = None,
    header: Annotated[str | None, typer.Option("--header", help="Imports/options before the statement (default: the MiniF2F header, or the file's own).")] = None,
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
    preset: PresetOpt = None,
    budget: BudgetOpt = None,
    width: WidthOpt = None,
    alpha: AlphaOpt = None,
    attempts: AttemptsOpt = None,
    proof_model: ProofModelOpt = None,
    proof_generator: ProofGeneratorOpt = "hf",
    proof_model_args: ProofModelArgsOpt = None,
    proof_prompt_format: ProofPromptFormatOpt = None,
    proof_samples: ProofSamplesOpt = 8,
    repair_rounds: RepairRoundsOpt = None,
    proof_max_tokens: ProofMaxTokensOpt = None,
    whole_only: WholeOnlyOpt = False,
    workers: Annotated[int, typer.Option("--workers", help="Lean REPL workers.", min=1)] = 1,
    tactic_timeout: Annotated[float, typer.Option("--tactic-timeout", help="Seconds per tactic before the REPL is restarted.", min=0.1)] = 10.0,
    temperature: TemperatureOpt = None,
    top_p: TopPOpt = None,
    max_tokens: MaxTokensOpt = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    command_timeout: CommandTimeoutOpt = 300.0,
    verify_timeout: VerifyTimeoutOpt = 300.0,
    repl_cmd: ReplCmd = None,
    lean_project: LeanProject = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object (status, proof, statement, stats, versions).")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the proof cache.")] = False,
    cache: Annotated[Path | None, typer.Option("--cache", help="Proof cache file (default: ~/.cache/prover/proofs.sqlite).")] = None,
    trust_cache: Annotated[bool, typer.Option("--trust-cache", help="Return cache hits without re-verifying them.")] = False,
    annotate_goals: Annotated[bool, typer.Option("--annotate", help="Follow each tactic with the goals after it, as comments.")] = False,
    allow_download: Annotated[bool, typer.Option("--allow-download", help="Let the model backend fetch weights from the network.")] = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Prove one theorem. Exit 0 proved, 1 not proved, 2 bad input, 3 Lean/REPL/model missing."""
    from dataclasses import asdict

    from prover.agent import prove as run_prove
    from prover.results import ProofStatus

    setup_logging(verbose)
    text, head = _read_statement(statement, file, theorem, header)
    search, model, prompt_format = search_and_model(
        preset, model, prompt_format, budget_s=budget, width=width, alpha=alpha, attempts=attempts, seed=seed,
        temperature=temperature, top_p=top_p, max_tokens=max_tokens, tactic_timeout=tactic_timeout,
    )
    config = agent_config(
        lean_config(repl_cmd, lean_project, workers=workers, tactic_timeout=tactic_timeout,
        command_timeout=command_timeout, verify_timeout=verify_timeout),
        search,
        generator, model, prompt_format, model_args, allow_download,
        no_cache=no_cache, cache=cache, trust_cache=trust_cache, preset=preset,
        planner=planner_config(planner, planner_generator, planner_args, planner_prompt_format, sketches),
        split_goals=split_goals,
        proof=proof_config(
            proof_model, proof_generator, proof_model_args, proof_prompt_format, proof_samples, repair_rounds,
            proof_max_tokens, whole_only, allow_download,
        ),
    )
    progress = _ProgressLine()
    try:
        result = asyncio.run(run_prove(text, config, header=head, on_progress=None if json_out else progress))
    finally:
        progress.close()
    if json_out:
        print(json.dumps({**result.to_json(), "preset": preset}, ensure_ascii=False))
    elif result.proved:
        if annotate_goals and result.steps:
            from prover.datagen import annotate

            body = annotate([asdict(s) for s in result.steps])
        else:
            body = list(result.proof)
        from prover.lean.statement import Statement

        print(Statement.parse(text).with_proof(body))
    else:
        reason = result.error or result.stop_reason
        print(f"not proved: {result.status.value} ({reason}) after {result.stats.seconds_total:.1f}s, "
              f"{result.stats.expansions} expansions", file=sys.stderr)
        for limitation in result.limitations:  # the REPL, not the search, may be why (repl #66)
            print(f"limitation of the Lean environment: {limitation}", file=sys.stderr)
    if result.status is ProofStatus.ERROR:
        raise typer.Exit(EXIT_ENVIRONMENT)
    raise typer.Exit(EXIT_PROVED if result.proved else EXIT_NOT_PROVED)
