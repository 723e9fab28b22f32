"""`prover check` (a batch of proofs → verdict lines) and `prover serve` (the same checks over HTTP)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from prover.cli.app import EXIT_ENVIRONMENT, EXIT_NOT_PROVED, EXIT_PROVED, app
from prover.cli.options import LeanProject, ReplCmd, VerboseOpt, lean_config, setup_logging
from prover.errors import UsageError

if TYPE_CHECKING:
    from prover.service.batch import BatchSummary
    from prover.service.checker import CheckPolicy

AllowAxiomOpt = Annotated[
    list[str] | None,
    typer.Option("--allow-axiom", help="An axiom a proof may use beyond propext, Classical.choice, Quot.sound (repeatable)."),
]
BannedOpt = Annotated[
    list[str] | None,
    typer.Option("--ban", help="Ban this token too (repeatable); the default policy always applies."),
]
NoDefaultBanOpt = Annotated[
    bool, typer.Option("--no-default-bans", help="Drop the default banned tokens (sorry, native_decide, …); keeps --ban.")
]
StatementsOpt = Annotated[
    list[Path] | None,
    typer.Option("--statements", help="JSONL or .lean file of expected statements: each proof must prove exactly its one (by id or theorem name)."),
]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", help="Lean REPL workers (checks in flight).", min=1)]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds for one proof's elaboration.", min=0.1)]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="Check every proof in a fresh REPL process (slow; no warm workers).")]
HeaderTimeoutOpt = Annotated[
    float, typer.Option("--header-timeout", help="Seconds for a worker's import header (import Mathlib).", min=0.1)
]


def _policy(
    allow_axiom: list[str] | None, ban: list[str] | None, no_default_bans: bool, statements: list[Path] | None,
    timeout: float, fresh: bool,
) -> CheckPolicy:
    from prover.service.checker import CheckPolicy
    from prover.service.inputs import read_statements
    from search.banned import DEFAULT_BANNED, BannedTokens

    tokens = (() if no_default_bans else DEFAULT_BANNED) + tuple(t for t in ban or () if t.strip())
    for name in allow_axiom or ():
        if not name.strip() or any(c.isspace() for c in name.strip()):
            raise UsageError(f"--allow-axiom {name!r} is not an axiom name")
    return CheckPolicy(
        banned=BannedTokens.of(tokens),
        allowed_axioms=frozenset(n.strip() for n in allow_axiom or ()),
        expected=read_statements(statements) if statements else None,
        timeout=timeout,
        fresh=fresh,
    )


@app.command()
def check(
    inputs: Annotated[list[Path], typer.Argument(help=".lean files (every theorem) or JSONL files ({id, code} or {id, header?, statement, proof}).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Verdict JSONL file (one line per proof, input order).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed run: keep --output's lines, check the rest.")] = False,
    workers: WorkersOpt = 1,
    timeout: TimeoutOpt = 60.0,
    header_timeout: HeaderTimeoutOpt = 300.0,
    allow_axiom: AllowAxiomOpt = None,
    ban: BannedOpt = None,
    no_default_bans: NoDefaultBanOpt = False,
    statements: StatementsOpt = None,
    fresh: FreshOpt = False,
    repl_cmd: ReplCmd = None,
    lean_project: LeanProject = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Check proofs strictly (verifier verdicts). Exit 0 all verified, 1 some not, 2 bad arguments, 3 no Lean."""
    from prover.lean.statement import Statement
    from prover.service.batch import VerdictWriter, load_done, run_batch
    from prover.service.checker import Checker
    from prover.service.inputs import check_readable, count_inputs, read_inputs

    setup_logging(verbose)
    check_readable(inputs)
    policy = _policy(allow_axiom, ban, no_default_bans, statements, timeout, fresh)
    if resume and output is None:
        raise UsageError("--resume needs --output")
    if output is not None and output.exists() and output.stat().st_size > 0 and not resume:
        raise UsageError(f"{output} exists: pass --resume to continue it, or remove it")
    done = load_done(output) if resume and output is not None else []
    config = lean_config(repl_cmd, lean_project, workers=workers, verify_timeout=timeout, command_timeout=header_timeout)
    expected = policy.expected

    def theorem_for(id: str) -> str | None:
        found = expected.get(id) if expected is not None else None
        return Statement.parse(found.statement).name if found is not None else None

    items = read_inputs(inputs, theorem_for if expected is not None else None)
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(
            desc="checking", unit="proof", file=sys.stderr, dynamic_ncols=True, initial=len(done),
            total=count_inputs(inputs),
        )

    def on_result(_: object) -> None:
        if bar is not None:
            bar.update(1)

    writer = VerdictWriter(output)

    async def main() -> BatchSummary:
        async with Checker(config, policy) as checker:
            return await run_batch(items, checker, writer, done=done, on_result=on_result)

    try:
        summary = asyncio.run(main())
    finally:
        writer.close()
        if bar is not None:
            bar.close()
    _print_summary(summary)
    raise typer.Exit(EXIT_PROVED if summary.total and summary.verified == summary.total else EXIT_NOT_PROVED)


