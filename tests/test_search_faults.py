"""Tactics that time out, crash or loop; environments, policies and hooks that fail; cancellation."""

from __future__ import annotations

import asyncio

import pytest

from search import SearchConfig, SearchStatus, StopReason, search
from search.errors import SearchError
from search.outcomes import ProofGivenUp
from search.testing import (
    CRASH,
    ERROR,
    FAULT,
    PROOF,
    TIMEOUT,
    EnvFault,
    Move,
    ScriptedPolicy,
    SyntheticEnv,
    TableSpace,
    chain_space,
    solve,
)
from search.tree import Status

DEBUG = SearchConfig(budget_s=30, debug=True)


def test_timeouts_and_crashes_fail_their_edge_and_the_search_goes_on() -> None:
    table = {
        "r": [Move("hang", -0.1, kind=TIMEOUT), Move("boom", -0.2, kind=CRASH), Move("ok", -0.5, "s")],
        "s": [Move("hang2", -0.1, kind=TIMEOUT), Move("qed", -0.3, kind=PROOF)],
    }
    space = TableSpace(table, "r")
    env = SyntheticEnv(space)
    seen_timeouts = []
    run_tac = env.run_tac

    async def spy(state, tactic, timeout=None):  # type: ignore[no-untyped-def]
        seen_timeouts.append(timeout)
        return await run_tac(state, tactic, timeout)

    env.run_tac = spy  # type: ignore[method-assign]
    config = DEBUG.with_(tactic_timeout=2.0)
    result = asyncio.run(search(env, ScriptedPolicy(space), env.root_state(), config))
    assert result.proof == ("ok", "qed")
    assert set(seen_timeouts) == {2.0}
    # The hanging tactics were still running when "qed" proved the theorem: they were cancelled, not waited for.
    assert result.stats.env_calls == 5 and result.stats.env_given_up == 1
    assert result.stats.seconds_total < 1.0
    failed = {(edge.tactic, edge.outcome) for edge in result.failed_edges()}
    assert failed == {("boom", "given_up")}
    assert all(edge.state_before == space.state("r") for edge in result.failed_edges())


def test_a_timed_out_tactic_takes_its_timeout_and_fails() -> None:
    table = {"r": [Move("hang", -0.1, kind=TIMEOUT), Move("ok", -0.5, "s")], "s": [Move("no", -0.1, kind=ERROR)]}
    result, _, _ = solve(TableSpace(table, "r"), DEBUG.with_(tactic_timeout=0.05))
    assert result.stop_reason is StopReason.ROOT_FAILED
    hang = next(e for e in result.tree.iter_edges() if e.tactic == "hang")
    assert hang.outcome == "given_up" and hang.seconds >= 0.04 and isinstance(hang.result, ProofGivenUp)


def test_tactics_that_loop_back_are_cycles_not_progress() -> None:
    table = {
        "r": [Move("noop", -0.01, "r"), Move("a", -0.1, "a")],
        "a": [Move("undo", -0.01, "r"), Move("same", -0.02, "a"), Move("b", -0.3, "b")],
        "b": [Move("to_a", -0.01, "a"), Move("qed", -0.5, kind=PROOF)],
    }
    result, _, _ = solve(TableSpace(table, "r"))
    assert result.proof == ("a", "b", "qed")
    assert result.stats.env_cycles == 4
    assert {e.tactic for e in result.failed_edges() if e.outcome == "cycle"} == {"noop", "undo", "same", "to_a"}
    assert result.stats.nodes == 3


def test_a_state_with_only_looping_tactics_fails() -> None:
    table = {"r": [Move("noop", -0.1, "r"), Move("a", -0.1, "a")], "a": [Move("back", -0.1, "r")]}
    result, _, _ = solve(TableSpace(table, "r"))
    assert result.stop_reason is StopReason.ROOT_FAILED


