"""Optional LeanDojo backend (extra `dojo`): the proof-environment protocol through `lean_dojo.Dojo`.

For users whose toolchain LeanDojo supports and who already have a traced repository. The REPL backend
(prover.lean.env) stays the default: the original LeanDojo is deprecated upstream in favour of LeanDojo-v2, its
tracing fails on Lean versions it does not support (LeanDojo issues #215, #235), it re-elaborates the whole file
prefix for every theorem, and it needs hours to trace Mathlib (notes: lean-repl-protocol.md §3.3).

LeanDojo's outcomes map onto ours (search.outcomes): TacticState → TacticState (goals split on blank lines),
ProofFinished → ProofFinished, LeanError → LeanError, and ProofGivenUp (LeanDojo's answer to a tactic that used
`sorry`) → LeanError, since a step that uses sorry is a failed step here (DESIGN contract 3). A tactic timeout or a
crash of Lean is a ProofGivenUp of ours; the Dojo is then restarted and any state asked for later is rebuilt by
replaying its tactic path from the root, as the REPL environment does.

`lean_dojo` is imported only when this backend is used. At import it runs `git --version`, removes every loguru
handler of the process, loads a `.env` file, and, when GITHUB_ACCESS_TOKEN is set, calls the GitHub API (which
fails offline) — notes/packages.md §2.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import psutil

from prover.errors import EnvironmentProblem
from prover.lean.env import EnvStats
from search.outcomes import (
    LeanError,
    ProofFinished,
    ProofGivenUp,
    TacticResult,
    TacticState,
)

logger = logging.getLogger(__name__)

INSTALL = "pip install 'lean-dojo>=2.0'   (in a checkout: EXTRAS=hf,dev,dojo make install)"


def import_lean_dojo() -> ModuleType:
    """`lean_dojo`, or EnvironmentProblem saying how to get it (or why its import failed)."""
    try:
        import lean_dojo
    except ImportError as exc:
        raise EnvironmentProblem(f"the LeanDojo backend needs the lean-dojo package, which is not installed ({exc})", INSTALL) from exc
    except Exception as exc:  # its import-time side effects: git missing, GitHub API offline, bad env vars
        raise EnvironmentProblem(
            f"lean_dojo failed to import: {type(exc).__name__}: {exc}. It needs git on PATH, and calls the GitHub API "
            "at import when GITHUB_ACCESS_TOKEN is set",
            "unset GITHUB_ACCESS_TOKEN; check that `git --version` works",
        ) from exc
    return lean_dojo


def split_goals(pp: str) -> tuple[str, ...]:
    """LeanDojo's pretty-printed state (goals separated by blank lines, its `N goals` line already removed)."""
    return tuple(goal.strip("\n") for goal in pp.split("\n\n") if goal.strip())


def map_dojo_result(result: Any, state_id: int) -> TacticResult:
    """One LeanDojo outcome as ours; `state_id` is the handle given to a new state (or a finished proof)."""
    ld = import_lean_dojo()
    if isinstance(result, ld.TacticState):
        return TacticState(goals=split_goals(result.pp), id=state_id, messages=(result.message,) if result.message else ())
    if isinstance(result, ld.ProofFinished):
        return ProofFinished(id=state_id, message=result.message or "")
    if isinstance(result, ld.LeanError):
        return LeanError(result.error)
    if isinstance(result, ld.ProofGivenUp):
        return LeanError("the tactic uses sorry (LeanDojo: ProofGivenUp)")
    raise TypeError(f"not a LeanDojo tactic result: {type(result).__name__}")


