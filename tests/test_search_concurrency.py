"""Several expansions in flight: model calls batch, tactic runs overlap, limits hold; attempts; exports."""

from __future__ import annotations

import asyncio
import json

import networkx as nx
import pytest

from search import SearchConfig, SearchStatus, StopReason, search, search_attempts
from search.errors import UsageError
from search.testing import (
    ERROR,
    PROOF,
    FunctionSpace,
    Move,
    ScriptedPolicy,
    SeededPolicy,
    SyntheticEnv,
    TableSpace,
    chain_space,
    deep_space,
    generated_space,
    random_space,
    solve,
)
from search.tree import SearchTree


def _wide_space() -> FunctionSpace:
    # An infinite tree, width 4, no proof: every expansion has work for the environment.
    return FunctionSpace(lambda name: [Move(f"t{j}", -1.0 - 0.1 * j, f"{name}.{j}") for j in range(4)], "r")


def test_model_calls_batch_the_ready_expansions() -> None:
    config = SearchConfig(budget_s=30, width=4, concurrency=8, max_expansions=60)
    result, env, policy = solve(_wide_space(), config, latency=0.005, policy_latency=0.02)
    assert result.stop_reason is StopReason.BUDGET
    assert max(policy.batch_sizes) > 1
    assert policy.requests == result.stats.model_requests == result.stats.expansions
    assert result.stats.max_batch_size == max(policy.batch_sizes) <= 8
    assert result.stats.mean_batch_size > 1.5
    # The env saw several runs at once, never more than the expansions in flight allow.
    assert 4 < env.max_in_flight <= 8 * 4


def test_one_expansion_at_a_time_does_not_overlap_expansions() -> None:
    config = SearchConfig(budget_s=30, width=4, concurrency=1, max_expansions=10)
    _, env, policy = solve(_wide_space(), config, latency=0.002)
    assert set(policy.batch_sizes) == {1}
    assert env.max_in_flight == 4  # the tactics of the one expansion run concurrently


def test_env_concurrency_limits_tactic_runs_in_flight() -> None:
    config = SearchConfig(budget_s=30, width=4, concurrency=8, env_concurrency=3, max_expansions=20)
    _, env, _ = solve(_wide_space(), config, latency=0.002)
    assert env.max_in_flight == 3


def test_concurrency_speeds_up_a_slow_environment() -> None:
    one = SearchConfig(budget_s=30, width=4, concurrency=1, max_expansions=16)
    slow1, _, _ = solve(_wide_space(), one, latency=0.01)
    slow8, _, _ = solve(_wide_space(), one.with_(concurrency=8), latency=0.01)
    assert slow8.stats.seconds_total < slow1.stats.seconds_total / 2


def test_same_proof_with_any_concurrency_on_a_deterministic_space() -> None:
    proofs = set()
    for concurrency in (1, 2, 4, 8):
        result, _, _ = solve(deep_space(6), SearchConfig(budget_s=30, concurrency=concurrency, debug=True))
        assert result.proved
        proofs.add(result.proof)
    assert proofs == {(*(f"step {i}" for i in range(6)), "qed")}


def test_attempts_split_the_budget_and_stop_at_the_first_proof() -> None:
    space = deep_space(12)
    env = SyntheticEnv(space)
    # Attempt 0 (α = 0) runs out of its share of expansions; attempt 1 (α = 1) proves it.
    config = SearchConfig(budget_s=30, attempts=3, attempt_alphas=(0.0, 1.0), max_expansions=600, seed=5)
    result = asyncio.run(search_attempts(env, ScriptedPolicy(space), env.root_state(), config, theorem_name="deep"))
    assert result.proved and len(result.attempts) == 2
    first, second = result.attempts
    assert (first.alpha, first.seed, first.stop_reason) == (0.0, 5, StopReason.BUDGET)
    assert (second.alpha, second.seed, second.attempt) == (1.0, 6, 1)
    assert first.stats.expansions == 200  # 600 shared by 3 attempts
    assert result.stats.expansions == first.stats.expansions + second.stats.expansions
    assert result.proof == second.proof and result.attempt == 1 and result.theorem_name == "deep"
    assert result.failed_edges() == [*first.failed_edges(), *second.failed_edges()]


def test_attempts_share_the_wall_clock() -> None:
    space = _wide_space()
    env = SyntheticEnv(space, latency=0.002)
    # Shares of 0.5 s each leave room for a loaded CI machine's scheduling stalls without hiding an attempt
    # that takes the whole budget (which would leave the later ones nothing and fail the count).
    config = SearchConfig(budget_s=1.5, attempts=3)
    result = asyncio.run(search_attempts(env, ScriptedPolicy(space), env.root_state(), config))
    assert len(result.attempts) == 3 and result.status is SearchStatus.TIMEOUT
    assert all(0.1 < attempt.stats.seconds_total < 1.0 for attempt in result.attempts)
    assert result.stats.seconds_total < 2.5


def test_time_left_by_an_early_attempt_goes_to_the_next() -> None:
    space = TableSpace({"r": [Move("no", -0.1, kind=ERROR)]}, "r")  # every attempt fails at once
    env = SyntheticEnv(space)
    config = SearchConfig(budget_s=10, attempts=4)
    result = asyncio.run(search_attempts(env, ScriptedPolicy(space), env.root_state(), config))
    assert len(result.attempts) == 4 and result.stop_reason is StopReason.ROOT_FAILED


