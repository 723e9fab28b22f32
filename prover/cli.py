"""The `prover` command line: prove | bench | datagen | cache | doctor | models.

Exit codes (DESIGN contract 5): 0 proved (or the command succeeded), 1 not proved within the budget, 2 bad input or
usage (one line, no traceback), 3 environment problem (Lean, REPL or model missing; the line says what to run).
This is the only module that configures logging and draws progress.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from prover.config import DEFAULT_HEADER, LeanConfig, default_project_dir
from prover.errors import EnvironmentProblem, ProverError, StatementError, UsageError
from search import SearchConfig

EXIT_PROVED, EXIT_NOT_PROVED, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3

app = typer.Typer(
    name="prover",
    help="A Lean 4 theorem-proving agent: best-first search over Lean REPL states, every proof re-verified.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
bench_app = typer.Typer(help="Benchmark sweeps (MiniF2F, IMO) in lm-evaluation-harness style.", no_args_is_help=True)
cache_app = typer.Typer(help="The verified-proof cache.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(cache_app, name="cache")



def default_cache_path() -> Path:
    """`$PROVER_CACHE`, else `$XDG_CACHE_HOME/prover/proofs.sqlite` (default `~/.cache/prover/proofs.sqlite`)."""
    env = os.environ.get("PROVER_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "prover" / "proofs.sqlite"


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# Options shared by the commands that start Lean or a model.
ReplCmd = Annotated[
    str | None,
    typer.Option("--repl-cmd", help="Program that speaks the REPL protocol (argv string, no shell). Default: the project's REPL under `lake env`."),
]
LeanProject = Annotated[
    Path | None, typer.Option("--lean-project", help="Lean project directory (lean-toolchain, lakefile, .lake/).")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model name or local path (or a generator name such as `portfolio`).")
]
GeneratorOpt = Annotated[
    str | None, typer.Option("--generator", "-g", help="Tactic generator backend: portfolio, hf, vllm, openai (see `prover models`).")
]
PromptFormatOpt = Annotated[str | None, typer.Option("--prompt-format", help="Prompt adapter (default: chosen by model name).")]
ModelArgsOpt = Annotated[
    list[str] | None, typer.Option("--model-args", help="Backend option key=value (repeatable, or comma-separated).")
]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging on stderr (-vv for debug).")]


def parse_key_values(items: list[str] | None) -> dict[str, str]:
    """`["a=1,b=2", "c=3"]` → `{"a": "1", "b": "2", "c": "3"}`; a malformed item is a usage error."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in item.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--model-args expects key=value, got {part!r}")
            out[key.strip()] = value.strip()
    return out


def lean_config(repl_cmd: str | None, lean_project: Path | None, **changes: Any) -> LeanConfig:
    """A LeanConfig from the CLI's options; a missing project directory is a usage error."""
    project = lean_project.expanduser().resolve() if lean_project is not None else default_project_dir()
    if lean_project is not None and not project.is_dir():
        raise UsageError(f"--lean-project {lean_project} is not a directory")
    config = LeanConfig(project_dir=project, repl_command=repl_cmd, **{k: v for k, v in changes.items() if v is not None})
    config.repl_argv()  # a malformed --repl-cmd is bad input, refused before anything starts
    return config


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
    budget: Annotated[float, typer.Option("--budget", help="Wall-clock seconds, everything included.", min=0.1)] = 600.0,
    width: Annotated[int, typer.Option("--width", help="Tactics sampled per expansion.", min=1)] = 8,
    alpha: Annotated[float, typer.Option("--alpha", help="Depth normalisation: priority = Σ log p / depth^α.")] = 0.5,
    attempts: Annotated[int, typer.Option("--attempts", help="Split the budget into this many attempts (seeds / α).", min=1)] = 1,
    workers: Annotated[int, typer.Option("--workers", help="Lean REPL workers.", min=1)] = 1,
    tactic_timeout: Annotated[float, typer.Option("--tactic-timeout", help="Seconds per tactic before the REPL is restarted.", min=0.1)] = 10.0,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature.", min=0.0)] = 1.1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
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

    _setup_logging(verbose)
    text, head = _read_statement(statement, file, theorem, header)
    config = _agent_config(
        lean_config(repl_cmd, lean_project, workers=workers, tactic_timeout=tactic_timeout),
        SearchConfig(
            budget_s=budget, width=width, alpha=alpha, attempts=attempts, seed=seed,
            temperature=temperature, tactic_timeout=tactic_timeout,
        ),
        generator, model, prompt_format, model_args, allow_download,
        no_cache=no_cache, cache=cache, trust_cache=trust_cache,
    )
    progress = _ProgressLine()
    try:
        result = asyncio.run(run_prove(text, config, header=head, on_progress=None if json_out else progress))
    finally:
        progress.close()
    if json_out:
        print(json.dumps(result.to_json(), ensure_ascii=False))
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
    if result.status is ProofStatus.ERROR:
        raise typer.Exit(EXIT_ENVIRONMENT)
    raise typer.Exit(EXIT_PROVED if result.proved else EXIT_NOT_PROVED)


