"""The proof environment the search talks to (`search.protocols.Env`): one statement, its proof states, and tactics.

States handed to the search are environment-level handles (`TacticState.id`), not REPL proof-state ids: REPL ids
mean nothing in another process, and a process can die (timeout, crash, recycling). For every handle the
environment remembers its parent and the tactic that made it, and for every worker which REPL id holds it there.
A state that the chosen worker does not hold is rebuilt by replaying its tactic path from the root
(LeanInteract's ReplaySessionCache does the same), invisible to the search and counted in `stats.replays`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prover.errors import ReplCrashError, ReplTimeoutError, StatementError
from prover.lean.pool import ReplPool, Worker
from prover.lean.protocol import (
    CommandResponse,
    ErrorResponse,
    ProofStepResponse,
    classify_tactic_response,
    error_texts,
    has_errors,
)
from prover.lean.statement import Statement
from search.errors import SearchError
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticResult, TacticState

__all__ = ["ROOT", "EnvStats", "ProofEnvironment"]

ROOT = 0  # the handle of the root state


@dataclass
class EnvStats:
    """Counters of one proof environment.

    lean_calls: requests sent (tactics, statement elaborations, replays);
    replays: requests sent only to rebuild a state on a fresh or different worker;
    restarts: workers lost to a timeout or a crash (the pool starts replacements);
    timeouts, crashes: tactics given up for that reason; seconds_lean: wall time spent waiting on Lean.
    """

    lean_calls: int = 0
    replays: int = 0
    restarts: int = 0
    timeouts: int = 0
    crashes: int = 0
    seconds_lean: float = 0.0


@dataclass(frozen=True, slots=True)
class _Node:
    parent: int
    tactic: str
    goals: tuple[str, ...]


class _ReplayFailed(Exception):
    pass


class ProofEnvironment:
    """Runs tactics on the proof states of one statement, over a pool of warm REPL workers.

    Args:
        pool: workers whose header the statement is elaborated in.
        statement: the declaration to prove (`statement.with_sorry()` gives the root state).
        tactic_timeout: default wall-clock seconds per tactic; past it the result is ProofGivenUp("timeout").
        preamble: header text after the imports (options, `open`s, definitions), elaborated once per worker as a
            command of its own, before the statement.

    Several `run_tac` calls may run at once; each borrows a worker exclusively, preferring one that already holds
    the state.

    Examples:
        >>> async def demo(pool: ReplPool) -> None:
        ...     env = ProofEnvironment(pool, Statement.parse("theorem t (x : ℕ) : x + 0 = x := by sorry"))
        ...     root = await env.start()
        ...     result = await env.run_tac(root, "simp")   # ProofFinished(...)
    """

    def __init__(
        self, pool: ReplPool, statement: Statement, *, tactic_timeout: float = 10.0, preamble: str = ""
    ) -> None:
        self.pool = pool
        self.statement = statement
        self.preamble = preamble
        self.tactic_timeout = tactic_timeout
        self.stats = EnvStats()
        self._nodes: dict[int, _Node] = {}
        self._held: dict[Worker, dict[int, int]] = {}  # worker -> handle -> REPL proof-state id
        self._next = ROOT + 1
        self._root: TacticState | None = None

    async def start(self) -> TacticState:
        """Elaborate the statement with `by sorry` in the header's env and return the root state.

        Raises:
            StatementError: Lean reports an error, or the statement does not give exactly one sorry.
            ReplError: the REPL timed out, crashed, or could not be started.
        """
        if self._root is not None:
            return self._root
        async with self.pool.acquire() as worker:
            resp = await self._elaborate(worker)
            ps, goal = self._root_of(resp)
            self._held.setdefault(worker, {})[ROOT] = ps
        self._nodes[ROOT] = _Node(ROOT, "", (goal,))
        self._root = TacticState(goals=(goal,), id=ROOT)
        return self._root

    async def run_tac(self, state: TacticState, tactic: str, timeout: float | None = None) -> TacticResult:
        """Run `tactic` on `state`: TacticState, LeanError, ProofFinished, or ProofGivenUp (timeout, crash).

        Raises:
            SearchError: `state` is not a state of this environment (or start() was not called).
            ReplError: no worker can be had (NoAvailableReplError, ReplStartError).
        """
        handle = state.id
        if handle not in self._nodes:
            raise SearchError(f"state {handle} does not belong to this proof environment")
        limit = self.tactic_timeout if timeout is None else timeout
        self._forget_retired()
        async with self.pool.acquire(prefer=lambda w: handle in self._held.get(w, ())) as worker:
            try:
                ps = await self._materialize(worker, handle, max(limit, self.tactic_timeout))
                resp = await self._tactic(worker, ps, tactic, limit)
            except ReplTimeoutError:
                self._lost(worker)
                self.stats.timeouts += 1
                return ProofGivenUp("timeout")
            except ReplCrashError as e:
                self._lost(worker)
                self.stats.crashes += 1
                return ProofGivenUp(f"crash: {e}")
            except _ReplayFailed as e:
                return ProofGivenUp(f"replay failed: {e}")
            except ValueError as e:  # the tactic text cannot be encoded; nothing was sent
                return LeanError(f"the tactic cannot be sent to Lean: {e}")
            new = self._next
            result = classify_tactic_response(resp, new)
            if isinstance(result, (TacticState, ProofFinished)):
                assert isinstance(resp, ProofStepResponse)
                self._next += 1
                self._nodes[new] = _Node(handle, tactic, resp.goals)
                self._held.setdefault(worker, {})[new] = resp.proof_state
        return result

    def tactics_to(self, state: TacticState | int) -> tuple[str, ...]:
        """The tactic path from the root to a state."""
        handle = state if isinstance(state, int) else state.id
        path: list[str] = []
        while handle != ROOT:
            node = self._nodes[handle]
            path.append(node.tactic)
            handle = node.parent
        return tuple(reversed(path))

    # -- internals

    async def _elaborate(self, worker: Worker) -> CommandResponse | ErrorResponse:
        started = time.perf_counter()
        self.stats.lean_calls += 1
        try:
            # Workers are shared by every header with the same imports; the rest of the header (the preamble) is a
            # command of its own on each worker, so that tactic mode sees it (see `Worker.env_for`).
            timeout = self.pool.config.command_timeout
            env = await worker.env_for(self.preamble, timeout)
            return await worker.process.command(self.statement.with_sorry(), env=env, timeout=timeout)
        finally:
            self.stats.seconds_lean += time.perf_counter() - started

    async def _tactic(self, worker: Worker, ps: int, tactic: str, timeout: float) -> ProofStepResponse | ErrorResponse:
        started = time.perf_counter()
        self.stats.lean_calls += 1
        try:
            return await worker.process.tactic(tactic, ps, timeout)
        finally:
            self.stats.seconds_lean += time.perf_counter() - started

    def _root_of(self, resp: CommandResponse | ErrorResponse) -> tuple[int, str]:
        if isinstance(resp, ErrorResponse):
            raise StatementError(f"Lean rejected the statement: {resp.message}", (resp.message,))
        if has_errors(resp.messages):
            texts = error_texts(resp.messages)
            raise StatementError(f"the statement does not elaborate: {texts[0]}", texts)
        sorries = [s for s in resp.sorries if s.proof_state is not None]
        if len(sorries) != 1:
            raise StatementError(
                f"the statement gives {len(sorries)} sorries with a proof state, expected exactly one",
                error_texts(resp.messages),
            )
        ps = sorries[0].proof_state
        assert ps is not None
        return ps, sorries[0].goal

    async def _materialize(self, worker: Worker, handle: int, timeout: float) -> int:
        """The REPL id of `handle` on `worker`, replaying the tactic path from the nearest state it holds."""
        held = self._held.setdefault(worker, {})
        if handle in held:
            return held[handle]
        path: list[int] = []
        h = handle
        while h not in held:
            if h == ROOT:
                resp = await self._elaborate(worker)
                self.stats.replays += 1
                try:
                    ps, goal = self._root_of(resp)
                except StatementError as e:
                    raise _ReplayFailed(f"the statement no longer elaborates: {e}") from e
                if (goal,) != self._nodes[ROOT].goals:
                    raise _ReplayFailed("the statement gives a different root goal")
                held[ROOT] = ps
                break
            path.append(h)
            h = self._nodes[h].parent
        for h in reversed(path):
            node = self._nodes[h]
            resp2 = await self._tactic(worker, held[node.parent], node.tactic, timeout)
            self.stats.replays += 1
            if not isinstance(resp2, ProofStepResponse) or has_errors(resp2.messages) or resp2.goals != node.goals:
                raise _ReplayFailed(f"replaying {node.tactic!r} did not give the recorded state")
            held[h] = resp2.proof_state
        return held[handle]

    def _lost(self, worker: Worker) -> None:
        """The worker's process was killed: none of its states exist any more."""
        self._held.pop(worker, None)
        self.stats.restarts += 1

    def _forget_retired(self) -> None:
        if len(self._held) > self.pool.size:
            for worker in [w for w in self._held if not self.pool.is_live(w)]:
                del self._held[worker]