def test_environment_fault_ends_the_search_with_error() -> None:
    table = {"r": [Move("x", -0.1, "s")], "s": [Move("bad", -0.1, kind=FAULT)]}
    result, _, _ = solve(TableSpace(table, "r"))
    assert result.status is SearchStatus.ERROR and result.stop_reason is StopReason.ERROR
    assert isinstance(result.exception, EnvFault) and "EnvFault" in result.error
    assert result.tree is not None and result.stats.env_calls == 2


def test_policy_fault_ends_the_search_with_error() -> None:
    space = chain_space(3)

    class Broken(ScriptedPolicy):
        async def propose(self, requests, sampling):  # type: ignore[no-untyped-def]
            if self.calls == 2:
                raise ConnectionError("model server went away")
            return await super().propose(requests, sampling)

    env = SyntheticEnv(space)
    result = asyncio.run(search(env, Broken(space), env.root_state(), DEBUG))
    assert result.status is SearchStatus.ERROR and isinstance(result.exception, ConnectionError)
    assert "model server went away" in result.error


def test_hook_fault_ends_the_search_with_error() -> None:
    async def hook(proof: tuple[str, ...]) -> bool:
        raise TimeoutError("verifier died")

    result, _, _ = solve(chain_space(1), accept=hook)
    assert result.status is SearchStatus.ERROR and isinstance(result.exception, TimeoutError)


def test_protocol_violations_raise() -> None:
    space = chain_space(1)

    class Garbage(SyntheticEnv):
        async def run_tac(self, state, tactic, timeout=None):  # type: ignore[no-untyped-def]
            return "no goals"

    env = Garbage(space)
    with pytest.raises(SearchError, match="not a TacticResult"):
        asyncio.run(search(env, ScriptedPolicy(space), env.root_state(), DEBUG))

    class Short(ScriptedPolicy):
        async def propose(self, requests, sampling):  # type: ignore[no-untyped-def]
            return []

    env = SyntheticEnv(space)
    with pytest.raises(SearchError, match="candidate lists"):
        asyncio.run(search(env, Short(space), env.root_state(), DEBUG))


def test_cancelling_the_search_cancels_its_work() -> None:
    space = TableSpace({"r": [Move(f"t{j}", -0.1, kind=TIMEOUT) for j in range(4)]}, "r")

    async def main() -> None:
        env = SyntheticEnv(space, timeout_cost=30)
        task = asyncio.create_task(search(env, ScriptedPolicy(space), env.root_state(), SearchConfig(budget_s=60)))
        await asyncio.sleep(0.05)
        assert env.in_flight == 4
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert env.in_flight == 0
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []

    asyncio.run(main())


def test_hanging_tactics_are_cut_at_the_deadline() -> None:
    space = TableSpace({"r": [Move("hang", -0.1, kind=TIMEOUT)]}, "r")
    result, env, _ = solve(space, SearchConfig(budget_s=0.1, tactic_timeout=30))
    assert result.stop_reason is StopReason.TIMEOUT and result.stats.seconds_total < 2
    assert env.in_flight == 0


def test_a_proof_being_checked_at_the_deadline_is_kept() -> None:
    async def slow_check(proof: tuple[str, ...]) -> bool:
        await asyncio.sleep(0.3)
        return True

    result, _, _ = solve(chain_space(1), SearchConfig(budget_s=0.1), accept=slow_check)
    assert result.proved and result.stop_reason is StopReason.PROVED
    assert result.stats.seconds_accept >= 0.25
    result.tree.check_invariants()


def test_failed_edges_keep_leans_error() -> None:
    table = {"r": [Move("linarith", -0.1, kind=ERROR), Move("qed", -0.5, kind=PROOF)]}
    result, _, _ = solve(TableSpace(table, "r"))
    [edge] = result.failed_edges()
    assert edge.tactic == "linarith" and "'linarith' failed" in edge.error and edge.outcome == "error"
    assert edge.state_before.goals == TableSpace(table, "r").goals("r")
    assert result.root_status is Status.PROVED
    assert result.failed_edges(limit=0) == []
