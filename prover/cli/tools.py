"""`prover doctor | models | version`."""

from __future__ import annotations

import asyncio
import json

import typer

from prover.cli.app import EXIT_ENVIRONMENT, EXIT_PROVED, app
from prover.cli.options import LeanProject, ReplCmd, VerboseOpt, lean_config, setup_logging
from prover.config import default_project_dir


@app.command()
def doctor(repl_cmd: ReplCmd = None, lean_project: LeanProject = None, verbose: VerboseOpt = 0) -> None:
    """Check Lean, Mathlib and the REPL; print what is missing and the command that fixes it (exit 3 if anything is)."""
    from prover.lean.doctor import run_doctor

    setup_logging(verbose)
    report = asyncio.run(run_doctor(lean_config(repl_cmd, lean_project)))
    print(report.render())
    raise typer.Exit(EXIT_PROVED if report.ok else EXIT_ENVIRONMENT)


@app.command()
def models() -> None:
    """List the tactic generators, prompt formats and presets (`--preset NAME`), and the whole-proof formats."""
    from prover.models import list_generators, list_prompt_formats
    from prover.models.chat import CHAT_GENERATORS
    from prover.models.presets import list_presets
    from prover.models.proof_prompts import FORMATS as PROOF_FORMATS

    print("generators:")
    for name, description in list_generators():
        print(f"  {name:12s} {description}")
    print("prompt formats:")
    for name, description in list_prompt_formats():
        print(f"  {name:18s} {description}")
    print("presets (--preset NAME; explicit flags override):")
    for name, description in list_presets():
        print(f"  {name:24s} {description}")
    print(f"proof generators (--proof-generator): {', '.join(CHAT_GENERATORS)}")
    print("proof prompt formats (--proof-prompt-format):")
    for fmt in PROOF_FORMATS.values():
        print(f"  {fmt.name:16s} {fmt.description} (R={fmt.repair_rounds}, T={fmt.temperature:g}, max_tokens={fmt.max_tokens})")


@app.command()
def version() -> None:
    """Print the package version and the pinned Lean/Mathlib/REPL versions."""
    from prover.lean.project import read_versions

    print(json.dumps(read_versions(default_project_dir()).as_dict()))