def _agent_config(
    lean: LeanConfig,
    search: SearchConfig,
    generator: str | None,
    model: str | None,
    prompt_format: str | None,
    model_args: list[str] | None,
    allow_download: bool,
    *,
    no_cache: bool,
    cache: Path | None,
    trust_cache: bool = False,
) -> Any:
    """The AgentConfig `prove` and `bench run` build from their shared options."""
    from prover.agent import AgentConfig, ModelConfig

    return AgentConfig(
        lean=lean,
        search=search,
        model=ModelConfig(generator, model, prompt_format, parse_key_values(model_args), allow_download),
        cache_path=None if no_cache else (cache or default_cache_path()),
        trust_cache=trust_cache,
    )


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
    limit: Annotated[str | None, typer.Option("--limit", help="Problems per task: a count, or a fraction (for testing only).")] = None,
    output_path: Annotated[Path, typer.Option("--output-path", "-o", help="Runs go to OUTPUT_PATH/<model>/.")] = Path("runs"),
    log_samples: Annotated[bool, typer.Option("--log-samples", help="Keep proof steps and rejected tactics in the samples (for datagen).")] = False,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the latest run of this model in OUTPUT_PATH.")] = False,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="With --resume: prove again the problems recorded as `error`.")] = False,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Problems proved at once (each with a Lean worker).", min=1)] = 1,
    budget: Annotated[float, typer.Option("--budget", help="Seconds per problem, everything included.", min=0.1)] = 600.0,
    total_budget: Annotated[str | None, typer.Option("--total-budget", help="Competition mode: one budget for all (e.g. 4.5h).")] = None,
    width: Annotated[int, typer.Option("--width", min=1)] = 8,
    alpha: Annotated[float, typer.Option("--alpha")] = 0.5,
    attempts: Annotated[int, typer.Option("--attempts", min=1)] = 1,
    tactic_timeout: Annotated[float, typer.Option("--tactic-timeout", min=0.1)] = 10.0,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 1.1,
    data: Annotated[Path | None, typer.Option("--data", help="Folder with the statement data (default: $PROVER_DATA, ../shared/benchmarks, or a pinned clone).")] = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never clone statement data.")] = False,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="Run problems as Ray tasks: a cluster address (host:port, `auto`), or `local` for a new local cluster.")] = None,
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

    _setup_logging(verbose)
    cpus = os.cpu_count() or 1
    if ray_address is None and workers > cpus:
        # Each worker runs its own Lean process (several GB with Mathlib): more than one per CPU only thrashes.
        print(f"prover: warning: --workers {workers} is more than this machine's {cpus} CPUs", file=sys.stderr)
    lean = lean_config(repl_cmd, lean_project, workers=workers, tactic_timeout=tactic_timeout)
    settings = BenchSettings(
        tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
        agent=_agent_config(
            lean,
            SearchConfig(
                budget_s=budget, width=width, alpha=alpha, attempts=attempts, seed=seed,
                temperature=temperature, tactic_timeout=tactic_timeout,
            ),
            generator, model, prompt_format, model_args, allow_download,
            no_cache=no_cache, cache=cache,
        ),
        output_path=output_path,
        workers=workers,
        limit=parse_limit(limit),
        data=data,
        resume=resume,
        retry_errors=retry_errors,
        log_samples=log_samples,
        total_budget_s=parse_duration(total_budget) if total_budget else None,
        ray_address=ray_address,
        download=not no_download,
    )
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


@app.command()
def datagen(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (or folders holding them).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the JSONL files.")] = Path("data"),
    include_known_wrong: Annotated[bool, typer.Option("--include-known-wrong")] = False,
) -> None:
    """Write training data from runs: state-tactic pairs, whole proofs, annotated proofs, negatives."""
    from prover.datagen import export_training_data

    summary = export_training_data(runs, output, include_known_wrong=include_known_wrong)
    print(json.dumps({k: v for k, v in vars(summary).items() if k != "runs"}, default=str))


def _open_cache(path: Path | None, must_exist: bool = True) -> Any:
    from search.cache import ProofCache

    target = path or default_cache_path()
    if must_exist and not target.exists():
        raise UsageError(f"no proof cache at {target}")
    return ProofCache.open(target)


CacheOpt = Annotated[Path | None, typer.Option("--cache", help="Proof cache file (default: ~/.cache/prover/proofs.sqlite).")]


@cache_app.command("stats")
def cache_stats(cache: CacheOpt = None) -> None:
    """Counts of cached proofs and recorded failures."""
    with _open_cache(cache) as db:
        print(json.dumps({"path": str(db.path), **db.counts()}))


