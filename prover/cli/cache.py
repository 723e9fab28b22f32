"""`prover cache stats | export | import | verify`: the verified-proof cache."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from prover.cli.app import cache_app
from prover.cli.options import LeanProject, ReplCmd, default_cache_path, lean_config
from prover.config import LeanConfig
from prover.errors import UsageError


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
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give the JSONL file to write")
    with _open_cache(cache) as db:
        try:
            count = db.export_jsonl(path)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
        print(f"exported {count} proofs to {path}", file=sys.stderr)


async def _verify_entries(entries: list[Any], lean: LeanConfig) -> list[tuple[Any, Any]]:
    from prover.lean.statement import Statement
    from prover.lean.verifier import verify_proof

    checked = []
    for entry in entries:
        statement = Statement.parse(entry.statement)
        verdict = await verify_proof(statement, entry.proof, header=entry.header, config=lean, original=entry.statement)
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
    try:
        entries = list(ProofCache.read_jsonl(path))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    checked = asyncio.run(_verify_entries(entries, lean))
    versions = read_versions(lean.project_dir)
    with _open_cache(cache, must_exist=False) as db:
        # Each proof was just checked with this Lean and Mathlib: it is stored under their versions.
        stored, rejected = db.import_entries(checked, versions=(versions.lean, versions.mathlib))
    print(json.dumps({"stored": stored, "rejected": rejected}))


@cache_app.command("verify")
def cache_verify(cache: CacheOpt = None, repl_cmd: ReplCmd = None, lean_project: LeanProject = None) -> None:
    """Re-check every cached proof with the current Lean and drop the ones it rejects.

    A re-check that Lean could not finish (a timeout, a crash) proves nothing either way: that proof is kept and
    listed as "could not re-check".
    """
    from search.cache import inconclusive

    with _open_cache(cache) as db:
        checked = asyncio.run(_verify_entries(list(db.entries()), lean_config(repl_cmd, lean_project)))
        dropped = db.drop_rejected(checked)
    kept = inconclusive(checked)
    for entry, verdict in dropped:
        print(f"dropped {entry.theorem_name or entry.key[:12]}: {verdict.name} {verdict.details}", file=sys.stderr)
    for entry, verdict in kept:
        print(f"could not re-check {entry.theorem_name or entry.key[:12]} (kept): {verdict.name} {verdict.details}", file=sys.stderr)
    print(json.dumps({"checked": len(checked), "dropped": len(dropped), "could_not_recheck": len(kept)}))
