"""`prover datagen`: training data from sweep runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from prover.cli.app import app
from prover.cli.options import output_dir


@app.command()
def datagen(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (or folders holding them).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the JSONL files.")] = Path("data"),
    include_known_wrong: Annotated[bool, typer.Option("--include-known-wrong")] = False,
) -> None:
    """Write training data from runs: state-tactic pairs, whole proofs, annotated proofs, negatives."""
    from prover.datagen import export_training_data

    output_dir(output, "--output")
    summary = export_training_data(runs, output, include_known_wrong=include_known_wrong)
    print(json.dumps({k: v for k, v in vars(summary).items() if k != "runs"}, default=str))