@cache_app.command("export")
def cache_export(path: Annotated[Path, typer.Argument(help="JSONL file to write.")], cache: CacheOpt = None) -> None:
    """Write every cached proof as JSONL."""
    with _open_cache(cache) as db:
        print(f"exported {db.export_jsonl(path)} proofs to {path}", file=sys.stderr)


async def _verify_entries(entries: list[Any], lean: LeanConfig) -> list[tuple[Any, Any]]:
    from prover.lean.statement import Statement
    from prover.lean.verifier import verify_proof

    checked = []
    for entry in entries:
        statement = Statement.parse(entry.statement)
        verdict = await verify_proof(statement, entry.proof, header=entry.header, config=lean)
        checked.append((entry, verdict))
    return checked


@cache_app.command("import")
def cache_import(
    path: Annotated[Path, typer.Argument(help="JSONL export to read.")],
    cache: CacheOpt = None,
    repl_cmd: ReplCmd = None,
    lean_project: LeanProject = None,
) -> None:
    """Add proofs from an export; each is re-verified with the current Lean before it is stored."""
    from search.cache import ProofCache

    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    from prover.lean.project import read_versions

    lean = lean_config(repl_cmd, lean_project)
    entries = list(ProofCache.read_jsonl(path))
    checked = asyncio.run(_verify_entries(entries, lean))
    versions = read_versions(lean.project_dir)
    with _open_cache(cache, must_exist=False) as db:
        # Each proof was just checked with this Lean and Mathlib: it is stored under their versions.
        stored, rejected = db.import_entries(checked, versions=(versions.lean, versions.mathlib))
    print(json.dumps({"stored": stored, "rejected": rejected}))


@cache_app.command("verify")
def cache_verify(cache: CacheOpt = None, repl_cmd: ReplCmd = None, lean_project: LeanProject = None) -> None:
    """Re-check every cached proof with the current Lean and drop the ones that fail."""
    with _open_cache(cache) as db:
        checked = asyncio.run(_verify_entries(list(db.entries()), lean_config(repl_cmd, lean_project)))
        dropped = db.drop_rejected(checked)
    for entry, verdict in dropped:
        print(f"dropped {entry.theorem_name or entry.key[:12]}: {verdict.name} {verdict.details}", file=sys.stderr)
    print(json.dumps({"checked": len(checked), "dropped": len(dropped)}))


@app.command()
def doctor(repl_cmd: ReplCmd = None, lean_project: LeanProject = None, verbose: VerboseOpt = 0) -> None:
    """Check Lean, Mathlib and the REPL; print what is missing and the command that fixes it (exit 3 if anything is)."""
    from prover.lean.doctor import run_doctor

    _setup_logging(verbose)
    report = asyncio.run(run_doctor(lean_config(repl_cmd, lean_project)))
    print(report.render())
    raise typer.Exit(EXIT_PROVED if report.ok else EXIT_ENVIRONMENT)


@app.command()
def models() -> None:
    """List the tactic generators and prompt formats."""
    from prover.models import list_generators, list_prompt_formats

    print("generators:")
    for name, description in list_generators():
        print(f"  {name:12s} {description}")
    print("prompt formats:")
    for name, description in list_prompt_formats():
        print(f"  {name:12s} {description}")


@app.command()
def version() -> None:
    """Print the package version and the pinned Lean/Mathlib/REPL versions."""
    from prover.lean.project import read_versions

    print(json.dumps(read_versions(default_project_dir()).as_dict()))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `prover` script; returns the exit code (never lets a traceback through by default)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        # With standalone_mode=False click returns a typer.Exit's code instead of raising it.
        rc = app(args=args, prog_name="prover", standalone_mode=False)
        return rc if isinstance(rc, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except StatementError as exc:
        first = exc.messages[0] if exc.messages else str(exc)
        print(f"prover: error: the statement does not elaborate: {_one_line(first)}", file=sys.stderr)
        return EXIT_USAGE
    except EnvironmentProblem as exc:
        fix = f" (fix: {exc.fix})" if exc.fix else ""
        print(f"prover: error: {_one_line(str(exc))}{fix}", file=sys.stderr)
        return exc.exit_code
    except ProverError as exc:
        print(f"prover: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("prover: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _is_click_exception(exc):
            # typer ships its own copy of click, so its exceptions are matched by shape, not by class.
            if type(exc).__name__ == "Abort":
                print("prover: aborted", file=sys.stderr)
                return 130
            code = int(getattr(exc, "exit_code", EXIT_USAGE))
            if hasattr(exc, "format_message"):
                print(f"prover: error: {_one_line(exc.format_message())}", file=sys.stderr)
            return code
        # A bug: one line by default, the traceback with PROVER_DEBUG=1.
        if os.environ.get("PROVER_DEBUG"):
            raise
        print(f"prover: internal error: {type(exc).__name__}: {_one_line(str(exc))} (rerun with PROVER_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _is_click_exception(exc: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] in {"click", "typer"} for cls in type(exc).__mro__[:-1])


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


if __name__ == "__main__":
    sys.exit(main())
