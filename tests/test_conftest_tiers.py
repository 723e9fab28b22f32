"""tests/conftest.py: a `lean`-tier test skips with the reason when ../shared is missing (notes F8); the default
tier still fails, because its fake REPL needs the transcripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prover.config import REPL_BINARY

ROOT = Path(__file__).resolve().parent.parent

PROBE = '''
import pytest
from pathlib import Path

@pytest.mark.lean
def test_lean(transcripts: Path) -> None:
    assert False, "must not run"

def test_default(transcripts: Path) -> None:
    assert False, "must not run"
'''


def test_the_lean_tier_skips_without_shared_and_the_default_tier_fails(tmp_path: Path) -> None:
    # A machine where the lean tier runs: stand-in `lake` on PATH and a built REPL in the Lean project.
    bin_dir, project = tmp_path / "bin", tmp_path / "project"
    for program in (bin_dir / "lake", project / REPL_BINARY):
        program.parent.mkdir(parents=True, exist_ok=True)
        program.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
        program.chmod(0o755)
    probe = ROOT / "tests" / f"test_probe_{os.getpid()}.py"
    probe.write_text(PROBE, encoding="utf-8")
    try:
        env = dict(
            os.environ,
            PROVER_TRANSCRIPTS=str(tmp_path / "missing"),
            PROVER_LEAN_PROJECT=str(project),
            PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(probe)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
    finally:
        probe.unlink()
    out = proc.stdout
    assert "1 error" in out and "1 skipped" in out, out  # a failing fixture is an error
    assert "REPL transcripts not found" in out
