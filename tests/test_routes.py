"""The scheduler and the two routes on synthetic spaces: whole proofs, repair, truncate-and-resume, faults, deadline."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from search.config import SearchConfig
from search.proof_testing import ScriptedProofPolicy, SyntheticProofLean, fixed_bodies
from search.proofs import PrefixChannel, ProofRequest, ProofSample, split_steps
from search.routes import TacticRoute, WholeProofConfig, WholeProofRoute
from search.scheduler import RouteContext, RouteReport, run_routes
from search.testing import ScriptedPolicy, SyntheticEnv, chain_space, deep_space
from search.tree import SearchTree

REQUEST = ProofRequest("synthetic", "import Mathlib", "theorem synthetic : P := by sorry")
CHAIN3 = "step 0\nstep 1\nstep 2\nqed"


async def _always(proof: tuple[str, ...]) -> bool:
    return True


def _run(routes, *, budget=5.0, verify=_always, grafts=None):
    async def main():
        return await run_routes(routes, deadline=time.monotonic() + budget, verify=verify, grafts=grafts)

    return asyncio.run(main())


def _whole(space, script, config=WholeProofConfig(samples=4), **kw):
    lean = SyntheticProofLean(SyntheticEnv(space))
    policy = ScriptedProofPolicy(script, **kw)
    return WholeProofRoute(policy, lean, REQUEST, config, lean), policy, lean


def test_whole_proof_route_finds_the_correct_sample_and_records_every_outcome():
    route, policy, _ = _whole(chain_space(3), fixed_bodies([None, "step 0\nbogus", CHAIN3]), WholeProofConfig(samples=3))
    result = _run([route])
    assert result.proof == tuple(split_steps(CHAIN3)) and result.route == "whole" and result.kind == "whole"
    report = result.report("whole")
    assert [s["outcome"] for s in report.samples] == ["rejected", "failed", "passed"]
    assert report.samples[0]["reason"] == "no code block"
    assert report.stats["samples"] == 3 and report.stats["rejected"] == 1 and report.stats["tokens"] == 300
    assert report.stats["verify_calls"] == 1 and policy.calls == 1


def test_a_failed_proof_is_repaired_from_leans_messages():
    def script(request: ProofRequest, index: int, rng: random.Random) -> ProofSample:
        if request.round == 0:
            return ProofSample("out0", "step 0\nstep 1\nwrong", tokens=10)
        return ProofSample("out1", CHAIN3, tokens=20)

    route, policy, _ = _whole(chain_space(3), script, WholeProofConfig(samples=1, rounds=2, resume=False))
    result = _run([route])
    assert result.kind == "repaired" and result.proof == tuple(split_steps(CHAIN3))
    repair = policy.requests[-1]
    assert repair.round == 1 and repair.history[0].output == "out0"
    (message,) = repair.history[0].messages
    # the third body line fails; line 1 of the code is the statement
    assert message.line == 4 and message.severity == "error" and "wrong" in message.text
    assert message.goals  # the goals before the failing step, from the prefix replay
    assert route.counts.repairs == 1


def test_repair_rounds_are_bounded_by_r():
    route, policy, _ = _whole(chain_space(3), fixed_bodies(["step 0\nwrong"]), WholeProofConfig(samples=2, rounds=2, repair_samples=2))
    result = _run([route])
    assert not result.proved
    rounds = [s["round"] for s in result.report("whole").samples]
    assert rounds.count(0) == 2 and rounds.count(1) == 4 and rounds.count(2) == 8 and max(rounds) == 2
    assert policy.calls == 1 + 2 + 4


def test_a_valid_prefix_resumes_in_the_tactic_tree():
    depth = 12
    space = deep_space(depth)
    # alone, the tactic search cannot reach the proof within 60 expansions at alpha 0 (it needs about 2000)
    config = SearchConfig(budget_s=5, alpha=0.0, max_expansions=60, debug=True)
    alone = _run([TacticRoute(SyntheticEnv(space), ScriptedPolicy(space), space.root_state(), config)])
    assert not alone.proved
    prefix = "\n".join(f"step {i}" for i in range(10)) + "\nnonsense"
    whole, _, _ = _whole(space, fixed_bodies([prefix]), WholeProofConfig(samples=1))
    env = SyntheticEnv(space)
    tactic = TacticRoute(env, ScriptedPolicy(space), space.root_state(), config)
    both = _run([whole, tactic])
    assert both.proved and both.route == "tactic" and both.kind == "resumed"
    assert both.proof[:10] == tuple(f"step {i}" for i in range(10))
    assert whole.counts.resumed == 1 and whole.counts.resumed_steps == 10
    tactic.result.tree.check_invariants()


def test_a_dying_model_server_ends_only_the_whole_proof_route():
    space = chain_space(3)
    whole, _, _ = _whole(space, fixed_bodies(["wrong"]), fail_after=0)
    tactic = TacticRoute(SyntheticEnv(space), ScriptedPolicy(space), space.root_state(), SearchConfig(budget_s=5))
    result = _run([whole, tactic])
    assert result.proved and result.route == "tactic" and result.kind == "tactic"
    report = result.report("whole")
    assert report.status == "error" and "ConnectionError" in report.error


def test_a_proof_whose_verification_started_before_the_deadline_is_kept():
    async def slow_verify(proof: tuple[str, ...]) -> bool:
        await asyncio.sleep(0.3)
        return True

    route, _, _ = _whole(chain_space(1), fixed_bodies(["step 0\nqed"]), WholeProofConfig(samples=1))
    result = _run([route], budget=0.1, verify=slow_verify)
    assert result.proved and result.seconds >= 0.3


def test_pass_at_k_mode_checks_every_sample_after_the_win():
    route, _, _ = _whole(chain_space(1), fixed_bodies(["step 0\nqed", "x", "step 0\nqed"]),
                         WholeProofConfig(samples=6, stop_on_proof=False))
    result = _run([route])
    outcomes = [s["outcome"] for s in result.report("whole").samples]
    assert outcomes == ["passed", "failed", "passed"] * 2
    assert result.report("whole").stats["verify_calls"] == 1


def test_a_new_route_needs_nothing_but_name_and_run():
    class Oracle:
        name = "sketch"

        async def run(self, ctx: RouteContext) -> RouteReport:
            await asyncio.sleep(0.01)
            ok = await ctx.accept(("exact trivial",), self.name, "sketch")
            return RouteReport(self.name, "proved" if ok else "failed", ("exact trivial",), "sketch")

    space = deep_space(12)
    slow = TacticRoute(SyntheticEnv(space, latency=0.01), ScriptedPolicy(space), space.root_state(), SearchConfig(budget_s=5))
    result = _run([slow, Oracle()])
    assert result.route == "sketch" and result.proof == ("exact trivial",)
    assert result.report("tactic").status in {"timeout", "failed"}


def test_graft_keeps_the_dag_with_dedup_and_allows_unexpanded_sources():
    space = chain_space(3)
    env = SyntheticEnv(space)
    tree = SearchTree(env.root_state())
    s1, s2 = space.state(space.move(space.root, "step 0").to), None
    node, created = tree.graft(0, "step 0", 0.0, s1)
    assert created and node == 1
    s2 = space.state(space.move(space.name_of(s1), "step 1").to)
    assert tree.graft(1, "step 1", 0.0, s2) == (2, True)
    assert tree.graft(0, "step 0", 0.0, s1) == (1, False)  # the same step again: no second edge
    assert tree.graft(2, "back", 0.0, s1) == (-1, False)  # a cycle
    tree.check_invariants()
    assert tree.num_edges == 2 and tree.priority[2] == 0.0


def test_prefix_channel_queues_until_a_search_connects():
    channel = PrefixChannel()
    channel.send([("a", None)])  # type: ignore[list-item]
    got = []
    channel.connect(lambda steps, logprob: got.append(list(steps)) or 1)
    assert got == [[("a", None)]] and channel.grafted_nodes == 1 and channel.sent_tactics == [("a",)]


@pytest.mark.parametrize(
    "body, steps",
    [
        ("intro x\n  -- comment\nnlinarith [sq_nonneg x]", ["intro x", "nlinarith [sq_nonneg x]"]),
        ("  have h : 1 = 1 := by\n    rfl\n  · simp\n  exact h", ["have h : 1 = 1 := by\n  rfl", "· simp", "exact h"]),
        ("constructor\n· norm_num\n· linarith", ["constructor", "· norm_num", "· linarith"]),
    ],
)
def test_split_steps(body, steps):
    assert split_steps(body) == steps
