"""The `hf` backend on tiny random models built offline (tests/tiny_models.py), through the real loading path."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from prover.errors import EnvironmentProblem, ModelError, ModelNotFoundError, UsageError  # noqa: E402
from prover.models import build_generator  # noqa: E402
from prover.models.hf import HFGenerator  # noqa: E402
from search.outcomes import TacticState  # noqa: E402
from search.protocols import PolicyRequest, Sampling  # noqa: E402
from tiny_models import byt5_dir, causal_dir  # noqa: E402,F401  (fixtures)

STATES = [
    "n : ℕ\n⊢ n + 0 = n",
    "x y : ℝ\nh₀ : x + y = 10\nh₁ : x - y = 2\n⊢ x = 6",  # longer: exercises left padding
    "⊢ True",
]
REQS = [PolicyRequest(TacticState((s,)), theorem_name=f"t{i}") for i, s in enumerate(STATES)]


@pytest.fixture(scope="module")
def causal(causal_dir: Path) -> Iterator[HFGenerator]:
    gen = build_generator("hf", model=str(causal_dir), options={"device": "cpu"})
    assert isinstance(gen, HFGenerator)
    yield gen
    asyncio.run(gen.close())


@pytest.fixture(scope="module")
def byt5(byt5_dir: Path) -> Iterator[HFGenerator]:
    gen = build_generator("hf", model=str(byt5_dir), prompt_format="reprover-byt5", options={"device": "cpu"})
    assert isinstance(gen, HFGenerator)
    yield gen
    asyncio.run(gen.close())


def complete(gen: HFGenerator, prompts: list[str], sampling: Sampling) -> list:
    return asyncio.run(gen._complete(prompts, sampling))


def teacher_forced(gen: HFGenerator, prompt: str, ids: tuple[int, ...]) -> float:
    """Σ log p(token) of `ids` after `prompt`, from one forward pass on the unpadded prompt."""
    enc = gen.tokenizer(prompt, return_tensors="pt", truncation=True, max_length=2048)
    target = torch.tensor([ids])
    with torch.no_grad():
        if gen.seq2seq:
            start = torch.tensor([[gen.lm.config.decoder_start_token_id]])
            logits = gen.lm(**enc, decoder_input_ids=torch.cat([start, target[:, :-1]], dim=1)).logits
        else:
            full = torch.cat([enc["input_ids"], target], dim=1)
            logits = gen.lm(input_ids=full).logits[:, enc["input_ids"].shape[1] - 1 : -1]
    return float(torch.log_softmax(logits.float(), -1).gather(-1, target.unsqueeze(-1)).sum())


def test_loads_causal_through_the_real_path(causal: HFGenerator) -> None:
    assert not causal.seq2seq
    assert causal.prompt_format.name == "goal-proofstep"  # unknown model name: the generic format
    assert causal.tokenizer.padding_side == "left"
    assert causal.describe()["device"] == "cpu"


@pytest.mark.parametrize("temperature", [1.0, 0.0], ids=["sample", "beam"])
def test_causal_logprobs_equal_teacher_forcing(causal: HFGenerator, temperature: float) -> None:
    prompts = [causal.prompt_format.prompt(r) for r in REQS]
    out = complete(causal, prompts, Sampling(n=3, temperature=temperature, max_tokens=12, seed=0))
    assert [len(o) for o in out] == [3, 3, 3]
    for prompt, outs in zip(prompts, out):
        for c in outs:
            assert 1 <= c.num_tokens == len(c.token_ids) <= 12
            assert c.logprob_sum < 0
            assert c.logprob_sum == pytest.approx(teacher_forced(causal, prompt, c.token_ids), abs=2e-3)


@pytest.mark.parametrize("temperature", [1.0, 0.0], ids=["sample", "beam"])
def test_byt5_logprobs_equal_teacher_forcing(byt5: HFGenerator, temperature: float) -> None:
    assert byt5.seq2seq
    prompts = [byt5.prompt_format.prompt(r) for r in REQS]
    out = complete(byt5, prompts, Sampling(n=3, temperature=temperature, max_tokens=10, seed=0))
    assert [len(o) for o in out] == [3, 3, 3]
    for prompt, outs in zip(prompts, out):
        for c in outs:
            assert c.logprob_sum == pytest.approx(teacher_forced(byt5, prompt, c.token_ids), abs=2e-3)


def test_propose_shapes_and_scores(causal: HFGenerator, byt5: HFGenerator) -> None:
    for gen in (causal, byt5):
        out = asyncio.run(gen.propose(REQS, Sampling(n=4, max_tokens=32, seed=3)))
        assert len(out) == len(REQS)
        for cands in out:
            assert 1 <= len(cands) <= 4
            assert len({c.tactic for c in cands}) == len(cands)  # deduplicated
            assert [c.logprob for c in cands] == sorted((c.logprob for c in cands), reverse=True)
            assert all(c.tactic == c.tactic.strip() and c.tactic and math.isfinite(c.logprob) for c in cands)


def test_batch_results_follow_request_order(causal: HFGenerator) -> None:
    beam = Sampling(n=1, temperature=0.0, max_tokens=8)  # deterministic: compare batched with one-by-one
    batched = asyncio.run(causal.propose(REQS, beam))
    singles = [asyncio.run(causal.propose([r], beam))[0] for r in REQS]
    for b, s in zip(batched, singles):
        assert [c.tactic for c in b] == [c.tactic for c in s]
        assert [c.logprob for c in b] == pytest.approx([c.logprob for c in s], abs=1e-3)


def test_concurrent_waves_are_coalesced_into_one_generate(causal: HFGenerator) -> None:
    sampling = Sampling(n=2, temperature=0.0, max_tokens=6)
    expected = [asyncio.run(causal.propose([r], sampling))[0] for r in REQS]

    async def searches() -> list:
        return await asyncio.gather(*(causal.propose([r], sampling) for r in REQS))

    before = causal.calls
    got = asyncio.run(searches())
    assert causal.calls - before == 1 and causal.batch_sizes[-1] == 3
    assert [[c.tactic for c in g[0]] for g in got] == [[c.tactic for c in e] for e in expected]


def test_determinism_under_a_seed(causal: HFGenerator, byt5: HFGenerator) -> None:
    for gen in (causal, byt5):
        a = asyncio.run(gen.propose(REQS, Sampling(n=4, max_tokens=8, seed=7)))
        b = asyncio.run(gen.propose(REQS, Sampling(n=4, max_tokens=8, seed=7)))
        c = asyncio.run(gen.propose(REQS, Sampling(n=4, max_tokens=8, seed=8)))
        assert a == b
        assert a != c


def test_max_batch_splits_a_wave(causal_dir: Path) -> None:
    gen = build_generator("hf", model=str(causal_dir), options={"device": "cpu", "max_batch": "2"})
    out = asyncio.run(gen.propose(REQS, Sampling(n=1, temperature=0.0, max_tokens=4)))
    assert len(out) == 3 and gen.calls == 2 and gen.batch_sizes == [2, 1]
    asyncio.run(gen.close())
    with pytest.raises(ModelError, match="closed"):
        asyncio.run(gen.propose(REQS, Sampling(n=1)))


def test_needs_a_model() -> None:
    with pytest.raises(UsageError, match="needs a model"):
        build_generator("hf")


def test_unknown_option_is_a_usage_error(causal_dir: Path) -> None:
    with pytest.raises(UsageError, match="did you mean 'max_batch'"):
        build_generator("hf", model=str(causal_dir), options={"max_bach": "4"})


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty HF cache, and any attempt to open a connection fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))


@pytest.mark.usefixtures("no_network")
def test_missing_hub_model_fails_fast_without_network() -> None:
    start = time.monotonic()
    with pytest.raises(ModelNotFoundError) as info:
        build_generator(model="kaiyuy/leandojo-lean4-tacgen-byt5-small")  # generator None + model → hf
    assert time.monotonic() - start < 5
    err = info.value
    assert isinstance(err, EnvironmentProblem) and err.exit_code == 3
    assert "kaiyuy/leandojo-lean4-tacgen-byt5-small" in str(err) and "\n" not in str(err)
    assert err.fix == "hf download kaiyuy/leandojo-lean4-tacgen-byt5-small"


@pytest.mark.usefixtures("no_network")
def test_missing_local_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        build_generator("hf", model=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        build_generator("hf", model=str(tmp_path / "empty"))


def test_temperature_zero_is_beam_search_with_the_formats_length_penalty(causal: HFGenerator) -> None:
    seen: list[dict] = []
    original = causal.lm.generate

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(dict(kwargs))
        return original(*args, **kwargs)

    causal.lm.generate = spy  # type: ignore[method-assign]
    try:
        asyncio.run(causal.propose(REQS[:1], Sampling(n=4, temperature=0.0, max_tokens=8)))
    finally:
        del causal.lm.generate
    assert seen[0]["num_beams"] == 4 and seen[0]["do_sample"] is False
    assert seen[0]["length_penalty"] == 1.0  # goal-proofstep ranks by the mean


def test_samples_without_eos_are_dropped(causal: HFGenerator) -> None:
    prompts = [causal.prompt_format.prompt(r) for r in REQS]
    sampling = Sampling(n=6, temperature=1.0, max_tokens=4, seed=2)
    raw = complete(causal, prompts, sampling)
    eos = causal.tokenizer.eos_token_id
    for outs in raw:
        for c in outs:
            assert c.finished == (eos in c.token_ids)  # no stop strings matched in 4 random tokens
    cut = {c.text.strip() for outs in raw for c in outs if not c.finished}
    assert cut  # the limit is short enough that some samples hit it
    out = asyncio.run(causal.propose(REQS, sampling))
    finished = [{causal.prompt_format.clean(c.text) for c in outs if c.finished} for outs in raw]
    for cands, allowed in zip(out, finished):
        assert {c.tactic for c in cands} <= allowed


def test_request_seeds_give_each_state_its_own_stream(causal: HFGenerator) -> None:
    same_state = [PolicyRequest(REQS[0].state, seed=s) for s in (1, 1, 2)]
    sampling = Sampling(n=4, temperature=1.0, max_tokens=12)
    a = complete(causal, [causal.prompt_format.prompt(r) for r in same_state[:1]], sampling)
    first = asyncio.run(causal._complete([causal.prompt_format.prompt(same_state[0])], sampling, [1]))
    again = asyncio.run(causal._complete([causal.prompt_format.prompt(same_state[1])], sampling, [1]))
    other = asyncio.run(causal._complete([causal.prompt_format.prompt(same_state[2])], sampling, [2]))
    assert first == again  # reproducible
    assert [c.text for c in first[0]] != [c.text for c in other[0]]  # another seed, another stream
    assert a  # the unseeded call still works


def test_custom_code_model_without_trust_remote_code_gives_the_fix(tmp_path: Path) -> None:
    import json

    from prover.cli.app import main

    # A config-only InternLM2 directory: transformers refuses its custom code without trust_remote_code.
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "internlm2", "architectures": ["InternLM2ForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_internlm2.InternLM2Config",
                     "AutoModelForCausalLM": "modeling_internlm2.InternLM2ForCausalLM"},
    }))
    with pytest.raises(EnvironmentProblem, match="custom code") as info:
        build_generator("hf", model=str(tmp_path))
    assert info.value.fix.startswith("--model-args trust_remote_code=true")
    assert info.value.exit_code == 3
    assert main(["prove", "theorem t : True := by sorry", "--model", str(tmp_path), "--no-cache",
                 "--repl-cmd", "python tests/fake_repl.py"]) == 3
