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
from typing import Annotated, Any, NoReturn

import click
import typer

from prover import __version__
from prover.config import DEFAULT_HEADER, LeanConfig, default_project_dir
from prover.errors import EnvironmentProblem, ProverError, StatementError, UsageError

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

log = logging.getLogger("prover.cli")


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


def _fail(message: str, code: int) -> NoReturn:
    raise _Exit(message, code)


class _Exit(Exception):
    """Leaves the CLI with a one-line message and an exit code (raised only inside this module)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


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
    return LeanConfig(project_dir=project, repl_command=repl_cmd, **{k: v for k, v in changes.items() if v is not None})


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
        return stmt, header if header is not None else file_header
    if theorem is not None:
        raise UsageError("--theorem needs --file")
    if statement is None or statement == "-":
        if sys.stdin is None or (statement is None and sys.stdin.isatty()):
            raise UsageError("no statement: pass it as an argument, with --file F --theorem NAME, or on stdin")
        statement = sys.stdin.read()
    if not statement.strip():
        raise UsageError("the statement is empty")
    return statement, header if header is not None else DEFAULT_HEADER


class _ProgressLine:
    """One self-overwriting line on a terminal; on a pipe, a line every few seconds."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        if now - self.last < (0.25 if self.tty else 10.0):
            return
        self.last = now
        text = (
            f"elapsed {progress.elapsed:6.1f}s  expansions {progress.expansions:6d}  "
            f"nodes {progress.nodes:6d}  best depth {progress.best_depth:3d}"
        )
        sys.stderr.write(("\r" + text) if self.tty else (text + "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.last:
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
    annotate: Annotated[bool, typer.Option("--annotate", help="Follow each tactic with the goals after it, as comments.")] = False,
    allow_download: Annotated[bool, typer.Option("--allow-download", help="Let the model backend fetch weights from the network.")] = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Prove one theorem. Exit 0 proved, 1 not proved, 2 bad input, 3 Lean/REPL/model missing."""
    from prover.agent import AgentConfig, ModelConfig, annotate as annotated
    from prover.agent import prove as run_prove
    from prover.results import ProofStatus
    from search import SearchConfig

    _setup_logging(verbose)
    text, head = _read_statement(statement, file, theorem, header)
    config = AgentConfig(
        lean=lean_config(repl_cmd, lean_project, workers=workers, tactic_timeout=tactic_timeout),
        search=SearchConfig(
            budget_s=budget, width=width, alpha=alpha, attempts=attempts, seed=seed,
            temperature=temperature, tactic_timeout=tactic_timeout,
        ),
        model=ModelConfig(generator, model, prompt_format, parse_key_values(model_args), allow_download),
        cache_path=None if no_cache else (cache or default_cache_path()),
        trust_cache=trust_cache,
    )
    progress = _ProgressLine()
    try:
        result = asyncio.run(run_prove(text, config, header=head, on_progress=None if json_out else progress))
    finally:
        progress.close()
    if json_out:
        print(json.dumps(result.to_json(), ensure_ascii=False))
    elif result.proved:
        body = annotated(result.steps) if annotate and result.steps else list(result.proof)
        from prover.lean.statement import Statement

        print(Statement.parse(text).with_proof(body))
    else:
        reason = result.error or result.stop_reason
        print(f"not proved: {result.status.value} ({reason}) after {result.stats.seconds_total:.1f}s, "
              f"{result.stats.expansions} expansions", file=sys.stderr)
    if result.status is ProofStatus.ERROR:
        raise typer.Exit(EXIT_ENVIRONMENT)
    raise typer.Exit(EXIT_PROVED if result.proved else EXIT_NOT_PROVED)


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
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        print("prover: aborted", file=sys.stderr)
        return 130
    except click.UsageError as exc:
        print(f"prover: error: {_one_line(exc.format_message())}", file=sys.stderr)
        return EXIT_USAGE
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
    except _Exit as exc:
        print(f"prover: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("prover: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line by default, the traceback with PROVER_DEBUG=1
        if os.environ.get("PROVER_DEBUG"):
            raise
        print(f"prover: internal error: {type(exc).__name__}: {_one_line(str(exc))} (rerun with PROVER_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


if __name__ == "__main__":
    sys.exit(main())
