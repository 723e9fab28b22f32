"""Presets (`--preset`), per-state request seeds, and request isolation in the shared Batcher."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from prover.cli.options import agent_config, search_and_model
from prover.config import LeanConfig
from prover.errors import ModelError, UsageError
from prover.models.base import Batcher, Completion
from prover.models.presets import get_preset, list_presets
from search import SearchConfig, search
from search.protocols import Candidate, PolicyRequest, Sampling, request_seed
from search.testing import SyntheticEnv, generated_space
from search.outcomes import TacticState


# ---- presets ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model", "fmt", "width", "temperature", "alpha"),
    [
        ("reprover", "kaiyuy/leandojo-lean4-tacgen-byt5-small", "reprover-byt5", 64, 0.0, 0.0),
        ("internlm2.5-step-prover", "internlm/internlm2_5-step-prover", "internlm2.5-step", 32, 0.0, 0.0),
        ("bfs-prover-v1", "ByteDance-Seed/BFS-Prover-V1-7B", "bfs-prover", 2, 1.1, 0.5),
        ("bfs-prover-v2", "ByteDance-Seed/BFS-Prover-V2-7B", "bfs-prover", 4, 1.3, 2.0),
        ("llmstep", "wellecks/llmstep-mathlib4-pythia2.8b", "goal-proofstep", 32, 0.0, 0.0),
    ],
)
def test_presets_resolve_to_the_published_set_up(
    name: str, model: str, fmt: str, width: int, temperature: float, alpha: float
) -> None:
    search_config, chosen_model, chosen_fmt = search_and_model(name, None, None)
    assert (chosen_model, chosen_fmt) == (model, fmt)
    assert (search_config.width, search_config.temperature, search_config.alpha) == (width, temperature, alpha)
    preset = get_preset(name)
    assert search_config.max_tokens == preset.max_tokens and search_config.budget_s == preset.budget_s
    assert preset.decoding == ("beam" if temperature == 0 else "sample")
    assert "@" in preset.source or "card" in preset.source  # every preset cites where its numbers come from


def test_explicit_flags_override_a_preset() -> None:
    config, model, fmt = search_and_model(
        "bfs-prover-v2", "bfs", "goal-proofstep", width=8, temperature=None, top_p=0.9, max_tokens=None, seed=3
    )
    assert (model, fmt) == ("bfs", "goal-proofstep")
    assert (config.width, config.top_p, config.seed) == (8, 0.9, 3)
    assert (config.temperature, config.max_tokens, config.alpha) == (1.3, 2048, 2.0)  # still the preset's


def test_no_preset_keeps_the_built_in_defaults() -> None:
    config, model, fmt = search_and_model(None, None, None, width=None, budget_s=30.0)
    assert (model, fmt) == (None, None)
    assert config == SearchConfig(budget_s=30.0)


def test_unknown_preset_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="did you mean 'bfs-prover-v2'"):
        search_and_model("bfs-prover-2", None, None)


def test_results_record_the_preset_but_it_does_not_change_the_config_hash() -> None:
    from prover.bench import BenchSettings

    config, model, fmt = search_and_model("llmstep", None, None)
    with_preset = agent_config(LeanConfig(), config, "hf", model, fmt, None, False, no_cache=True, cache=None, preset="llmstep")
    without = agent_config(LeanConfig(), config, "hf", model, fmt, None, False, no_cache=True, cache=None)
    run = BenchSettings(tasks=("minif2f-test",), agent=with_preset, output_path=Path("runs")).run_config()
    assert run["preset"] == "llmstep" and run["max_tokens"] == 256 and run["samples"] == 32
    assert with_preset.config_hash() == without.config_hash()  # the preset only names values hashed anyway


def test_prover_models_lists_presets_with_settings(capsys: pytest.CaptureFixture[str]) -> None:
    from prover.cli.app import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name, _ in list_presets():
        assert f"  {name} " in out
    assert "width 4, T=1.3, top_p=1, max_tokens 2048, α=2" in out and "llemma-fewshot" in out


# ---- seeds -----------------------------------------------------------------------------------------------------


def test_request_seed_depends_on_attempt_and_state_only() -> None:
    a, b = TacticState(("⊢ a",)), TacticState(("⊢ b",))
    assert request_seed(0, a) == request_seed(0, TacticState(("⊢ a",)))
    assert len({request_seed(0, a), request_seed(0, b), request_seed(1, a)}) == 3
    assert request_seed(None, a) is None
    assert 0 <= request_seed(5, a) < 2**31  # type: ignore[operator]


class _RecordingPolicy:
    """Proposes every move of the space (as ScriptedPolicy would) and records each request's seed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.seeds: dict[str, int | None] = {}

    async def propose(self, requests: Sequence[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]:
        for r in requests:
            self.seeds[r.state.pp] = r.seed
        return await self.inner.propose(requests, sampling)  # type: ignore[attr-defined]


def _seeds_of_a_search(seed: int) -> dict[str, int | None]:
    from search.testing import ScriptedPolicy

    space = generated_space(seed=7, width=3)
    env, policy = SyntheticEnv(space), _RecordingPolicy(ScriptedPolicy(space))
    asyncio.run(search(env, policy, env.root_state(), SearchConfig(budget_s=10, width=3, concurrency=4, seed=seed, max_expansions=20)))
    return policy.seeds


def test_search_requests_carry_a_seed_per_state_that_repeats_per_run() -> None:
    first, again, other = _seeds_of_a_search(0), _seeds_of_a_search(0), _seeds_of_a_search(1)
    assert len(first) > 3
    assert len(set(first.values())) == len(first)  # every state its own seed
    common = first.keys() & again.keys()
    assert common and all(first[s] == again[s] for s in common)  # reproducible
    assert all(first[s] != other[s] for s in first.keys() & other.keys())  # another attempt seed, other draws


# ---- isolation -------------------------------------------------------------------------------------------------


def test_one_bad_submission_in_a_merged_call_fails_only_its_caller() -> None:
    calls: list[list[str]] = []

    def run_batch(prompts: list[str], settings: list[object]) -> list[list[Completion]]:
        calls.append(list(prompts))
        if any(p.startswith("LONG") for p in prompts):
            raise ModelError("This model's maximum context length is 256 tokens")
        return [[Completion(p.lower(), -1.0, 1)] for p in prompts]

    async def go() -> list[object]:
        batcher = Batcher(run_batch, batch_key=lambda s: None)
        try:
            return await asyncio.gather(
                batcher.submit(["A", "B"], 1), batcher.submit(["LONG"], 2), batcher.submit(["C"], 3),
                return_exceptions=True,
            )
        finally:
            batcher.close()

    first, bad, third = asyncio.run(go())
    assert calls[0] == ["A", "B", "LONG", "C"]  # merged into one backend call first
    assert [[c.text for c in outs] for outs in first] == [["a"], ["b"]]  # type: ignore[union-attr]
    assert [[c.text for c in outs] for outs in third] == [["c"]]  # type: ignore[union-attr]
    assert isinstance(bad, ModelError)


def test_per_prompt_settings_reach_the_backend() -> None:
    seen: list[object] = []

    def run_batch(prompts: list[str], settings: list[object]) -> list[list[Completion]]:
        seen.extend(settings)
        return [[] for _ in prompts]

    async def go() -> None:
        batcher = Batcher(run_batch, batch_key=lambda s: None)
        try:
            await asyncio.gather(batcher.submit(["a", "b"], "x", ["x1", "x2"]), batcher.submit(["c"], "y"))
        finally:
            batcher.close()

    asyncio.run(go())
    assert seen == ["x1", "x2", "y"]