def test_one_attempt_is_a_plain_search() -> None:
    space = chain_space(2)
    env = SyntheticEnv(space)
    result = asyncio.run(search_attempts(env, ScriptedPolicy(space), env.root_state(), SearchConfig(budget_s=5)))
    assert result.proved and result.attempts == ()


def test_seeded_policy_is_deterministic_per_seed() -> None:
    space = generated_space(3, width=4)
    a = SeededPolicy(space, seed=1).candidates(space.root)
    b = SeededPolicy(space, seed=1).candidates(space.root)
    c = SeededPolicy(space, seed=2).candidates(space.root)
    assert a == b and a != c
    assert [x.logprob for x in a] == sorted((x.logprob for x in a), reverse=True)


def test_tree_exports_to_networkx_and_json() -> None:
    table = {
        "r": [Move("a", -0.1, "x"), Move("b", -0.2, "y"), Move("bad", -0.3, kind=ERROR)],
        "x": [Move("c", -0.1, "y"), Move("back", -0.1, "r")],
        "y": [Move("qed", -0.1, kind=PROOF)],
    }
    result, _, _ = solve(TableSpace(table, "r"), SearchConfig(budget_s=10, concurrency=1, debug=True))
    tree = result.tree
    graph = tree.to_networkx()
    assert isinstance(graph, nx.MultiDiGraph)
    states = [n for n, data in graph.nodes(data=True) if data["kind"] == "state"]
    assert len(states) == tree.num_nodes == result.stats.nodes
    assert graph.number_of_edges() == tree.num_edges == result.stats.env_calls
    edges = {data["tactic"]: (u, v, data) for u, v, data in graph.edges(data=True)}
    assert edges["bad"][2]["outcome"] == "error" and graph.nodes[edges["bad"][1]]["kind"] == "error"
    assert edges["qed"][2]["outcome"] == "proved"
    assert edges["back"][2]["outcome"] == "cycle" and edges["back"][1] == 0
    assert all(
        {"tactic", "logprob", "outcome", "seconds", "error"} <= set(data) for _, _, data in graph.edges(data=True)
    )
    # STATE edges alone form a DAG
    dag = nx.DiGraph((u, v) for u, v, data in graph.edges(data=True) if data["outcome"] == "state")
    assert nx.is_directed_acyclic_graph(dag)
    data = json.loads(json.dumps(tree.to_json()))
    assert data["proof"] == list(result.proof) and data["status"] == "proved"
    assert SearchTree.from_json(data).to_json() == data


def test_views_read_the_tree() -> None:
    result, _, _ = solve(chain_space(2))
    tree = result.tree
    root = tree.root
    assert root.depth == 0 and root.parent_edge is None and root.expanded
    [edge] = root.edges
    assert edge.src == root and edge.dst == tree.node(1) and edge.outcome == "state" and edge.error == ""
    assert tree.node(1).in_edges == [edge] and tree.node(1).parent_edge == edge
    assert tree.node(1).logprob == pytest.approx(-0.5) and tree.node(1).priority == pytest.approx(-0.5)
    assert tree.node(2).priority == pytest.approx(-1.0 / 2**0.5)


@pytest.mark.parametrize(
    "changes",
    [
        dict(width=0),
        dict(budget_s=0),
        dict(alpha=-1),
        dict(concurrency=0),
        dict(max_expansions=0),
        dict(attempt_alphas=()),
        dict(top_p=0),
        dict(tactic_timeout=0),
        dict(max_depth=0),
        dict(budget_s=float("inf")),
    ],
)
def test_config_rejects_bad_values(changes: dict) -> None:
    with pytest.raises(UsageError):
        SearchConfig(**changes)


def test_config_hash_tracks_what_changes_the_search() -> None:
    base = SearchConfig()
    assert base.config_hash() == SearchConfig().config_hash()
    assert base.config_hash() != base.with_(alpha=1.0).config_hash()
    assert base.config_hash() == base.with_(debug=True, progress_interval_s=3).config_hash()
    assert json.dumps(base.as_dict())


@pytest.mark.parametrize("seed", range(12))
def test_same_proving_steps_under_random_interleavings(seed: int) -> None:
    # Real concurrency: tactic runs of random lengths finish in varied orders. With every proof rejected the search
    # explores the whole space, and must find the same proving (state, tactic) pairs as one expansion at a time.
    space = random_space(seed, n_states=25, width=4, p_proof=0.08, p_back=0.3)

    def proving_steps(concurrency: int, latency: float) -> set[tuple[object, str]]:
        async def reject(proof: tuple[str, ...]) -> bool:
            return False

        env = SyntheticEnv(space, latency=latency, jitter=4.0, seed=seed)
        config = SearchConfig(budget_s=30, width=4, concurrency=concurrency, debug=True)
        result = asyncio.run(search(env, ScriptedPolicy(space), env.root_state(), config, accept=reject))
        assert result.stop_reason is StopReason.ROOT_FAILED
        return {(space.name_of(e.src.state), e.tactic) for e in result.tree.iter_edges() if e.outcome == "rejected"}

    assert proving_steps(1, 0.0) == proving_steps(6, 0.0002)