class DojoEnvironment:
    """One theorem in a LeanDojo-traced repository, as an environment the search can use (search.protocols.Env).

    Args:
        theorem: a `lean_dojo.Theorem` (see `from_repo`).
        tactic_timeout: the default wall-clock limit per tactic, in seconds.
        dojo_factory: builds the Dojo context manager (`lean_dojo.Dojo(theorem, timeout=…)` by default; tests
            pass a stand-in).

    LeanDojo is synchronous: every call runs in a worker thread, one at a time.
    """

    def __init__(self, theorem: Any, *, tactic_timeout: float = 10.0, dojo_factory: Callable[[Any, int], Any] | None = None) -> None:
        self.theorem = theorem
        self.tactic_timeout = tactic_timeout
        self.stats = EnvStats()
        self._factory = dojo_factory or self._lean_dojo_factory
        self._lock = asyncio.Lock()
        self._context: Any = None  # the entered `with Dojo(...)` object
        self._dojo: Any = None
        self._paths: dict[int, tuple[str, ...]] = {}  # our state id -> tactics from the root
        self._next_id = 0
        self._ids: dict[tuple[str, ...], int] = {}  # path -> our state id
        self._live: dict[int, Any] = {}  # our state id -> LeanDojo state in the current Dojo

    @classmethod
    def from_repo(cls, url: str, commit: str, file_path: str, full_name: str, *, tactic_timeout: float = 10.0) -> DojoEnvironment:
        """A theorem of a git repository LeanDojo can trace (`url` may be a local path)."""
        ld = import_lean_dojo()
        return cls(ld.Theorem(ld.LeanGitRepo(url, commit), file_path, full_name), tactic_timeout=tactic_timeout)

    @staticmethod
    def _lean_dojo_factory(theorem: Any, timeout: int) -> Any:
        return import_lean_dojo().Dojo(theorem, timeout=timeout)

    async def __aenter__(self) -> DojoEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> TacticState:
        """Enter the Dojo and return the root state (id 0)."""
        async with self._lock:
            try:
                root = await self._enter()
            except EnvironmentProblem:
                raise
            except Exception as exc:  # DojoInitError, a failed trace or build: the setup, not a tactic
                raise EnvironmentProblem(
                    f"LeanDojo could not start {getattr(self.theorem, 'full_name', self.theorem)}: {type(exc).__name__}: {exc}",
                    "check the repository, commit, file and theorem name; LeanDojo must be able to trace the repository",
                ) from exc
        self._paths[0], self._ids[()], self._next_id = (), 0, 1
        return TacticState(goals=split_goals(root.pp), id=0)

    async def run_tac(self, state: TacticState, tactic: str, timeout: float | None = None) -> TacticResult:
        """Run `tactic` on `state`; timeouts and crashes give ProofGivenUp, and the next call starts a new Dojo."""
        if state.id not in self._paths:
            raise ValueError(f"unknown state id {state.id} (not made by this environment)")
        limit = self.tactic_timeout if timeout is None else timeout
        async with self._lock:
            try:
                source = await self._state(state.id)
                if source is None:
                    return ProofGivenUp("replay failed after a restart")
                result = await self._call(source, tactic, limit)
            except (asyncio.TimeoutError, _DojoTimeout):
                self.stats.timeouts += 1
                await self._discard()
                return ProofGivenUp("timeout")
            except _DojoCrash as exc:
                self.stats.crashes += 1
                await self._discard()
                return ProofGivenUp(f"crash: {exc}")
            except _RestartFailed as exc:
                return ProofGivenUp(f"crash: LeanDojo could not restart: {exc}")
        path = (*self._paths[state.id], tactic)
        known = self._ids.get(path)
        new_id = known if known is not None else self._next_id
        mapped = map_dojo_result(result, new_id)
        if isinstance(mapped, TacticState):
            # The same path always gives the same handle, so a replayed state is the state the search knows.
            if known is None:
                self._next_id += 1
                self._paths[new_id], self._ids[path] = path, new_id
            self._live[new_id] = result
        elif known is None:
            self._next_id += 1
        return mapped

    async def close(self) -> None:
        async with self._lock:
            await self._discard()

    # -------------------------------------------------------------------------------------- internals

    async def _enter(self) -> Any:
        factory_timeout = max(1, math.ceil(self.tactic_timeout))
        context = self._factory(self.theorem, factory_timeout)
        dojo, root = await asyncio.to_thread(context.__enter__)
        self._context, self._dojo = context, dojo
        self._live = {0: root}
        return root

    async def _state(self, state_id: int) -> Any:
        """The LeanDojo state behind our id, rebuilding it by replay in a new Dojo when needed (None: replay failed)."""
        if self._dojo is None:
            self.stats.restarts += 1
            try:
                await self._enter()
            except Exception as exc:
                raise _RestartFailed(f"{type(exc).__name__}: {exc}") from exc
        if state_id in self._live:
            return self._live[state_id]
        self.stats.replays += 1
        path = self._paths[state_id]
        current = self._live[0]
        tactic_state = import_lean_dojo().TacticState
        for i, tactic in enumerate(path):
            prefix = path[: i + 1]
            known = self._ids.get(prefix)
            if known is not None and known in self._live:
                current = self._live[known]
                continue
            result = await self._call(current, tactic, self.tactic_timeout)
            if not isinstance(result, tactic_state):
                return None
            current = result
            if known is not None:
                self._live[known] = result
        return current

    async def _call(self, source: Any, tactic: str, limit: float) -> Any:
        dojo = self._dojo
        started = time.monotonic()
        self.stats.lean_calls += 1
        try:
            # LeanDojo enforces its own per-interaction timeout; this bounds a call whose limit is shorter.
            return await asyncio.wait_for(asyncio.to_thread(_run_tac, dojo, source, tactic), limit + 1.0)
        finally:
            self.stats.seconds_lean += time.monotonic() - started

    async def _discard(self) -> None:
        """Leave the current Dojo (it kills its Lean processes); the next call starts a new one."""
        context, dojo = self._context, self._dojo
        self._context = self._dojo = None
        self._live = {}
        if context is None:
            return
        proc = getattr(dojo, "proc", None)
        if proc is not None and getattr(proc, "pid", None):
            _kill_tree(proc.pid)  # a thread may still be blocked reading from it
        try:
            await asyncio.to_thread(context.__exit__, None, None, None)
        except Exception as exc:  # it is being thrown away; its Lean processes are already killed
            logger.debug("leaving a dead Dojo: %s", exc)


class _DojoTimeout(Exception):
    pass


class _DojoCrash(Exception):
    pass


class _RestartFailed(Exception):
    pass


def _run_tac(dojo: Any, state: Any, tactic: str) -> Any:
    """`dojo.run_tac`, with LeanDojo's timeout and crash exceptions turned into ours (by name: no import needed)."""
    try:
        return dojo.run_tac(state, tactic)
    except Exception as exc:
        name = type(exc).__name__
        if name == "DojoTacticTimeoutError":
            raise _DojoTimeout(str(exc)) from exc
        if name in ("DojoCrashError", "EOFError"):
            raise _DojoCrash(str(exc)) from exc
        raise


def _kill_tree(pid: int) -> None:
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
