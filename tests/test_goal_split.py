"""Goal splitting (AND nodes): independence detection, focused proofs, and searches with and without products."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Hashable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search import SearchConfig, SearchStatus, search
from search.goal_split import combine, focused, mentions_metavariable, splittable
from search.testing import (
    PROOF,
    STATE,
    Move,
    ProductSpace,
    ScriptedPolicy,
    SyntheticEnv,
    SyntheticSpace,
    TableSpace,
    chain_space,
    deep_space,
    generated_space,
    random_space,
)
from search.tree import SearchTree

CONFIG = SearchConfig(budget_s=30, debug=True, width=16)


def run(space: SyntheticSpace, *, split: bool, accept=None, config: SearchConfig = CONFIG, latency: float = 0.0):  # type: ignore[no-untyped-def]
    env = SyntheticEnv(space, latency=latency, jitter=1.0 if latency else 0.0)
    policy = ScriptedPolicy(space)
    result = asyncio.run(search(env, policy, env.root_state(), config, accept=accept, focus=env if split else None))
    return result


def replay(space: ProductSpace, script: Sequence[str]) -> bool:
    """An independent checker of a proof on a product space: run each tactic; `·` closes the main goal alone."""

    def block(name: Hashable, lines: list[str]) -> Hashable:
        i = 0
        while i < len(lines):
            line = lines[i]
            if name == "closed":
                raise AssertionError(f"tactic {line!r} after the proof is finished")
            if line.startswith("· "):
                body = [line[2:]]
                i += 1
                while i < len(lines) and lines[i].startswith("  "):
                    body.append(lines[i][2:])
                    i += 1
                assert isinstance(name, tuple), "a bullet needs several goals"
                main = next(j for j, c in enumerate(name) if c is not None)
                alone = tuple(c if j == main else None for j, c in enumerate(name))
                if block(alone, body) != "closed":
                    raise AssertionError("a bullet left its goal open")
                name = tuple(None if j == main else c for j, c in enumerate(name))
                if all(c is None for c in name):
                    name = "closed"
                continue
            move = space.move(name, line.strip())
            if move is None or move.kind not in (STATE, PROOF):
                raise AssertionError(f"{line!r} fails at {name!r}")
            name = "closed" if move.kind == PROOF else move.to
            i += 1
        return name

    lines = [line for tactic in script for line in tactic.splitlines()]
    return block(space.root, lines) == "closed"


# ---- independence and focusing -------------------------------------------------------------------------------


def test_metavariables_in_goal_text() -> None:
    assert mentions_metavariable("x : ℕ\n⊢ ?w + 1 = 3")
    assert mentions_metavariable("⊢ f ?m.123 = 0")
    assert mentions_metavariable("⊢ Sort ?u.7")
    assert not mentions_metavariable("h? : x = 1\n⊢ x = 1")  # `?` inside an identifier
    assert not mentions_metavariable("⊢ a ≤ b ∨ b ≤ a")
    # refine ⟨?w, ?_⟩: the witness goal is tagged `case w` and the other mentions ?w: the state stays whole
    assert not splittable(("case w\n⊢ ℕ", "case h\n⊢ ?w + 1 = 3"))
    assert splittable(("case left\n⊢ 1 = 1", "case right\n⊢ 2 = 2"))
    assert not splittable(("⊢ 1 = 1",))


def test_focused_blocks_indent_every_line() -> None:
    assert focused(["intro x", "cases x with\n| inl h => simp\n| inr h => omega"]) == (
        "· intro x\n  cases x with\n  | inl h => simp\n  | inr h => omega"
    )
    assert combine([["simp"], ["· simp\n  ring", "omega"]]) == ("· simp", "· · simp\n    ring\n  omega")
    with pytest.raises(ValueError):
        focused([])


# ---- searches on products ------------------------------------------------------------------------------------


def test_split_search_proves_a_product_in_far_fewer_expansions() -> None:
    space = ProductSpace([deep_space(3), deep_space(3)])
    plain = run(space, split=False, config=SearchConfig(budget_s=120, width=16))  # ~300 expansions: no debug checks
    split = run(space, split=True)
    assert plain.status is split.status is SearchStatus.PROVED
    assert split.stats.goal_splits == 1 and plain.stats.goal_splits == 0
    assert split.stats.expansions * 5 < plain.stats.expansions
    assert split.proof == ("constructor", "· step 0\n  step 1\n  step 2\n  qed", "· step 0\n  step 1\n  step 2\n  qed")
    assert replay(space, split.proof) and replay(space, plain.proof)
    # the proof path gives (focused state, tactic) steps, focus markers left out
    assert [step.tactic for step in split.proof_path] == ["constructor", *["step 0", "step 1", "step 2", "qed"] * 2]


def test_splits_while_other_runs_are_in_flight() -> None:
    # With latency, runners interleave: the parent's last run may finish while a split awaits the environment.
    space = ProductSpace([deep_space(2), chain_space(2), chain_space(1)])
    for concurrency in (1, 4):
        result = run(space, split=True, config=SearchConfig(budget_s=30, debug=True, width=16, concurrency=concurrency),
                     latency=0.001)
        assert result.status is SearchStatus.PROVED and replay(space, result.proof)


def test_the_hook_sees_only_the_combined_proof_and_a_rejection_reports_nothing() -> None:
    space = ProductSpace([chain_space(2), chain_space(1)])
    seen: list[tuple[str, ...]] = []

    async def reject(proof: tuple[str, ...]) -> bool:
        seen.append(proof)
        return False

    result = run(space, split=True, accept=reject)
    assert seen == [("constructor", "· step 0\n  step 1\n  qed", "· step 0\n  qed")]
    assert result.status is not SearchStatus.PROVED and result.proof == ()
    assert "combined proof" in result.error

    async def check(proof: tuple[str, ...]) -> bool:
        return replay(space, proof)

    assert run(space, split=True, accept=check).proof == seen[0]


def test_one_unprovable_goal_fails_the_and_node_at_once() -> None:
    dead = TableSpace({"d0": [Move("simp", -0.1, kind="error")]}, "d0")
    space = ProductSpace([deep_space(4), dead])
    result = run(space, split=True)
    assert result.status is SearchStatus.FAILED and result.stats.expansions <= 4


def test_goals_sharing_a_metavariable_stay_together() -> None:
    def witness_goals(name: Hashable) -> tuple[str, ...]:
        return (f"⊢ P ?w {name}",)

    parts = [TableSpace(chain_space(2).table, "s0", witness_goals), TableSpace(chain_space(1).table, "s0", witness_goals)]
    space = ProductSpace(parts)
    plain, split = run(space, split=False), run(space, split=True)
    assert split.stats.goal_splits == 0
    assert split.proof == plain.proof and split.stats.expansions == plain.stats.expansions
    assert replay(space, split.proof)


def test_split_tree_round_trips_through_json() -> None:
    space = ProductSpace([deep_space(2), chain_space(1)])
    tree = run(space, split=True).tree
    assert tree is not None
    again = SearchTree.from_json(json.loads(json.dumps(tree.to_json())))
    again.check_invariants()
    assert again.proof_script()[0] == tree.proof_script()[0]
    assert tree.to_json()["proof"] == list(tree.proof_script()[0])


# ---- properties ------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.booleans())
def test_never_a_wrong_proof_and_the_same_verdict_as_plain_search(seed_a: int, seed_b: int, third: bool) -> None:
    parts = [random_space(seed_a, 8, 3, p_proof=0.15), random_space(seed_b, 8, 3, p_proof=0.15)]
    if third:
        parts.append(chain_space(1))
    space = ProductSpace(parts)
    config = SearchConfig(budget_s=30, debug=True, width=64)
    plain, split = run(space, split=False, config=config), run(space, split=True, config=config)
    provable = all(part.proof_exists() for part in parts)
    assert (plain.status is SearchStatus.PROVED) == provable == (split.status is SearchStatus.PROVED)
    if provable:
        assert replay(space, split.proof) and replay(space, plain.proof)
        assert split.stats.expansions <= plain.stats.expansions


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_same_proofs_as_plain_search_without_products(seed: int) -> None:
    for space in (random_space(seed, 20, 4, p_proof=0.05), generated_space(seed, 4, p_proof=0.02)):
        config = SearchConfig(budget_s=30, debug=True, max_expansions=60)
        plain, split = run(space, split=False, config=config), run(space, split=True, config=config)
        assert split.proof == plain.proof
        assert split.stats.expansions == plain.stats.expansions and split.stats.goal_splits == 0


# ---- on Lean (the fake REPL) from the CLI ----------------------------------------------------------------------


def test_split_goals_from_the_cli_proves_each_goal_in_its_own_state() -> None:
    from tests.test_cli import prove_json

    statement = "theorem split_me (p q : Prop) (hp : p) (hq : q) : p ∧ q := by sorry"
    code, out = prove_json(statement, "cli_split.json", "--split-goals", "--width", "32")
    assert code == 0 and out["verdict"] == "verified", out
    assert out["proof"] == "constructor\n· tauto\n· tauto" and out["stats"]["goal_splits"] == 1
    code, plain = prove_json(statement, "cli_split.json", "--width", "32")
    assert code == 0 and plain["proof"] == "constructor\ntauto\ntauto" and plain["stats"]["goal_splits"] == 0
