"""The proof environment the search talks to (`search.protocols.Env`): one statement, its proof states, and tactics.

States handed to the search are environment-level handles (`TacticState.id`), not REPL proof-state ids: REPL ids
mean nothing in another process, and a process can die (timeout, crash, recycling). For every handle the
environment remembers its parent and the tactic that made it, and for every worker which REPL id holds it there.
A state that the chosen worker does not hold is rebuilt by replaying its tactic path from the root
(LeanInteract's ReplaySessionCache does the same), invisible to the search and counted in `stats.replays`.

Where tactic mode cannot decide a step that command mode (what the final check uses) can, the step is run once more
in command mode: the statement with the tactic path and the step, then `all_goals sorry`, on the preamble's env.
No error and no sorry is a finished proof (the kernel checked it); one sorry is the state after the step (its
proof state, REPL/Main.lean:312); more than one is refused (one REPL proof state holds one goal here). This is
done for (notes/real-repl-behaviour.md):
- F2: a tactic that ran out of tactic mode's fixed 200000 heartbeats (repl #69) when the header allows more;
- F5: a tactic that timed out: it may have finished, with the whole-proof kernel check of `getProofStatus`
  (REPL/Main.lean:182-225) outlasting the tactic timeout; the retry gets the verify timeout;
- repl #66: a tactic that needs the statement's own auxiliary definitions (`….match_N`), which exist in command
  mode only; these are also reported in `limitations`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from prover.config import TACTIC_MODE_HEARTBEATS
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

__all__ = ["ROOT", "EnvStats", "ProofEnvironment", "header_max_heartbeats"]

ROOT = 0  # the handle of the root state
# Appended to a path checked in command mode: every goal left becomes a sorry with a proof state (none: no sorry).
CONTINUE = "all_goals sorry"
_HEARTBEAT_CAP = re.compile(r"maximum number of heartbeats \((\d+)\)")
_MATCH_AUX = re.compile(r"unknown constant '([^']*\.match_\d+)'")
_SET_HEARTBEATS = re.compile(r"^\s*set_option\s+maxHeartbeats\s+(\d+)\s*$", re.M)


def header_max_heartbeats(preamble: str) -> int:
    """The `maxHeartbeats` a header sets for command mode (Lean's default when it sets none; 0 means no limit)."""
    found = _SET_HEARTBEATS.findall(preamble)
    return int(found[-1]) if found else TACTIC_MODE_HEARTBEATS


@dataclass
class EnvStats:
    """Counters of one proof environment.

    lean_calls: requests sent (tactics, statement elaborations, replays);
    replays: requests sent only to rebuild a state on a fresh or different worker;
    restarts: workers lost to a timeout or a crash (the pool starts replacements);
    timeouts, crashes: tactics given up for that reason; seconds_lean: wall time spent waiting on Lean;
    command_steps: steps run again in command mode (see the module docstring), command_decided: of those, the ones
    command mode turned into a state or a finished proof.
    """

    lean_calls: int = 0
    replays: int = 0
    restarts: int = 0
    timeouts: int = 0
    crashes: int = 0
    seconds_lean: float = 0.0
    command_steps: int = 0
    command_decided: int = 0


@dataclass(frozen=True, slots=True)
class _Node:
    parent: int
    tactic: str
    goals: tuple[str, ...]
    by_command: bool = False  # reached in command mode: rebuilt the same way, never by a tactic request


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
        command_timeout: seconds for a step re-run in command mode (default: the pool's `verify_timeout`).
        command_steps: how many steps may be re-run in command mode (each may take up to `command_timeout`).
        timeout_retries: how many of those may be tactics that timed out (F5; each costs up to `command_timeout`
            when the tactic really loops, so the agent allows one per problem).

    `limitations` collects what the REPL could not do for this statement (text per kind), for the result.

    Several `run_tac` calls may run at once; each borrows a worker exclusively, preferring one that already holds
    the state.

    Examples:
        >>> async def demo(pool: ReplPool) -> None:
        ...     env = ProofEnvironment(pool, Statement.parse("theorem t (x : ℕ) : x + 0 = x := by sorry"))
        ...     root = await env.start()
        ...     result = await env.run_tac(root, "simp")   # ProofFinished(...)
    """

    def __init__(
        self,
        pool: ReplPool,
        statement: Statement,
        *,
        tactic_timeout: float = 10.0,
        preamble: str = "",
        command_timeout: float | None = None,
        command_steps: int = 4,
        timeout_retries: int = 0,
    ) -> None:
        self.pool = pool
        self.statement = statement
        self.preamble = preamble
        self.tactic_timeout = tactic_timeout
        self.command_timeout = pool.config.verify_timeout if command_timeout is None else command_timeout
        self.command_steps_left = command_steps
        self.timeout_retries_left = timeout_retries
        self.max_heartbeats = header_max_heartbeats(preamble)
        self.limitations: dict[str, str] = {}
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
        timed_out = False
        async with self.pool.acquire(prefer=lambda w: handle in self._held.get(w, ())) as worker:
            try:
                ps = await self._materialize(worker, handle, max(limit, self.tactic_timeout))
                resp = await self._tactic(worker, ps, tactic, limit)
            except ReplTimeoutError:
                self._lost(worker)
                self.stats.timeouts += 1
                timed_out = True
            except ReplCrashError as e:
                self._lost(worker)
                self.stats.crashes += 1
                return ProofGivenUp(f"crash: {e}")
            except _ReplayFailed as e:
                return ProofGivenUp(f"replay failed: {e}")
            except ValueError as e:  # the tactic text cannot be encoded; nothing was sent
                return LeanError(f"the tactic cannot be sent to Lean: {e}")
            if not timed_out:
                new = self._next
                result = classify_tactic_response(resp, new)
                if isinstance(result, (TacticState, ProofFinished)):
                    assert isinstance(resp, ProofStepResponse)
                    self._add(worker, _Node(handle, tactic, resp.goals), resp.proof_state)
                    return result
        if timed_out:
            # F5: the step may have finished, with the kernel check of the whole proof outlasting the timeout.
            if self.timeout_retries_left <= 0:
                return ProofGivenUp("timeout")
            self.timeout_retries_left -= 1
            return await self._by_command(handle, tactic, "timeout") or ProofGivenUp("timeout")
        assert isinstance(result, LeanError)
        why = self._command_mode_reason(result.error)
        if why is not None:
            return await self._by_command(handle, tactic, why) or result
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

    # -- steps tactic mode cannot decide

    def _command_mode_reason(self, error: str) -> str | None:
        """Why command mode may decide a step tactic mode rejected with `error` (None: it would not)."""
        cap = _HEARTBEAT_CAP.search(error)
        if cap is not None and int(cap.group(1)) == TACTIC_MODE_HEARTBEATS:
            if self.max_heartbeats == 0 or self.max_heartbeats > TACTIC_MODE_HEARTBEATS:
                self.limitations.setdefault(
                    "tactic_heartbeats",
                    f"tactic mode gives every tactic {TACTIC_MODE_HEARTBEATS} heartbeats whatever the header sets "
                    "(REPL v4.24.0, repl #69); steps that ran out were re-run in command mode under the header's "
                    f"maxHeartbeats {self.max_heartbeats}",
                )
                return "heartbeats"
            return None
        aux = _MATCH_AUX.search(error)
        if aux is not None:
            self.limitations.setdefault(
                "statement_auxiliary",
                f"tactic mode cannot see {aux.group(1)!r}, an auxiliary definition the statement itself creates "
                "(the REPL gives proof states the environment before the statement, repl #66); steps that need it "
                "were re-run in command mode",
            )
            return "auxiliary definition"
        return None

    async def _by_command(self, handle: int, tactic: str, why: str) -> TacticResult | None:
        """Run the path to `handle` plus `tactic` in command mode (module docstring); None when that cannot be
        done (no retries left, or the worker failed) and the tactic-mode result stands."""
        if self.command_steps_left <= 0:
            return None
        self.command_steps_left -= 1
        self.stats.command_steps += 1
        tactics = (*self.tactics_to(handle), tactic)
        async with self.pool.acquire() as worker:
            try:
                resp = await self._command_path(worker, tactics)
            except ReplTimeoutError:
                self._lost(worker)
                return ProofGivenUp(f"timeout (also in command mode, after {self.command_timeout:g} s)")
            except ReplCrashError as e:
                self._lost(worker)
                return ProofGivenUp(f"crash: {e}")
            except (StatementError, ValueError):
                return None
            if isinstance(resp, ErrorResponse):
                return LeanError(f"in command mode ({why}): {resp.message}")
            if has_errors(resp.messages):
                return LeanError(f"in command mode ({why}): " + "\n\n".join(error_texts(resp.messages)[:1]))
            states = [s for s in resp.sorries if s.proof_state is not None]
            new = self._next
            if not resp.sorries:
                self.stats.command_decided += 1
                self._add(None, _Node(handle, tactic, (), by_command=True), None)
                return ProofFinished(id=new, message=f"Completed in command mode ({why})")
            if len(states) != 1 or len(resp.sorries) != 1:
                return LeanError(
                    f"the step leaves {len(resp.sorries)} goals, which command mode ({why}) cannot hand back as one "
                    "proof state"
                )
            self.stats.command_decided += 1
            ps = states[0].proof_state
            assert ps is not None
            self._add(worker, _Node(handle, tactic, (states[0].goal,), by_command=True), ps)
            return TacticState(goals=(states[0].goal,), id=new)

    async def _command_path(self, worker: Worker, tactics: tuple[str, ...]) -> CommandResponse | ErrorResponse:
        started = time.perf_counter()
        self.stats.lean_calls += 1
        try:
            env = await worker.env_for(self.preamble, self.pool.config.command_timeout)
            text = self.statement.with_proof([*tactics, CONTINUE])
            return await worker.process.command(text, env=env, timeout=self.command_timeout)
        finally:
            self.stats.seconds_lean += time.perf_counter() - started

    def _add(self, worker: Worker | None, node: _Node, ps: int | None) -> None:
        self._next += 1
        self._nodes[self._next - 1] = node
        if worker is not None and ps is not None:
            self._held.setdefault(worker, {})[self._next - 1] = ps

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
                try:
                    resp = await self._elaborate(worker)
                except StatementError as e:  # the preamble no longer elaborates on this worker
                    raise _ReplayFailed(str(e)) from e
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
            if node.by_command:
                resp3 = await self._command_path(worker, self.tactics_to(h))
                self.stats.replays += 1
                again = [] if isinstance(resp3, ErrorResponse) or has_errors(resp3.messages) else resp3.sorries
                if len(again) != 1 or again[0].proof_state is None or (again[0].goal,) != node.goals:
                    raise _ReplayFailed(f"re-running {node.tactic!r} in command mode did not give the recorded state")
                held[h] = again[0].proof_state
                continue
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
