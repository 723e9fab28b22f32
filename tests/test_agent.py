"""The agent over the fake REPL: a proof cache that fails mid-run never costs a found proof."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest

from prover.agent import Agent, AgentConfig
from prover.config import LeanConfig
from search import SearchConfig
from search.cache import ProofCache
from search.errors import CacheError
from tests.test_cli import FAKE, SCENARIOS, repl_cmd

STATEMENT = "theorem cli_two_steps (a b : ℕ) (h : a = b) : b + 0 = a := by sorry"


def config(cache: Path) -> AgentConfig:
    return AgentConfig(
        lean=LeanConfig(repl_command=repl_cmd("cli_proof.json")), search=SearchConfig(budget_s=30), cache_path=cache
    )


def prove(config: AgentConfig) -> object:
    async def run() -> object:
        async with Agent(config) as agent:
            return await agent.prove(STATEMENT)

    return asyncio.run(run())


def broken(*args: object, **kwargs: object) -> None:
    raise CacheError("database is locked")


def test_a_cache_that_cannot_be_written_still_returns_the_proof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ProofCache, "put", broken)
    with caplog.at_level(logging.WARNING, logger="prover.agent"):
        result = prove(config(tmp_path / "proofs.sqlite"))
    assert result.proved and result.proof == ("norm_num", "linarith") and result.verdict == "verified"  # type: ignore[attr-defined]
    assert "database is locked" in caplog.text


def test_a_cache_that_cannot_be_read_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "proofs.sqlite"
    assert prove(config(cache)).proved  # type: ignore[attr-defined]
    monkeypatch.setattr(ProofCache, "get", broken)
    again = prove(config(cache))
    assert again.proved and not again.cached  # type: ignore[attr-defined]


def test_an_axiom_the_header_declares_counts_only_where_the_problem_allows_it(tmp_path: Path) -> None:
    spec = json.loads((SCENARIOS / "cli_proof.json").read_text(encoding="utf-8"))
    spec["axioms"] = {"cli_two_steps": ["propext", "sol_prop"]}
    path = tmp_path / "axiom.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    lean = LeanConfig(repl_command=f"{sys.executable} {FAKE} --scenario {path}")
    base = AgentConfig(lean=lean, search=SearchConfig(budget_s=30))

    async def run(allowed: tuple[str, ...]) -> object:
        async with Agent(base) as agent:
            return await agent.prove(STATEMENT, allowed_axioms=allowed)

    refused = asyncio.run(run(()))
    assert not refused.proved and refused.verdict == "bad_axioms"  # type: ignore[attr-defined]
    assert asyncio.run(run(("sol_prop",))).proved  # type: ignore[attr-defined]


def test_a_pool_still_importing_holds_up_only_its_own_header(monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()
    started: list[str] = []

    class SlowPool:
        def __init__(self, lean: LeanConfig, imports: str) -> None:
            self.imports = imports

        async def __aenter__(self) -> SlowPool:
            started.append(self.imports)
            if self.imports == "import Mathlib":
                await release.wait()  # Mathlib takes its time
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr("prover.agent.ReplPool", SlowPool)

    async def run() -> None:
        async with Agent(AgentConfig(lean=LeanConfig(repl_command="unused"))) as agent:
            slow = asyncio.create_task(agent.pool("import Mathlib"))
            again = asyncio.create_task(agent.pool("import Mathlib"))
            await asyncio.sleep(0)
            light = await asyncio.wait_for(agent.pool("import Lean"), timeout=5)
            assert light.imports == "import Lean" and not slow.done() and not again.done()
            release.set()
            assert await slow is await again  # the second caller waited for the first pool, not a second one
            assert started == ["import Mathlib", "import Lean"]

    asyncio.run(run())
