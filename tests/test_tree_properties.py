"""Property tests: the tree's invariants and status propagation, on random spaces and random operation sequences."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search import SearchConfig, StopReason, search
from search.banned import BannedTokens
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticState
from search.testing import CRASH, ERROR, PROOF, STATE, Move, ScriptedPolicy, SyntheticEnv, TableSpace
from search.tree import SearchTree, Status, state_key

WHITESPACE = " \t\n\r\x0b\x0c\x1c\u00a0\u2003\u3000"


@settings(max_examples=300)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(["a", "⊢", "ℕ", ":", *WHITESPACE]) | st.characters(), max_size=40),
        min_size=1,
        max_size=4,
    )
)
def test_state_key_equals_tactic_state_key(goals: list[str]) -> None:
    state = TacticState(tuple(goals))
    assert state_key(state) == state.key


# ---- random spaces -----------------------------------------------------------------------------------------

TACTICS = ["simp", "ring", "omega", "linarith", "norm_num", "sorry", " simp", "exact h"]


@st.composite
def spaces(draw: st.DrawFn, tree_shaped: bool = False) -> TableSpace:
    n = draw(st.integers(1, 10))
    table = {}
    fresh = iter(range(1, 10_000))
    names = list(range(n))
    for name in names:
        moves = []
        for _ in range(draw(st.integers(0, 4))):
            tactic = draw(st.sampled_from(TACTICS)) if not tree_shaped else f"t{next(fresh)}"
            logprob = -draw(st.floats(0.01, 3.0))
            kind = draw(st.sampled_from([STATE, STATE, STATE, ERROR, PROOF, CRASH]))
            if kind == STATE:
                target = next(fresh) + 100 if tree_shaped else draw(st.integers(0, n - 1))
                if tree_shaped and draw(st.booleans()):
                    target = -1  # a leaf with no moves
                moves.append(Move(tactic, logprob, target))
            else:
                moves.append(Move(tactic, logprob, kind=kind))
        table[name] = moves
    if tree_shaped:
        # give the fresh children moves of their own, a level deep
        for name in list(table):
            for move in table[name]:
                if move.kind == STATE and move.to not in table:
                    kind = draw(st.sampled_from([ERROR, PROOF, CRASH]))
                    table[move.to] = [Move(f"t{next(fresh)}", -draw(st.floats(0.01, 3.0)), kind=kind)]
    return TableSpace(table, 0)


configs = st.builds(
    lambda width, alpha, concurrency: SearchConfig(
        budget_s=30, width=width, alpha=alpha, concurrency=concurrency, debug=True
    ),
    width=st.integers(1, 8),
    alpha=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    concurrency=st.integers(1, 8),
)


def _replay(space: TableSpace, proof: tuple[str, ...]) -> bool:
    """Whether `proof` proves the space's root when run move by move."""
    name = space.root
    for index, tactic in enumerate(proof):
        move = space.move(name, tactic)
        if move is None:
            return False
        if index == len(proof) - 1:
            return move.kind == PROOF
        if move.kind != STATE:
            return False
        name = move.to
    return False


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces(), config=configs)
def test_search_proves_exactly_when_a_proof_is_reachable(space: TableSpace, config: SearchConfig) -> None:
    env = SyntheticEnv(space)
    result = asyncio.run(search(env, ScriptedPolicy(space), env.root_state(), config))
    tree = result.tree
    tree.check_invariants()
    banned = BannedTokens()
    exists = space.proof_exists(lambda t: not banned.allows(t), config.width)
    assert result.proved == exists
    if result.proved:
        assert _replay(space, result.proof)
        assert tree.root_status is Status.PROVED
    else:
        # Without caps every reachable state was expanded, and every node failed.
        assert result.stop_reason is StopReason.ROOT_FAILED
        assert all(node.status is Status.FAILED for node in tree.iter_nodes())
    # nothing banned reached the environment, and no state was expanded twice
    assert all(banned.allows(edge.tactic) for edge in tree.iter_edges())
    expanded = [node.id for node in tree.iter_nodes() if node.expanded]
    assert len(expanded) == result.stats.expansions
    # the JSON export round-trips to an equal, valid tree
    data = json.loads(json.dumps(tree.to_json()))
    again = SearchTree.from_json(data)
    again.check_invariants()
    assert again.to_json() == data


