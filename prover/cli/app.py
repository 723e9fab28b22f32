"""The `prover` Typer application and its entry point.

Exit codes (DESIGN contract 5): 0 proved (or the command succeeded), 1 not proved within the budget, 2 bad input or
usage (one line, no traceback), 3 environment problem (Lean, REPL or model missing; the line says what to run).
The `prover.cli` package is the only place that configures logging and draws progress.
"""

from __future__ import annotations

import errno
import os
import sys

import typer

from prover.errors import EnvironmentProblem, ProverError, StatementError

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
    except OSError as exc:
        if exc.filename is None:  # not about a path: a bug
            return _internal(exc)
        # A path that cannot be read or written: bad input; a full or failing disk: the environment.
        print(f"prover: error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO) else EXIT_USAGE
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
        return _internal(exc)


def _internal(exc: BaseException) -> int:
    """A bug: one line by default, the traceback with PROVER_DEBUG=1."""
    if os.environ.get("PROVER_DEBUG"):
        raise exc
    print(f"prover: internal error: {type(exc).__name__}: {_one_line(str(exc))} (rerun with PROVER_DEBUG=1 for the traceback)", file=sys.stderr)
    return 1


def _is_click_exception(exc: BaseException) -> bool:
    return any(cls.__module__.split(".")[0] in {"click", "typer"} for cls in type(exc).__mro__[:-1])


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]
