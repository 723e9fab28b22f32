"""The optional LeanDojo backend: the import guard always; the outcome mapping and the environment's restart and
replay logic on LeanDojo objects built by hand, driven by a stand-in Dojo (needs lean-dojo installed: extra `dojo`)."""

from __future__ import annotations

import asyncio
import builtins
import sys
from typing import Any, ClassVar

import pytest

from prover.errors import EnvironmentProblem
from prover.lean import dojo_env
from prover.lean.dojo_env import DojoEnvironment, import_lean_dojo, map_dojo_result, split_goals
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticState


def test_a_missing_lean_dojo_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lean_dojo", None)  # makes `import lean_dojo` raise ImportError
    with pytest.raises(EnvironmentProblem) as info:
        import_lean_dojo()
    assert "lean-dojo" in info.value.fix and info.value.exit_code == 3
    with pytest.raises(EnvironmentProblem):
        DojoEnvironment.from_repo("https://example.invalid/repo", "0" * 40, "A.lean", "a")


def test_a_failing_import_is_an_environment_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def offline_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "lean_dojo":
            raise ConnectionError("api.github.com unreachable")  # what a set GITHUB_ACCESS_TOKEN does offline
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "lean_dojo", raising=False)
    monkeypatch.setattr(builtins, "__import__", offline_import)
    with pytest.raises(EnvironmentProblem) as info:
        import_lean_dojo()
    assert "GITHUB_ACCESS_TOKEN" in str(info.value) and "GITHUB_ACCESS_TOKEN" in info.value.fix


def test_split_goals() -> None:
    assert split_goals("x : ℕ\n⊢ x = x\n\ncase h\n⊢ True") == ("x : ℕ\n⊢ x = x", "case h\n⊢ True")
    assert split_goals("") == ()


# --------------------------------------------------------------------------------- with lean-dojo installed


def _lean_dojo() -> Any:
    try:
        return import_lean_dojo()
    except EnvironmentProblem as exc:
        pytest.skip(f"lean-dojo is not usable here (extra `dojo`): {exc}")


@pytest.fixture
def ld() -> Any:
    return _lean_dojo()


def test_mapping_of_every_lean_dojo_outcome(ld: Any) -> None:
    state = map_dojo_result(ld.TacticState("x : ℕ\n⊢ x + 0 = x\n\ncase h\n⊢ True", 7, "a warning"), 3)
    assert state == TacticState(goals=("x : ℕ\n⊢ x + 0 = x", "case h\n⊢ True"), id=3)
    assert state.messages == ("a warning",)
    assert map_dojo_result(ld.ProofFinished(8, None), 4) == ProofFinished(id=4, message="")
    assert map_dojo_result(ld.LeanError("unknown identifier 'h'"), 5) == LeanError("unknown identifier 'h'")
    gave_up = map_dojo_result(ld.ProofGivenUp(), 6)  # LeanDojo's answer to a tactic that used sorry
    assert isinstance(gave_up, LeanError) and "sorry" in gave_up.error
    with pytest.raises(TypeError):
        map_dojo_result(object(), 1)


ROOT = "x : ℕ\n⊢ x + 0 = x"
MID = "x : ℕ\n⊢ 0 + x = x"


class StandInDojo:
    """Plays `with Dojo(theorem, timeout=…) as (dojo, init_state)` with real LeanDojo result objects."""

    entered: ClassVar[list[StandInDojo]] = []

    def __init__(self, ld: Any, theorem: Any, timeout: int) -> None:
        self.ld, self.theorem, self.timeout = ld, theorem, timeout
        self.calls: list[str] = []
        self.next_sid = 1
        self.closed = False

    def __enter__(self) -> tuple[StandInDojo, Any]:
        StandInDojo.entered.append(self)
        return self, self.ld.TacticState(ROOT, 0)

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def run_tac(self, state: Any, tactic: str) -> Any:
        ld = self.ld
        self.calls.append(tactic)
        if tactic == "sleep 100000":
            raise ld.DojoTacticTimeoutError()
        if tactic == "congr 1":
            raise ld.DojoCrashError("Unexpected EOF")
        self.next_sid += 1
        table = {
            (ROOT, "rw [Nat.add_comm]"): ld.TacticState(MID, self.next_sid),
            (MID, "exact Nat.zero_add x"): ld.ProofFinished(self.next_sid, None),
            (ROOT, "sorry"): ld.ProofGivenUp(),
        }
        return table.get((state.pp, tactic), ld.LeanError(f"unknown tactic {tactic}"))


