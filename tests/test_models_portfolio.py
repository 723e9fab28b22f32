"""The registry (`build_generator`, listings, did-you-mean) and the model-free portfolio generator."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys

import pytest

from prover.errors import UsageError
from prover.models import TacticGenerator, build_generator, list_generators
from prover.models.portfolio import DEFAULT_TACTICS, PortfolioGenerator, split_tactics
from prover.models.registry import Registry
from search.banned import BannedTokens
from search.outcomes import TacticState
from search.protocols import Policy, PolicyRequest, Sampling

REQS = [PolicyRequest(TacticState((f"x : ℕ\n⊢ x + {i} = {i} + x",))) for i in range(3)]


def run(gen: TacticGenerator, reqs: list[PolicyRequest], sampling: Sampling) -> list:
    return asyncio.run(gen.propose(reqs, sampling))


def test_default_is_portfolio_and_satisfies_policy() -> None:
    gen = build_generator()
    assert gen.name == "portfolio"
    assert isinstance(gen, Policy)
    assert build_generator(model="portfolio").name == "portfolio"  # a backend name given as the model
    assert build_generator("portfolio").name == "portfolio"


def test_list_generators() -> None:
    listed = dict(list_generators())
    assert list(listed) == ["portfolio", "hf", "vllm", "openai"]
    assert all(desc and "\n" not in desc for desc in listed.values())


def test_unknown_generator_has_did_you_mean() -> None:
    with pytest.raises(UsageError, match=r"unknown generator 'vlm' \(did you mean 'vllm'\?\)"):
        build_generator("vlm", model="x")
    with pytest.raises(UsageError, match="did you mean 'portfolio'"):
        build_generator("portfolo")


def test_unknown_option_and_bad_value() -> None:
    with pytest.raises(UsageError, match="unknown option 'dekay'.*did you mean 'decay'"):
        build_generator("portfolio", options={"dekay": "0.5"})
    with pytest.raises(UsageError, match="bad value for option 'decay'"):
        build_generator("portfolio", options={"decay": "2"})


def test_portfolio_rejects_a_model_and_a_prompt_format() -> None:
    with pytest.raises(UsageError, match="takes no model"):
        build_generator("portfolio", model="internlm/internlm2_5-step-prover")
    with pytest.raises(UsageError, match="no prompt"):
        build_generator("portfolio", prompt_format="bfs-prover")


def test_candidates_priors_and_order() -> None:
    gen = build_generator()
    out = run(gen, REQS, Sampling(n=8))
    assert len(out) == 3 and all(len(c) == 8 for c in out)
    assert out[0] == out[1] == out[2]  # state-independent
    tactics = [c.tactic for c in out[0]]
    assert tactics == list(DEFAULT_TACTICS[:8])
    priors = [c.logprob for c in out[0]]
    assert priors == sorted(priors, reverse=True) and all(p < 0 for p in priors)
    assert math.isclose(priors[1] - priors[0], math.log(0.8))
    full = PortfolioGenerator()
    assert math.isclose(sum(math.exp(c.logprob) for c in full.candidates), 1.0)  # a distribution over the list
    assert gen.calls == 1


def test_required_tactics_are_in_the_default_list() -> None:
    required = {"norm_num", "linarith", "nlinarith", "positivity", "omega", "simp_all", "aesop", "decide",
                "ring_nf", "field_simp", "simp"}
    assert required <= set(DEFAULT_TACTICS)


def test_default_list_is_banned_free() -> None:
    banned = BannedTokens()
    assert all(banned.allows(t) for t in DEFAULT_TACTICS)


def test_banned_tactic_is_refused() -> None:
    with pytest.raises(UsageError, match="banned token 'native_decide'"):
        build_generator("portfolio", options={"tactics": "simp,native_decide"})


def test_configured_tactics_with_commas_in_brackets() -> None:
    gen = build_generator("portfolio", options={"tactics": "nlinarith [sq_nonneg (a - b), sq_nonneg a],simp,simp", "decay": "1"})
    out = run(gen, REQS[:1], Sampling(n=8))[0]
    assert [c.tactic for c in out] == ["nlinarith [sq_nonneg (a - b), sq_nonneg a]", "simp"]  # duplicate dropped
    assert out[0].logprob == out[1].logprob == pytest.approx(math.log(0.5))  # decay 1: uniform
    assert split_tactics("a ⟨x, y⟩, b") == ["a ⟨x, y⟩", "b"]


def test_width_caps_and_empty_wave() -> None:
    gen = build_generator()
    assert [len(c) for c in run(gen, REQS, Sampling(n=2))] == [2, 2, 2]
    assert run(gen, [], Sampling()) == []
    assert gen.calls == 1  # an empty wave is not a model call


def test_registry_resolves_lazily() -> None:
    reg: Registry[object] = Registry("thing")
    reg.register("lazy", "no_such_module_xyz:Thing", "never imported unless asked")
    assert reg.items() == [("lazy", "never imported unless asked")]
    with pytest.raises(ModuleNotFoundError):
        reg.get("lazy")


def test_core_import_does_not_load_torch() -> None:
    code = (
        "import sys, asyncio\n"
        "from prover.models import build_generator, list_generators, list_prompt_formats\n"
        "list_generators(); list_prompt_formats()\n"
        "from search.protocols import PolicyRequest, Sampling\n"
        "from search.outcomes import TacticState\n"
        "g = build_generator()\n"
        "asyncio.run(g.propose([PolicyRequest(TacticState(('⊢ True',)))], Sampling()))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'vllm') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