def _proofs_with_everything_rejected(
    space: TableSpace, config: SearchConfig
) -> tuple[set[tuple[str, ...]], set[tuple[object, str]]]:
    proofs: set[tuple[str, ...]] = set()

    async def reject(proof: tuple[str, ...]) -> bool:
        proofs.add(proof)
        return False

    env = SyntheticEnv(space, record=True)
    result = asyncio.run(search(env, ScriptedPolicy(space), env.root_state(), config, accept=reject))
    result.tree.check_invariants()
    endpoints = {
        (space.name_of(edge.src.state), edge.tactic) for edge in result.tree.iter_edges() if edge.outcome == "rejected"
    }
    return proofs, endpoints


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree_space=spaces(tree_shaped=True), dag_space=spaces(), concurrency=st.integers(2, 8), width=st.integers(1, 8))
def test_concurrency_finds_the_same_proofs_as_one_expansion_at_a_time(
    tree_space: TableSpace, dag_space: TableSpace, concurrency: int, width: int
) -> None:
    one = SearchConfig(budget_s=30, width=width, concurrency=1, debug=True)
    many = one.with_(concurrency=concurrency)
    # On a tree-shaped space every state has one path, so the proofs themselves must agree.
    assert _proofs_with_everything_rejected(tree_space, one)[0] == _proofs_with_everything_rejected(tree_space, many)[0]
    # On a DAG the path to a state depends on discovery order; the proving (state, tactic) pairs must agree.
    assert _proofs_with_everything_rejected(dag_space, one)[1] == _proofs_with_everything_rejected(dag_space, many)[1]


# ---- random operation sequences on the tree itself -------------------------------------------------------

ops = st.lists(
    st.tuples(
        st.integers(0, 50),  # which expandable node (modulo)
        st.lists(  # its runs: (kind, target index, log-prob)
            st.tuples(
                st.sampled_from(["state", "state", "state", "error", "given_up", "proof", "rejected", "skip"]),
                st.integers(0, 30),
                st.floats(-5, 0),
            ),
            max_size=5,
        ),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops, alpha=st.sampled_from([0.0, 0.5, 1.0]))
def test_any_sequence_of_results_keeps_the_invariants(ops: list, alpha: float) -> None:
    states = [TacticState((f"⊢ goal {i}",), id=i) for i in range(31)]
    tree = SearchTree(states[0], alpha)
    for pick, runs in ops:
        candidates = [n for n in range(tree.num_nodes) if not tree.node(n).expanded]
        if not candidates or tree.root_status is not Status.OPEN:
            break
        node = candidates[pick % len(candidates)]
        tree.begin_expansion(node, len(runs))
        tree.check_invariants()
        for kind, target, logprob in runs:
            if kind == "skip":
                tree.skip(node)
            elif kind == "state":
                tree.add_edge(node, f"to {target}", logprob, states[target])
            elif kind == "error":
                tree.add_edge(node, "bad", logprob, LeanError("no"))
            elif kind == "given_up":
                tree.add_edge(node, "slow", logprob, ProofGivenUp("timeout"))
            else:
                tree.add_edge(node, "done", logprob, ProofFinished(), accepted=kind == "proof")
            tree.check_invariants()
            if tree.root_status is Status.PROVED:
                break
        if tree.root_status is Status.PROVED:
            # The proof path is a chain of STATE edges from the root, then the accepted proof.
            path = tree.proof_edges()
            assert tree.edge(path[-1]).outcome == "proved"
            assert tree.edge(path[0]).src.id == 0
            for before, after in zip(path, path[1:]):
                assert tree.edge(before).dst.id == tree.edge(after).src.id
    # Status is what the definitions say, recomputed from scratch bottom-up.
    data = tree.to_json()
    again = SearchTree.from_json(data)
    again.check_invariants()