def _print_summary(summary: BatchSummary) -> None:
    total = summary.total
    rows = [("verified", summary.verified)] + sorted(
        ((k, v) for k, v in summary.counts.items() if k != "verified"), key=lambda kv: (-kv[1], kv[0])
    )
    width = max(len(k) for k, _ in rows)
    print(f"{'verdict':<{width}}  {'proofs':>7}  {'share':>6}")
    for name, count in rows:
        share = f"{100 * count / total:5.1f}%" if total else "    -"
        print(f"{name:<{width}}  {count:>7}  {share:>6}")
    resumed = f" ({summary.skipped} from the earlier run)" if summary.skipped else ""
    print(f"{'total':<{width}}  {total:>7}{resumed}")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port (0: pick a free one and print it).", min=0, max=65535)] = 8000,
    workers: WorkersOpt = 1,
    timeout: TimeoutOpt = 60.0,
    header_timeout: HeaderTimeoutOpt = 300.0,
    request_timeout: Annotated[float, typer.Option("--request-timeout", help="Most seconds one request may take; checks left over are answered `timeout`.", min=0.1)] = 600.0,
    queue: Annotated[int, typer.Option("--queue", help="Proofs admitted at once (running + waiting); beyond it: 503 with Retry-After.", min=1)] = 256,
    max_body_mb: Annotated[float, typer.Option("--max-body-mb", help="Largest request body (413 beyond).", min=0.001)] = 8.0,
    token: Annotated[str | None, typer.Option("--token", envvar="PROVER_SERVE_TOKEN", help="Require `Authorization: Bearer TOKEN` (or set PROVER_SERVE_TOKEN).")] = None,
    grace: Annotated[float, typer.Option("--grace", help="On SIGTERM, seconds in-flight checks may finish before they are answered `cancelled`.", min=0.0)] = 30.0,
    allow_axiom: AllowAxiomOpt = None,
    ban: BannedOpt = None,
    no_default_bans: NoDefaultBanOpt = False,
    statements: StatementsOpt = None,
    fresh: FreshOpt = False,
    repl_cmd: ReplCmd = None,
    lean_project: LeanProject = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Serve POST /check, POST /verify (kimina-compatible) and GET /health over warm Lean workers."""
    setup_logging(verbose)
    try:
        from prover.service.server import ServerSettings, serve as run_server
    except ImportError as exc:
        print(f"prover: error: `prover serve` needs the serve extra ({exc.name} is missing): "
              "run `make install` (it installs the dev extra, which includes serve), or pip install 'prover[serve]'", file=sys.stderr)
        raise typer.Exit(EXIT_ENVIRONMENT) from None
    policy = _policy(allow_axiom, ban, no_default_bans, statements, timeout, fresh)
    config = lean_config(repl_cmd, lean_project, workers=workers, verify_timeout=timeout, command_timeout=header_timeout)
    settings = ServerSettings(
        queue=queue, request_timeout=request_timeout, max_body=int(max_body_mb * 1024 * 1024), token=token, grace=grace
    )
    rc = run_server(config, policy, settings, host=host, port=port)
    raise typer.Exit(rc if rc else 0)