def make_env(ld: Any) -> DojoEnvironment:
    StandInDojo.entered = []
    return DojoEnvironment("theorem-handle", tactic_timeout=2.5, dojo_factory=lambda thm, t: StandInDojo(ld, thm, t))


def test_the_environment_maps_steps_and_keeps_handles_stable(ld: Any) -> None:
    async def scenario() -> None:
        async with make_env(ld) as env:
            root = await env.start()
            assert root == TacticState(goals=(ROOT,), id=0)
            mid = await env.run_tac(root, "rw [Nat.add_comm]")
            assert isinstance(mid, TacticState) and mid.goals == (MID,) and mid.id != 0
            again = await env.run_tac(root, "rw [Nat.add_comm]")
            assert again == mid and again.id == mid.id  # the same path is the same handle
            assert isinstance(await env.run_tac(mid, "exact Nat.zero_add x"), ProofFinished)
            assert isinstance(await env.run_tac(root, "linarith"), LeanError)
            assert isinstance(await env.run_tac(root, "sorry"), LeanError)
            assert env.stats.lean_calls == 5 and env.stats.restarts == 0
        assert StandInDojo.entered[0].timeout == 3 and StandInDojo.entered[0].closed

    asyncio.run(scenario())


@pytest.mark.parametrize("fault, reason", [("sleep 100000", "timeout"), ("congr 1", "crash")])
def test_a_timeout_or_crash_gives_up_then_states_are_replayed(ld: Any, fault: str, reason: str) -> None:
    async def scenario() -> None:
        env = make_env(ld)
        root = await env.start()
        mid = await env.run_tac(root, "rw [Nat.add_comm]")
        assert isinstance(mid, TacticState)
        gave_up = await env.run_tac(mid, fault)
        assert isinstance(gave_up, ProofGivenUp) and gave_up.reason.startswith(reason)
        assert StandInDojo.entered[0].closed
        done = await env.run_tac(mid, "exact Nat.zero_add x")  # mid lives only in the dead Dojo: replayed
        assert isinstance(done, ProofFinished)
        assert len(StandInDojo.entered) == 2 and StandInDojo.entered[1].calls == ["rw [Nat.add_comm]", "exact Nat.zero_add x"]
        assert env.stats.restarts == 1 and env.stats.replays == 1
        assert (env.stats.timeouts, env.stats.crashes) == ((1, 0) if reason == "timeout" else (0, 1))
        await env.close()

    asyncio.run(scenario())


def test_an_unknown_state_is_refused(ld: Any) -> None:
    async def scenario() -> None:
        env = make_env(ld)
        await env.start()
        with pytest.raises(ValueError):
            await env.run_tac(TacticState(goals=("⊢ True",), id=99), "trivial")
        await env.close()

    asyncio.run(scenario())


def test_a_dojo_that_cannot_start_is_an_environment_problem(ld: Any) -> None:
    class Broken:
        def __enter__(self) -> None:
            raise ld.DojoInitError("Cannot find the *.ast.json file")

        def __exit__(self, *exc: object) -> None:
            pass

    env = DojoEnvironment("thm", dojo_factory=lambda thm, t: Broken())
    with pytest.raises(EnvironmentProblem) as info:
        asyncio.run(env.start())
    assert "ast.json" in str(info.value)


def test_the_backend_module_does_not_import_lean_dojo() -> None:
    assert "lean_dojo" not in vars(dojo_env)
