"""Best-first search on synthetic proof spaces: what it finds, in what order, and when it stops."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from search import SearchConfig, SearchStatus, StopReason, search
from search.outcomes import ProofFinished, TacticState
from search.testing import (
    ERROR,
    PROOF,
    FunctionSpace,
    Move,
    ScriptedPolicy,
    SyntheticEnv,
    TableSpace,
    chain_space,
    deep_space,
    solve,
)
from search.tree import Status

DEBUG = SearchConfig(budget_s=30, debug=True)


def test_chain_is_proved_with_its_path() -> None:
    result, env, _ = solve(chain_space(3))
    assert result.status is SearchStatus.PROVED and result.stop_reason is StopReason.PROVED
    assert result.proof == ("step 0", "step 1", "step 2", "qed")
    assert [step.tactic for step in result.proof_path] == list(result.proof)
    assert [step.state_before for step in result.proof_path] == [env.space.state(f"s{i}") for i in range(4)]
    assert isinstance(result.proof_path[-1].result, ProofFinished)
    assert result.proof_path[0].result == env.space.state("s1")
    assert result.root_status is Status.PROVED
    assert result.stats.expansions == 4 and result.stats.env_calls == 4 and result.stats.env_proofs == 1
    result.tree.check_invariants()


def _hidden_space() -> FunctionSpace:
    # The root has 6 failing tactics, 1 door into an infinite tree of likelier-looking states, and 1 unlikely
    # tactic that leads one step from the proof.
    def moves(name: object) -> list[Move]:
        if name == "root":
            return [
                *(Move(f"bad {j}", -0.1, kind=ERROR) for j in range(6)),
                Move("wander", -1.0, "w"),
                Move("right", -2.0, "p"),
            ]
        if name == "p":
            return [Move("nope", -0.1, kind=ERROR), Move("qed", -0.2, kind=PROOF)]
        return [Move(f"go {j}", -1.0, f"{name}{j}") for j in range(8)]

    return FunctionSpace(moves, "root")


def test_shallow_proof_hidden_among_many_wrong_branches() -> None:
    result, _, _ = solve(_hidden_space(), SearchConfig(budget_s=30, max_expansions=5000))
    assert result.proved
    assert result.proof == ("right", "qed")
    assert result.stats.env_errors >= 6
    assert 2 < result.stats.expansions < 1000


def test_deep_proof_found_in_budget_only_with_alpha() -> None:
    config = SearchConfig(budget_s=60, max_expansions=700)
    flat, _, _ = solve(deep_space(12), config.with_(alpha=0.0))
    assert not flat.proved and flat.stop_reason is StopReason.BUDGET and flat.status is SearchStatus.FAILED
    for alpha in (0.5, 1.0):
        normalised, _, _ = solve(deep_space(12), config.with_(alpha=alpha))
        assert normalised.proved, alpha
        assert normalised.proof == (*(f"step {i}" for i in range(12)), "qed")


def _grid_space(size: int) -> TableSpace:
    # States (i, j) on a grid; "right" and "down" reach each inner state along many paths; the corner proves.
    table = {}
    for i in range(size):
        for j in range(size):
            moves = []
            if i + 1 < size:
                moves.append(Move("down", -0.5, f"{i + 1}_{j}"))
            if j + 1 < size:
                moves.append(Move("right", -0.5, f"{i}_{j + 1}"))
            if (i, j) == (size - 1, size - 1):
                moves.append(Move("qed", -0.1, kind=PROOF))
            table[f"{i}_{j}"] = moves
    return TableSpace(table, "0_0")


def test_states_reached_by_many_paths_are_expanded_once() -> None:
    space = _grid_space(6)
    seen: list[object] = []

    async def reject(proof: tuple[str, ...]) -> bool:
        seen.append(proof)
        return False

    result, env, policy = solve(space, DEBUG.with_(concurrency=4), accept=reject)
    # Every state was asked about once and each tactic run once, though most states have two in-edges.
    expanded = Counter(name for name, _ in env.log)
    assert policy.requests == 36
    assert Counter(env.log).most_common(1)[0][1] == 1
    assert len(expanded) == 36
    assert result.stats.nodes == 36 and result.stats.duplicate_hits == 2 * 5 * 6 - 35
    assert result.stop_reason is StopReason.ROOT_FAILED and len(seen) == 1


def test_proof_follows_the_path_that_first_reached_the_proved_state() -> None:
    # m is created by the long path x, a1, c1; b (expanded before m, whose path is costly) then reaches it in two
    # steps. The REPL state at m is the long path's, so the proof must replay that path, not the shorter one.
    table = {
        "r": [Move("x", -0.1, "a"), Move("y", -3.0, "b")],
        "a": [Move("a1", -0.1, "c")],
        "c": [Move("c1", -10.0, "m")],
        "b": [Move("b1", -0.1, "m")],
        "m": [Move("done", -0.1, kind=PROOF)],
    }
    result, env, _ = solve(TableSpace(table, "r"), DEBUG.with_(concurrency=1))
    assert result.proved
    m = result.tree.node(result.tree.by_key[env.space.state("m").key])
    assert [edge.tactic for edge in m.in_edges] == ["c1", "b1"]
    assert result.proof == ("x", "a1", "c1", "done")
    assert [step.state_before for step in result.proof_path] == [env.space.state(n) for n in ("r", "a", "c", "m")]


def test_unprovable_finite_space_ends_root_failed() -> None:
    table = {
        "a": [Move("x", -0.1, "b"), Move("y", -0.2, "c"), Move("bad", -0.1, kind=ERROR)],
        "b": [Move("back", -0.1, "a"), Move("on", -0.1, "c")],
        "c": [Move("loop", -0.1, "c"), Move("b", -0.1, "b")],
    }
    result, _, _ = solve(TableSpace(table, "a"))
    assert result.status is SearchStatus.FAILED and result.stop_reason is StopReason.ROOT_FAILED
    assert result.root_status is Status.FAILED and result.proof == ()
    assert all(node.status is Status.FAILED for node in result.tree.iter_nodes())
    assert result.stats.env_cycles == 3


def test_unprovable_infinite_space_times_out_never_proves() -> None:
    space = FunctionSpace(lambda name: [Move(f"t{j}", -1.0, f"{name}.{j}") for j in range(3)], "r")
    start = time.monotonic()
    result, _, _ = solve(space, SearchConfig(budget_s=0.3), latency=0.001)
    elapsed = time.monotonic() - start
    assert result.status is SearchStatus.TIMEOUT and result.stop_reason is StopReason.TIMEOUT
    assert not result.proved and result.proof == ()
    assert 0.25 < elapsed < 3.0
    assert result.stats.seconds_total < 1.5


def test_zero_cost_env_still_respects_the_wall_clock() -> None:
    # An environment and policy that never suspend must not run past the budget (the timer cannot fire).
    space = FunctionSpace(lambda name: [Move(f"t{j}", -1.0, f"{name}.{j}") for j in range(2)], "r")
    start = time.monotonic()
    result, _, _ = solve(space, SearchConfig(budget_s=0.2))
    assert result.stop_reason is StopReason.TIMEOUT
    assert time.monotonic() - start < 2.0


def test_deadline_overrides_a_longer_budget() -> None:
    space = FunctionSpace(lambda name: [Move(f"t{j}", -1.0, f"{name}.{j}") for j in range(3)], "r")
    result, _, _ = solve(space, SearchConfig(budget_s=60), latency=0.001, deadline=time.monotonic() + 0.2)
    assert result.stop_reason is StopReason.TIMEOUT and result.stats.seconds_total < 2.0
    past, _, _ = solve(chain_space(2), SearchConfig(budget_s=60), deadline=time.monotonic() - 1)
    assert past.stop_reason is StopReason.TIMEOUT and past.stats.expansions == 0


def test_proof_found_on_the_last_expansion_is_kept() -> None:
    # The chain needs exactly 4 expansions; a cap of 4 must still report the proof.
    result, _, _ = solve(chain_space(3), DEBUG.with_(max_expansions=4))
    assert result.proved and result.stop_reason is StopReason.PROVED
    capped, _, _ = solve(chain_space(3), DEBUG.with_(max_expansions=3))
    assert capped.stop_reason is StopReason.BUDGET and capped.status is SearchStatus.FAILED
    assert capped.stats.expansions == 3


def test_proof_found_on_the_last_env_call_is_kept() -> None:
    result, _, _ = solve(chain_space(3), DEBUG.with_(max_env_calls=4))
    assert result.proved
    capped, env, _ = solve(chain_space(3), DEBUG.with_(max_env_calls=3))
    assert capped.stop_reason is StopReason.BUDGET and env.calls == 3
    capped.tree.check_invariants()


def test_verifier_hook_rejecting_the_first_proof_lets_the_search_find_another() -> None:
    table = {
        "r": [Move("a", -0.1, "x"), Move("b", -0.5, "y")],
        "x": [Move("fake", -0.1, kind=PROOF)],
        "y": [Move("real", -0.1, kind=PROOF)],
    }
    checked: list[tuple[str, ...]] = []

    async def accept(proof: tuple[str, ...]) -> bool:
        checked.append(proof)
        await asyncio.sleep(0.001)
        return proof != ("a", "fake")

    result, _, _ = solve(TableSpace(table, "r"), accept=accept)
    assert checked == [("a", "fake"), ("b", "real")]
    assert result.proved and result.proof == ("b", "real")
    assert result.stats.env_rejected == 1 and result.stats.env_proofs == 2 and result.stats.accept_calls == 2
    assert result.stats.env_by_outcome["proved"] == 1 and sum(result.stats.env_by_outcome.values()) == result.stats.env_calls
    [rejected] = result.failed_edges()
    assert rejected.outcome == "rejected" and rejected.tactic == "fake"


def test_hook_rejecting_everything_never_reports_proved() -> None:
    async def never(proof: tuple[str, ...]) -> bool:
        return False

    result, _, _ = solve(chain_space(2), accept=never)
    assert not result.proved and result.stop_reason is StopReason.ROOT_FAILED


def test_hook_must_return_true_exactly() -> None:
    async def truthy(proof: tuple[str, ...]) -> bool:
        return "yes"  # type: ignore[return-value]  # a wrong hook: a truthy non-bool is not an acceptance

    result, _, _ = solve(chain_space(1), accept=truthy)
    assert not result.proved


def test_banned_empty_and_duplicate_tactics_never_reach_the_env() -> None:
    table = {
        "r": [
            Move("sorry", -0.1, kind=PROOF),
            Move("  ", -0.1, kind=PROOF),
            Move("norm_num", -0.2, kind=ERROR),
            Move("norm_num ", -0.2, kind=ERROR),
            Move("native_decide", -0.3, kind=PROOF),
            Move("simp", -0.4, kind=PROOF),
        ]
    }
    result, env, _ = solve(TableSpace(table, "r"))
    ran = [tactic for _, tactic in env.log]
    assert ran == ["norm_num", "simp"]
    assert result.proof == ("simp",)
    stats = result.stats
    assert (stats.tactics_banned, stats.tactics_empty, stats.tactics_duplicate, stats.tactics_proposed) == (2, 1, 1, 6)


def test_width_caps_the_tactics_run_per_expansion() -> None:
    table = {"r": [Move(f"t{j}", -0.1 * j, kind=ERROR) for j in range(10)]}
    result, env, _ = solve(TableSpace(table, "r"), DEBUG.with_(width=3))
    assert env.calls == 3 and result.stop_reason is StopReason.ROOT_FAILED


def test_max_depth_stops_expansion_below_it() -> None:
    shallow, _, _ = solve(chain_space(3), DEBUG.with_(max_depth=3))
    assert not shallow.proved and shallow.stop_reason is StopReason.EXHAUSTED
    assert shallow.root_status is Status.OPEN
    enough, _, _ = solve(chain_space(3), DEBUG.with_(max_depth=4))
    assert enough.proved


def test_priority_orders_expansion() -> None:
    # Two branches; the likelier one is expanded first even though it was proposed second.
    table = {
        "r": [Move("low", -3.0, "l"), Move("high", -0.1, "h")],
        "l": [Move("x", -0.1, kind=ERROR)],
        "h": [Move("y", -0.1, kind=ERROR)],
    }
    _, env, _ = solve(TableSpace(table, "r"), DEBUG.with_(concurrency=1))
    assert [name for name, _ in env.log] == ["r", "r", "h", "l"]


def test_progress_is_reported() -> None:
    seen = []
    result, _, _ = solve(chain_space(5), DEBUG.with_(progress_interval_s=0.0), on_progress=seen.append)
    assert result.proved
    assert len(seen) >= 2
    assert seen[-1].expansions == result.stats.expansions and seen[-1].nodes == result.stats.nodes
    assert seen[-1].best_depth == 5
    assert [p.expansions for p in seen] == sorted(p.expansions for p in seen)


def test_policy_requests_carry_the_path_and_theorem_name() -> None:
    space = chain_space(2)
    env = SyntheticEnv(space)
    requests = []

    class Recording(ScriptedPolicy):
        async def propose(self, batch, sampling):  # type: ignore[no-untyped-def]
            requests.extend(batch)
            assert sampling.n == 5 and sampling.seed == 7
            return await super().propose(batch, sampling)

    config = SearchConfig(budget_s=10, width=5, seed=7)
    asyncio.run(search(env, Recording(space), env.root_state(), config, theorem_name="thm"))
    assert [r.tactics_so_far for r in requests] == [(), ("step 0",), ("step 0", "step 1")]
    assert {r.theorem_name for r in requests} == {"thm"}


def test_root_must_be_a_state() -> None:
    from search.errors import UsageError

    with pytest.raises(UsageError):
        asyncio.run(search(SyntheticEnv(chain_space(1)), ScriptedPolicy(chain_space(1)), "⊢ True", DEBUG))  # type: ignore[arg-type]


def test_stats_split_time_and_count_outcomes() -> None:
    result, _, _ = solve(
        _hidden_space(), SearchConfig(budget_s=30, max_expansions=200), latency=0.0005, policy_latency=0.0005
    )
    stats = result.stats
    assert stats.env_calls == sum(stats.env_by_outcome.values())
    assert stats.model_calls > 0 and stats.model_requests == stats.expansions
    assert sum(size * count for size, count in stats.batch_sizes) == stats.model_requests
    assert 0 < stats.seconds_model < stats.seconds_total and 0 < stats.seconds_env <= stats.seconds_total
    assert stats.seconds_search >= 0 and stats.seconds_env_calls >= stats.seconds_env * 0.99
    assert stats.to_json()["env_by_outcome"]["error"] == stats.env_errors


def test_result_is_frozen_and_serialisable() -> None:
    import dataclasses
    import json

    result, _, _ = solve(chain_space(2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = SearchStatus.FAILED  # type: ignore[misc]
    data = json.loads(json.dumps(result.to_json()))
    assert data["status"] == "proved" and data["proof"] == ["step 0", "step 1", "qed"]
    assert data["steps"][0]["state_after"] == TacticState(chain_space(2).goals("s1")).pp
