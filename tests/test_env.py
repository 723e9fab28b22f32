"""ProofEnvironment against the FAKE REPL's scenarios: outcomes, statement errors, and recovery by replay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fake_repl import fake_command
from prover.config import LeanConfig
from prover.errors import StatementError
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.statement import Statement
from search.errors import SearchError
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticState
from search.protocols import Env

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
T1 = "theorem t1 (x : ℕ) : x + 0 = x := by sorry"
T_CRASH = "theorem t_crash : 5 ^ 999999 % 7 = 6 := by sorry"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def pool_for(scenario: str, workers: int = 1, *args: str) -> ReplPool:
    config = LeanConfig(project_dir=ROOT, repl_command=fake_command("--scenario", scenario, *args), workers=workers)
    return ReplPool(config, "import Mathlib")


def test_provable_statement_outcomes() -> None:
    async def go() -> None:
        async with pool_for("provable") as pool:
            env = ProofEnvironment(pool, Statement.parse(T1))
            assert isinstance(env, Env)
            root = await env.start()
            assert root == TacticState(goals=("x : ℕ\n⊢ x + 0 = x",), id=0)
            assert await env.start() is root
            assert isinstance(await env.run_tac(root, "exact h"), LeanError)
            assert isinstance(await env.run_tac(root, "exact my_fake_premise"), LeanError)  # error + state
            assert isinstance(await env.run_tac(root, "exact Nat.lt_irrefl _ ?_"), LeanError)  # metavariables
            assert isinstance(await env.run_tac(root, "sorry"), LeanError)
            assert isinstance(await env.run_tac(root, "no_such_tactic"), LeanError)
            step = await env.run_tac(root, "rw [Nat.add_comm]")
            assert isinstance(step, TacticState) and step.goals == ("x : ℕ\n⊢ 0 + x = x",) and step.id != root.id
            done = await env.run_tac(step, "exact Nat.zero_add x")
            assert isinstance(done, ProofFinished)
            assert env.tactics_to(done.id) == ("rw [Nat.add_comm]", "exact Nat.zero_add x")
            assert isinstance(await env.run_tac(root, "simp"), ProofFinished)
            assert env.stats.replays == 0 and env.stats.lean_calls == 9 and env.stats.seconds_lean > 0

    run(go())


def test_unprovable_statement_never_finishes() -> None:
    async def go() -> None:
        async with pool_for("unprovable") as pool:
            env = ProofEnvironment(pool, Statement.parse("theorem t_false : 1 = 2 := by sorry"))
            root = await env.start()
            results = [await env.run_tac(root, t) for t in ("norm_num", "decide", "rfl", "omega", "simp")]
            assert all(isinstance(r, LeanError) for r in results[:4])
            false = results[4]
            assert isinstance(false, TacticState) and false.goals == ("⊢ False",)
            for tactic in ("simp", "omega", "contradiction", "norm_num"):
                assert isinstance(await env.run_tac(false, tactic), LeanError)

    run(go())


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("theorem t_err : foo = 1 := by sorry", "does not elaborate: unknown identifier 'foo'"),
        ("theorem t_two : True := by sorry", "2 sorries"),
        ("theorem t_none : True := by sorry", "0 sorries"),
        ("theorem t_unknown : True := by sorry", "does not elaborate"),
    ],
)
def test_statement_errors_carry_leans_messages(text: str, match: str) -> None:
    async def go() -> None:
        async with pool_for("statements") as pool:
            env = ProofEnvironment(pool, Statement.parse(text))
            with pytest.raises(StatementError, match=match) as info:
                await env.start()
            if "t_err" in text:
                assert info.value.messages[0] == "unknown identifier 'foo'"
            ok = ProofEnvironment(pool, Statement.parse("theorem t_ok (a b : ℕ) : a + b = b + a := by sorry"))
            assert isinstance(await ok.run_tac(await ok.start(), "omega"), ProofFinished)  # the pool is unharmed

    run(go())


def test_crash_gives_up_then_the_env_recovers_by_replay() -> None:
    async def go() -> None:
        async with pool_for("crash") as pool:
            env = ProofEnvironment(pool, Statement.parse(T_CRASH))
            root = await env.start()
            s1 = await env.run_tac(root, "simp only [Nat.pow_mod]")
            assert isinstance(s1, TacticState)
            crashed = await env.run_tac(s1, "norm_num")  # exit 137 in the fake
            assert isinstance(crashed, ProofGivenUp) and crashed.reason.startswith("crash:")
            assert env.stats.crashes == 1 and env.stats.restarts == 1
            # s1 lived on the dead process: it is rebuilt (root + one tactic) on the replacement.
            finished = await env.run_tac(s1, "slow_simp")
            assert isinstance(finished, ProofFinished)
            assert env.stats.replays == 2
            # The replayed state is the original one: the same tactic from the root gives the same goals.
            again = await env.run_tac(root, "simp only [Nat.pow_mod]")
            assert isinstance(again, TacticState) and again.goals == s1.goals
            stack = await env.run_tac(root, "norm_num")  # exit 139: a stack overflow
            assert isinstance(stack, ProofGivenUp) and "139" in stack.reason
            assert isinstance(await env.run_tac(root, "rfl"), LeanError)
            assert pool.restarts == 2

    run(go())


def test_timeout_gives_up_and_the_env_stays_usable() -> None:
    async def go() -> None:
        async with pool_for("crash") as pool:
            env = ProofEnvironment(pool, Statement.parse(T_CRASH), tactic_timeout=0.5)
            root = await env.start()
            started = time.monotonic()
            hung = await env.run_tac(root, "decide")  # hangs in the fake
            assert hung == ProofGivenUp("timeout") and time.monotonic() - started < 3
            assert env.stats.timeouts == 1
            s1 = await env.run_tac(root, "simp only [Nat.pow_mod]")
            assert isinstance(s1, TacticState)
            assert await env.run_tac(s1, "slow_simp", timeout=0.1) == ProofGivenUp("timeout")
            assert isinstance(await env.run_tac(s1, "slow_simp", timeout=5), ProofFinished)
            assert env.stats.timeouts == 2 and env.stats.replays >= 2

    run(go())


def test_huge_states_and_garbage() -> None:
    async def go() -> None:
        async with pool_for("crash") as pool:
            env = ProofEnvironment(pool, Statement.parse(T_CRASH), tactic_timeout=20)
            s1 = await env.run_tac(await env.start(), "simp only [Nat.pow_mod]")
            assert isinstance(s1, TacticState)
            big = await env.run_tac(s1, "big_simp")  # a 10 MB answer
            assert isinstance(big, TacticState) and big.goals == ("⊢ 5 ^ 999999 % 7 = 6 ∧ True",)
            garbage = await env.run_tac(s1, "garbage")
            assert isinstance(garbage, ProofGivenUp) and "protocol broken" in garbage.reason
            assert isinstance(await env.run_tac(big, "unknown"), LeanError)  # rebuilt through s1

    run(go())


def test_states_are_rebuilt_on_another_worker() -> None:
    async def go() -> None:
        async with pool_for("provable", workers=2) as pool:
            env = ProofEnvironment(pool, Statement.parse(T1))
            root = await env.start()
            step = await env.run_tac(root, "rw [Nat.add_comm]")
            assert isinstance(step, TacticState)
            (holder,) = [w for w in pool._live if env._held.get(w)]
            async with pool.acquire(prefer=lambda w: w is holder) as busy:  # keep the holder busy
                assert busy is holder
                done = await env.run_tac(step, "simp")
            assert isinstance(done, ProofFinished)
            assert env.stats.replays == 2  # root + `rw` on the other worker
            assert all(step.id in held for held in env._held.values())
            # Later calls prefer a worker that holds the state: no more replays.
            for _ in range(4):
                assert isinstance(await env.run_tac(step, "simp"), ProofFinished)
            assert env.stats.replays == 2

    run(go())


def test_a_diverging_replay_gives_up_instead_of_lying() -> None:
    async def go() -> None:
        async with pool_for("provable") as pool:
            env = ProofEnvironment(pool, Statement.parse(T1))
            root = await env.start()
            step = await env.run_tac(root, "rw [Nat.add_comm]")
            assert isinstance(step, TacticState)
            node = env._nodes[step.id]
            env._nodes[step.id] = type(node)(node.parent, node.tactic, ("something else",))
            env._held.clear()  # as if the worker had died
            result = await env.run_tac(step, "simp")
            assert isinstance(result, ProofGivenUp) and result.reason.startswith("replay failed")

    run(go())


@pytest.mark.parametrize("workers", [1, 2])
def test_many_tactics_in_flight(workers: int) -> None:
    async def go() -> None:
        async with pool_for("provable", workers) as pool:
            env = ProofEnvironment(pool, Statement.parse(T1))
            root = await env.start()
            step = await env.run_tac(root, "induction x")
            assert isinstance(step, TacticState)
            jobs = [(root, "simp"), (root, "exact h"), (root, "rw [Nat.add_comm]"), (step, "rfl")] * 8
            results = await asyncio.gather(*(env.run_tac(s, t) for s, t in jobs))
            for (_, tactic), result in zip(jobs, results):
                expected = {
                    "simp": ProofFinished,
                    "exact h": LeanError,
                    "rw [Nat.add_comm]": TacticState,
                    "rfl": TacticState,
                }
                assert isinstance(result, expected[tactic])
            ids = [r.id for r in results if isinstance(r, (TacticState, ProofFinished))]
            assert len(ids) == len(set(ids))  # every new state has its own handle

    run(go())


def test_foreign_states_are_refused() -> None:
    async def go() -> None:
        async with pool_for("provable") as pool:
            env = ProofEnvironment(pool, Statement.parse(T1))
            with pytest.raises(SearchError):
                await env.run_tac(TacticState(goals=("⊢ True",), id=0), "simp")  # before start()
            await env.start()
            with pytest.raises(SearchError):
                await env.run_tac(TacticState(goals=("⊢ True",), id=99), "simp")
            assert isinstance(await env.run_tac(await env.start(), "bad \ud800"), LeanError)

    run(go())
