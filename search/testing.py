"""Synthetic proof spaces, a deterministic environment over them, and scripted policies.

For tests and benchmarks of anything that drives `search` (the search itself, the agent, the sweep runner): no
Lean, no model. A *space* names states (any hashable without whitespace, e.g. ints or short strings) and lists the
moves at each; `SyntheticEnv` runs a move's tactic and returns what the move says; `ScriptedPolicy` proposes the
moves of a state with their log-probs.

Examples:
    >>> import asyncio
    >>> from search import SearchConfig, search
    >>> space = chain_space(2)
    >>> env, policy = SyntheticEnv(space), ScriptedPolicy(space)
    >>> asyncio.run(search(env, policy, env.root_state(), SearchConfig(budget_s=5))).proof
    ('step 0', 'step 1', 'qed')
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticResult, TacticState
from search.protocols import Candidate, PolicyRequest, Sampling

if TYPE_CHECKING:
    from search.result import SearchResult

STATE, PROOF, ERROR, CRASH, TIMEOUT, FAULT = "state", "proof", "error", "crash", "timeout", "fault"
MOVE_KINDS = (STATE, PROOF, ERROR, CRASH, TIMEOUT, FAULT)


class EnvFault(RuntimeError):
    """Raised by `SyntheticEnv` for a `fault` move: an infrastructure failure, not a tactic outcome."""


@dataclass(frozen=True, slots=True)
class Move:
    """One tactic available at a state.

    `kind`: `state` (leads to state `to`), `proof` (Lean finishes the proof), `error` (Lean rejects it), `crash`
    (`ProofGivenUp`, at once), `timeout` (`ProofGivenUp` after the per-tactic timeout, simulated with a sleep of
    `SyntheticEnv.timeout_cost` or the timeout itself), `fault` (the environment raises `EnvFault`).
    """

    tactic: str
    logprob: float = -1.0
    to: Hashable | None = None
    kind: str = STATE

    def __post_init__(self) -> None:
        if self.kind not in MOVE_KINDS:
            raise ValueError(f"unknown move kind {self.kind!r}; expected one of {MOVE_KINDS}")
        if (self.kind == STATE) != (self.to is not None):
            raise ValueError(f"a {self.kind!r} move {'needs' if self.kind == STATE else 'takes no'} target state")


def default_goals(name: Hashable) -> tuple[str, ...]:
    """A Lean-looking single goal naming the state (about 80 characters)."""
    return (f"x y : ℕ\nh₀ : 0 < x\nh₁ : x + y = {name}\nhP : Q x y\n⊢ P (f x) (g y) {name}",)


class SyntheticSpace:
    """A proof space: `root`, `moves(name)` and `goals(name)`; also the registry of its states.

    Subclasses implement `_moves`; results are cached, so `moves` is cheap after the first call. States are
    created once per name with a stable id (their index), so `name_of(state)` is a list lookup.
    """

    def __init__(self, root: Hashable, goals: Callable[[Hashable], tuple[str, ...]] = default_goals) -> None:
        self.root = root
        self._goals = goals
        self._moves_cache: dict[Hashable, tuple[Move, ...]] = {}
        self._by_tactic: dict[Hashable, dict[str, Move]] = {}
        self._ids: dict[Hashable, int] = {}
        self._names: list[Hashable] = []
        self._states: list[TacticState] = []

    def _moves(self, name: Hashable) -> Sequence[Move]:
        raise NotImplementedError

    def moves(self, name: Hashable) -> tuple[Move, ...]:
        """The moves at state `name`, best first."""
        cached = self._moves_cache.get(name)
        if cached is None:
            cached = self._moves_cache[name] = tuple(self._moves(name))
        return cached

    def move(self, name: Hashable, tactic: str) -> Move | None:
        """The (first) move with this tactic text at `name`, or None."""
        table = self._by_tactic.get(name)
        if table is None:
            table = {}
            for move in self.moves(name):
                table.setdefault(move.tactic.strip(), move)
            self._by_tactic[name] = table
        return table.get(tactic)

    def goals(self, name: Hashable) -> tuple[str, ...]:
        return self._goals(name)

    def state(self, name: Hashable) -> TacticState:
        """The (cached) `TacticState` of `name`; its id is stable for the life of the space."""
        index = self._ids.get(name)
        if index is None:
            index = self._ids[name] = len(self._names)
            self._names.append(name)
            self._states.append(TacticState(self.goals(name), id=index))
        return self._states[index]

    def root_state(self) -> TacticState:
        return self.state(self.root)

    def name_of(self, state: TacticState) -> Hashable:
        """The name of a state this space created."""
        index = state.id
        if not 0 <= index < len(self._names) or self._states[index].goals != state.goals:
            raise ValueError(f"state {state.id} was not made by this space")
        return self._names[index]

    def proof_exists(self, banned: Callable[[str], bool] = lambda tactic: False, width: int | None = None) -> bool:
        """Whether a `proof` move is reachable from the root (finite spaces only), through the moves a search with
        a `ScriptedPolicy` would run (see `usable_moves`)."""
        seen = {self.root}
        stack = [self.root]
        while stack:
            for move in self.usable_moves(stack.pop(), banned, width):
                if move.kind == PROOF:
                    return True
                if move.kind == STATE and move.to not in seen:
                    seen.add(move.to)
                    stack.append(move.to)
        return False

    def usable_moves(
        self, name: Hashable, banned: Callable[[str], bool] = lambda tactic: False, width: int | None = None
    ) -> list[Move]:
        """The moves a search runs at `name` with a `ScriptedPolicy`: the policy proposes the first `width` moves
        (duplicates included, as sampling does), and the search drops repeated, empty and banned tactics."""
        out: list[Move] = []
        seen: set[str] = set()
        for move in self.moves(name)[:width]:
            tactic = move.tactic.strip()
            if not tactic or tactic in seen:
                continue
            seen.add(tactic)
            if not banned(tactic):
                out.append(move)
        return out


class TableSpace(SyntheticSpace):
    """A finite space given as a table `{name: [Move, ...]}`; names missing from the table have no moves."""

    def __init__(
        self,
        table: Mapping[Hashable, Sequence[Move]],
        root: Hashable,
        goals: Callable[[Hashable], tuple[str, ...]] = default_goals,
    ) -> None:
        super().__init__(root, goals)
        self.table = {name: tuple(moves) for name, moves in table.items()}

    def _moves(self, name: Hashable) -> Sequence[Move]:
        return self.table.get(name, ())

    def __repr__(self) -> str:
        return f"TableSpace({self.table!r}, root={self.root!r})"


class FunctionSpace(SyntheticSpace):
    """A space whose moves are computed on demand by `fn(name)` (possibly infinite)."""

    def __init__(
        self,
        fn: Callable[[Hashable], Sequence[Move]],
        root: Hashable,
        goals: Callable[[Hashable], tuple[str, ...]] = default_goals,
    ) -> None:
        super().__init__(root, goals)
        self._fn = fn

    def _moves(self, name: Hashable) -> Sequence[Move]:
        return self._fn(name)


class ProductSpace(SyntheticSpace):
    """Several independent goals proved together: the product of component spaces (for goal splitting).

    The root is one goal whose only move, `intro` (log-prob `intro_logprob`), leaves one goal per component
    (Lean's `constructor` on a conjunction). A state is a tuple of component states, `None` for a closed goal; its
    goals are the open components' first goals in order, each tagged `case g<i>`. At a state, every move of every
    open goal is available, as Lean offers it: a move of the main goal as its own tactic, a move of the k-th open
    goal as `on_goal k => tactic`. Closing the last goal finishes the proof. So plain best-first searches the
    product of the components' states, while a search that splits goals (`focus`) searches each one alone.

    `focus(state)` gives, per open goal, the state where only that goal is open (what `SyntheticEnv.focus_goals`
    returns). Component names must not be `None`.
    """

    ROOT = "⊢"

    def __init__(self, components: Sequence[SyntheticSpace], *, intro: str = "constructor", intro_logprob: float = -0.1) -> None:
        super().__init__(self.ROOT, self._product_goals)
        if len(components) < 2:
            raise ValueError("a product needs at least two components")
        self.components = tuple(components)
        self.intro = Move(intro, intro_logprob, tuple(c.root for c in self.components))

    def _goal(self, index: int, name: Hashable) -> str:
        return f"case g{index}\n{self.components[index].goals(name)[0]}"

    def _product_goals(self, name: Hashable) -> tuple[str, ...]:
        if name == self.ROOT:
            return (" ∧ ".join(f"({self._goal(i, c.root).splitlines()[-1]})" for i, c in enumerate(self.components)),)
        assert isinstance(name, tuple)
        return tuple(self._goal(i, c) for i, c in enumerate(name) if c is not None)

    def _moves(self, name: Hashable) -> Sequence[Move]:
        if name == self.ROOT:
            return [self.intro]
        assert isinstance(name, tuple)
        moves: list[Move] = []
        open_goals = [i for i, c in enumerate(name) if c is not None]
        for k, i in enumerate(open_goals):
            for move in self.components[i].moves(name[i]):
                tactic = move.tactic if k == 0 else f"on_goal {k + 1} => {move.tactic}"
                if move.kind in (STATE, PROOF):
                    after = tuple(move.to if j == i else c for j, c in enumerate(name)) if move.kind == STATE else (
                        tuple(None if j == i else c for j, c in enumerate(name))
                    )
                    if all(c is None for c in after):
                        moves.append(Move(tactic, move.logprob, kind=PROOF))
                    else:
                        moves.append(Move(tactic, move.logprob, after))
                else:
                    moves.append(Move(tactic, move.logprob, kind=move.kind))
        moves.sort(key=lambda m: -m.logprob)  # a policy proposes its best candidates first, whatever the goal
        return moves

    def focus(self, state: TacticState) -> list[TacticState] | None:
        """One state per open goal of `state`, holding only that goal; None for the root (a single goal)."""
        name = self.name_of(state)
        if not isinstance(name, tuple):
            return None
        return [
            self.state(tuple(c if j == i else None for j, c in enumerate(name)))
            for i, c in enumerate(name)
            if c is not None
        ]


class SyntheticEnv:
    """A deterministic `Env` over a space.

    Args:
        space: the proof space.
        latency: simulated seconds per tactic (an `asyncio.sleep`); 0 runs without suspending.
        jitter: each run's latency is scaled by a seeded random factor in [1, 1 + jitter] (varied interleavings).
        seed: the jitter's seed.
        timeout_cost: seconds a `timeout` move takes (None: the tactic timeout passed to `run_tac`, or 0).

    Attributes:
        calls: tactic runs so far; `in_flight` / `max_in_flight`: concurrent runs now / at most (counted only when
        a run suspends, i.e. with latency or a timeout cost); `log`: (state name, tactic) of every run when
        `record=True`.
    """

    def __init__(
        self,
        space: SyntheticSpace,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        seed: int = 0,
        timeout_cost: float | None = None,
        record: bool = False,
    ) -> None:
        self.space = space
        self.latency = latency
        self.jitter = jitter
        self._rng = random.Random(seed)
        self.timeout_cost = timeout_cost
        self.record = record
        self.log: list[tuple[Hashable, str]] = []
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def root_state(self) -> TacticState:
        return self.space.root_state()

    async def _sleep(self, seconds: float) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.in_flight -= 1

    async def focus_goals(self, state: TacticState) -> list[TacticState] | None:
        """`search.goal_split.GoalFocus` for a `ProductSpace` (one state per goal); None for other spaces."""
        focus = getattr(self.space, "focus", None)
        return None if focus is None else focus(state)

    async def run_tac(self, state: TacticState, tactic: str, timeout: float | None = None) -> TacticResult:
        space = self.space
        name = space.name_of(state)
        self.calls += 1
        if self.record:
            self.log.append((name, tactic))
        if self.latency:
            await self._sleep(self.latency * (1.0 + self.jitter * self._rng.random()) if self.jitter else self.latency)
        move = space.move(name, tactic)
        if move is None:
            return LeanError(f"unknown tactic {tactic!r} at {name!r}")
        kind = move.kind
        if kind == STATE:
            return space.state(move.to)
        if kind == PROOF:
            return ProofFinished(message="no goals")
        if kind == ERROR:
            return LeanError(f"{tactic!r} failed at {name!r}")
        if kind == CRASH:
            return ProofGivenUp("the REPL crashed")
        if kind == TIMEOUT:
            cost = self.timeout_cost if self.timeout_cost is not None else (timeout or 0.0)
            if cost:
                await self._sleep(cost)
            return ProofGivenUp(f"timeout after {timeout} s")
        raise EnvFault(f"simulated environment fault on {tactic!r} at {name!r}")


class ScriptedPolicy:
    """A `Policy` proposing a state's moves with their fixed log-probs, in the space's order, at most `n`.

    Args:
        space: the proof space (states are recognised by the ids it gave them).
        latency: simulated seconds per call (one sleep per call, whatever the batch size).
        extra: tactics appended to every state's list (e.g. banned or duplicate ones), with log-prob -5.

    Attributes:
        calls, requests, batch_sizes: what was asked so far.
    """

    def __init__(self, space: SyntheticSpace, *, latency: float = 0.0, extra: Sequence[str] = ()) -> None:
        self.space = space
        self.latency = latency
        self.extra = tuple(extra)
        self.calls = 0
        self.requests = 0
        self.batch_sizes: list[int] = []
        self._cache: dict[Hashable, list[Candidate]] = {}

    def candidates(self, name: Hashable) -> list[Candidate]:
        cached = self._cache.get(name)
        if cached is None:
            cached = [Candidate(m.tactic, m.logprob) for m in self.space.moves(name)]
            cached += [Candidate(t, -5.0) for t in self.extra]
            self._cache[name] = cached
        return cached

    async def propose(self, requests: Sequence[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]:
        self.calls += 1
        self.requests += len(requests)
        self.batch_sizes.append(len(requests))
        if self.latency:
            await asyncio.sleep(self.latency)
        n = sampling.n
        name_of = self.space.name_of
        out = []
        for request in requests:
            candidates = self.candidates(name_of(request.state))
            out.append(candidates[:n] if len(candidates) > n else candidates)
        return out


class SeededPolicy(ScriptedPolicy):
    """Like `ScriptedPolicy`, but each (state, tactic) gets a seeded random log-prob in `[-spread, 0)`, and the
    candidates come best first. The same seed always gives the same scores; `Sampling.seed` is ignored."""

    def __init__(self, space: SyntheticSpace, seed: int = 0, *, spread: float = 3.0, latency: float = 0.0) -> None:
        super().__init__(space, latency=latency)
        self.seed = seed
        self.spread = spread

    def candidates(self, name: Hashable) -> list[Candidate]:
        cached = self._cache.get(name)
        if cached is None:
            rng = random.Random(f"{self.seed}:{name!r}")
            scored = [Candidate(m.tactic, -self.spread * (1.0 - rng.random())) for m in self.space.moves(name)]
            cached = self._cache[name] = sorted(scored, key=lambda c: -c.logprob)
        return cached


# ---- ready-made spaces ---------------------------------------------------------------------------------------


def chain_space(depth: int, *, logprob: float = -0.5) -> TableSpace:
    """`s0 -step 0-> s1 -> … -> s<depth>`, where `qed` proves; the only proof has `depth + 1` tactics."""
    table: dict[Hashable, list[Move]] = {f"s{i}": [Move(f"step {i}", logprob, f"s{i + 1}")] for i in range(depth)}
    table[f"s{depth}"] = [Move("qed", logprob, kind=PROOF)]
    return TableSpace(table, "s0")


def random_space(
    seed: int,
    n_states: int = 50,
    width: int = 4,
    *,
    p_error: float = 0.3,
    p_proof: float = 0.02,
    p_back: float = 0.1,
    p_give_up: float = 0.05,
) -> TableSpace:
    """A random finite space over states 0..n_states-1 (root 0).

    Each state gets `width` moves: a proof with probability `p_proof`, an error with `p_error`, a give-up with
    `p_give_up`, otherwise a state move — to an earlier state (cycles, merges) with probability `p_back`, else to a
    later one. Log-probs are random in [-3, 0).
    """
    rng = random.Random(seed)
    table: dict[Hashable, list[Move]] = {}
    for name in range(n_states):
        moves = []
        for j in range(width):
            roll = rng.random()
            logprob = -3.0 * (1.0 - rng.random())
            tactic = f"t{name}_{j}"
            if roll < p_proof:
                moves.append(Move(tactic, logprob, kind=PROOF))
            elif roll < p_proof + p_error:
                moves.append(Move(tactic, logprob, kind=ERROR))
            elif roll < p_proof + p_error + p_give_up:
                moves.append(Move(tactic, logprob, kind=CRASH))
            elif name == n_states - 1 or rng.random() < p_back:
                moves.append(Move(tactic, logprob, rng.randrange(0, name + 1)))
            else:
                moves.append(Move(tactic, logprob, rng.randrange(name + 1, n_states)))
        table[name] = moves
    return TableSpace(table, 0)


def generated_space(
    seed: int = 0,
    width: int = 8,
    *,
    p_error: float = 0.25,
    p_merge: float = 0.1,
    p_proof: float = 0.0,
    multi_goal_every: int = 5,
) -> FunctionSpace:
    """An infinite, lazily generated space (states are 62-bit ints), for benchmarks and long runs.

    Each state has `width` moves with seeded log-probs (best first): errors with probability `p_error`, a proof
    with `p_proof`, a merge (the same state as the first move reaches, so the state has two in-edges) with
    `p_merge`, otherwise a fresh state. Every `multi_goal_every`-th state (by name) has two goals.
    """

    def moves(name: Hashable) -> list[Move]:
        rng = random.Random((seed << 64) ^ int(name))  # type: ignore[call-overload]  # names are ints here
        scores = sorted((-3.0 * (1.0 - rng.random()) for _ in range(width)), reverse=True)
        first = rng.getrandbits(62)
        out = []
        for j, logprob in enumerate(scores):
            roll = rng.random()
            tactic = f"nlinarith [sq_nonneg (x - {j}), h₀, mul_pos h₀ h₁] -- {j}"
            if roll < p_proof:
                out.append(Move(tactic, logprob, kind=PROOF))
            elif roll < p_proof + p_error:
                out.append(Move(tactic, logprob, kind=ERROR))
            elif j > 0 and roll < p_proof + p_error + p_merge:
                out.append(Move(tactic, logprob, first))
            else:
                out.append(Move(tactic, logprob, first if j == 0 else rng.getrandbits(62)))
        return out

    def goals(name: Hashable) -> tuple[str, ...]:
        main = default_goals(name)
        if multi_goal_every and int(name) % multi_goal_every == 0:  # type: ignore[call-overload]  # ints
            return (*main, f"case right\nx y : ℕ\nh₀ : 0 < x\n⊢ R x {name}")
        return main

    return FunctionSpace(moves, 0, goals)


def deep_space(depth: int, *, step: float = -0.5, detour: float = -0.6, branching: int = 2) -> FunctionSpace:
    """A proof `depth + 1` tactics deep along `c0 -> c1 -> …` (each step log-prob `step`); every chain state also
    offers a slightly worse detour into an infinite trap tree (log-prob `detour` per step, `branching` children).

    With the defaults and depth 12, best-first needs about 2000 expansions at α=0, 600 at α=0.5, 90 at α=1.
    """

    def moves(name: Hashable) -> list[Move]:
        text = str(name)
        if text.startswith("c"):
            level = int(text[1:])
            if level == depth:
                return [Move("qed", step, kind=PROOF)]
            return [Move(f"step {level}", step, f"c{level + 1}"), Move(f"detour {level}", detour, f"t{level}.")]
        return [Move(f"trap {j}", detour, f"{text}{j}") for j in range(branching)]

    return FunctionSpace(moves, "c0")


def solve(
    space: SyntheticSpace,
    config: object = None,
    *,
    latency: float = 0.0,
    policy_latency: float = 0.0,
    accept: Callable[[tuple[str, ...]], Awaitable[bool]] | None = None,
    **search_kwargs: object,
) -> tuple[SearchResult, SyntheticEnv, ScriptedPolicy]:
    """Run `search` on a space with a fresh `SyntheticEnv` and `ScriptedPolicy` (for tests; blocks).

    `config` defaults to `SearchConfig(budget_s=30, debug=True)`; returns the result, the env and the policy.
    """
    from search.best_first import search
    from search.config import SearchConfig

    env = SyntheticEnv(space, latency=latency, record=True)
    policy = ScriptedPolicy(space, latency=policy_latency)
    if config is None:
        config = SearchConfig(budget_s=30, debug=True)
    result = asyncio.run(search(env, policy, env.root_state(), config, accept=accept, **search_kwargs))  # type: ignore[arg-type]
    return result, env, policy
