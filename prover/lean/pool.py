"""Warm REPL workers for one import header.

Importing Mathlib costs seconds to minutes, so each worker sends its header once, as an env-less command (the
only kind that may `import`, notes/lean-repl-protocol.md §1.4), and every later command builds on that env id.
Workers are handed out exclusively (the REPL answers one request at a time); one that died, or passed its RSS or
proof-state limit, is closed when it comes back and a fresh one is started in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from prover.config import LeanConfig
from prover.errors import NoAvailableReplError, ReplError, ReplStartError, ReplTimeoutError, StatementError
from prover.lean.protocol import ErrorResponse, error_texts, has_errors
from prover.lean.process import ReplProcess

__all__ = ["ReplPool", "Worker"]

logger = logging.getLogger(__name__)

_UIDS = itertools.count()


@dataclass(eq=False)
class Worker:
    """A warm REPL process and the env id of its header. `uid` is unique across restarts (a new process, a new uid).

    `preamble_envs` maps a header's non-import text (options, `open`s, definitions) to the env id this process got
    by elaborating it, once, on `header_env`.
    """

    process: ReplProcess
    header_env: int
    uid: int
    preamble_envs: dict[str, int] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.process.alive

    async def env_for(self, preamble: str, timeout: float) -> int:
        """The env id in which a statement under `preamble` is elaborated on this worker.

        The REPL gives the proof states of a command's sorries the environment from *before* that command
        (REPL/Main.lean `runCommand`: `sorries trees initialCmdState.env`; REPL/Frontend.lean: `initialCmdState =
        cmdStateBefore`; repl issue #66), so a preamble sent in the same command as the statement would be missing
        in tactic mode: its definitions unknown, its scoped notation (`π`, `n !`) unparsable. It is therefore
        elaborated as a command of its own and the statement is sent on the env that results.

        Raises:
            StatementError: the preamble does not elaborate.
            ReplTimeoutError / ReplCrashError: the process timed out or died.
        """
        if not preamble.strip():
            return self.header_env
        env = self.preamble_envs.get(preamble)
        if env is None:
            resp = await self.process.command(preamble, env=self.header_env, timeout=timeout)
            if isinstance(resp, ErrorResponse):
                raise StatementError(f"Lean rejected the header: {resp.message}", (resp.message,))
            if has_errors(resp.messages):
                texts = error_texts(resp.messages)
                raise StatementError(f"the header does not elaborate: {texts[0]}", texts)
            env = self.preamble_envs[preamble] = resp.env
        return env


class ReplPool:
    """W warm workers (W = `config.workers`) for one header.

    Args:
        config: how to start and police each process.
        header: the text sent once per process, env-less (imports, options, `open`s).

    Examples:
        >>> async def demo(config: LeanConfig) -> None:
        ...     async with ReplPool(config, "import Mathlib") as pool:
        ...         async with pool.acquire() as worker:
        ...             await worker.process.command("example : 2 = 2 := rfl", env=worker.header_env)
    """

    def __init__(self, config: LeanConfig, header: str) -> None:
        self.config = config
        self.header = header
        self.size = max(1, config.workers)
        self.restarts = 0  # workers replaced after dying or reaching a limit
        self._live: set[Worker] = set()
        self._idle: list[Worker] = []
        self._waiters: deque[asyncio.Future[Worker]] = deque()
        self._starting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._spawn_error: ReplError | None = None
        self._started = False
        self._closed = False
        self._start_lock = asyncio.Lock()

    # -- life cycle

    async def start(self) -> None:
        """Start every worker and send its header. Raises ReplStartError (all started ones are closed again)."""
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise ReplStartError("the pool is closed")
            results = await asyncio.gather(*(self._spawn() for _ in range(self.size)), return_exceptions=True)
            workers = [r for r in results if isinstance(r, Worker)]
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                await asyncio.gather(*(w.process.close() for w in workers))
                raise failures[0]
            self._live.update(workers)
            self._idle.extend(workers)
            self._started = True

    async def close(self) -> None:
        """Close every process (busy ones too) and fail waiters. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for fut in self._waiters:
            if not fut.done():
                fut.set_exception(NoAvailableReplError("the REPL pool was closed"))
        self._waiters.clear()
        workers = list(self._live)
        self._live.clear()
        self._idle.clear()
        await asyncio.gather(*(w.process.close() for w in workers), *self._tasks, return_exceptions=True)

    async def __aenter__(self) -> ReplPool:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def is_live(self, worker: Worker) -> bool:
        """Whether `worker` still belongs to the pool (not retired or replaced)."""
        return worker in self._live

    # -- handing out workers

    @contextlib.asynccontextmanager
    async def acquire(
        self, timeout: float | None = None, *, prefer: Callable[[Worker], bool] | None = None
    ) -> AsyncIterator[Worker]:
        """Borrow a worker exclusively; it returns to the pool (or is replaced) when the block ends.

        Args:
            timeout: seconds to wait for a free worker (default `config.acquire_timeout`).
            prefer: among idle workers, take one for which this is true when there is one.

        Raises:
            NoAvailableReplError: none became free in time.
            ReplStartError: no worker is alive and a new one cannot be started.
        """
        worker = await self.get(timeout, prefer=prefer)
        try:
            yield worker
        finally:
            self.put(worker)

    async def get(self, timeout: float | None = None, *, prefer: Callable[[Worker], bool] | None = None) -> Worker:
        """`acquire` without the context manager: pair every get() with one put()."""
        if not self._started:
            await self.start()
        if self._closed:
            raise NoAvailableReplError("the REPL pool is closed")
        self._fill()
        while self._idle:
            worker = self._pick(prefer)
            if worker.alive:
                return worker
            self._retire(worker)  # died while idle
        if not self._live and self._starting == 0 and self._spawn_error is not None:
            raise self._spawn_error
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Worker] = loop.create_future()
        self._waiters.append(fut)
        wait = self.config.acquire_timeout if timeout is None else timeout
        busy = len(self._live)
        timer = loop.call_later(
            wait,
            _fail,
            fut,
            NoAvailableReplError(
                f"no REPL worker became free within {wait:g} s ({busy} busy, {self._starting} starting)"
            ),
        )
        try:
            worker = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.put(fut.result())  # handed over just as the caller gave up
            raise
        finally:
            timer.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)
        return worker

    def put(self, worker: Worker) -> None:
        """Give a worker back: to the next waiter, or idle; a dead or worn-out one is replaced."""
        if worker not in self._live:
            return  # retired already, or the pool was closed (which closed every process)
        if not worker.alive or worker.process.needs_recycle:
            self._retire(worker)
            return
        self._hand(worker)

    def _pick(self, prefer: Callable[[Worker], bool] | None) -> Worker:
        if prefer is not None:
            for i in range(len(self._idle) - 1, -1, -1):
                if prefer(self._idle[i]):
                    return self._idle.pop(i)
        return self._idle.pop()

    def _hand(self, worker: Worker) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(worker)
                return
        self._idle.append(worker)

    # -- replacing workers

    def _retire(self, worker: Worker) -> None:
        self._live.discard(worker)
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        why = "reached its limits" if worker.alive else f"died (code {worker.process.returncode})"
        logger.info("REPL worker %s %s; starting a replacement", worker.process.name, why)
        self.restarts += 1
        self._tasks_add(worker.process.close())
        self._fill()

    def _fill(self) -> None:
        """Start workers until live + starting reaches the pool size."""
        while not self._closed and len(self._live) + self._starting < self.size:
            self._starting += 1
            self._tasks_add(self._replace())

    async def _replace(self) -> None:
        try:
            worker = await self._spawn()
        except Exception as exc:
            e = exc if isinstance(exc, ReplError) else ReplStartError(f"could not start a REPL worker: {exc!r}")
            self._starting -= 1
            self._spawn_error = e
            logger.warning("could not start a REPL worker: %s", e)
            if not self._live and self._starting == 0:
                while self._waiters:
                    _fail(self._waiters.popleft(), e)
            return
        except BaseException:
            self._starting -= 1
            raise
        self._starting -= 1
        if self._closed:
            await worker.process.close()
            return
        self._spawn_error = None
        self._live.add(worker)
        self._hand(worker)

    async def _spawn(self) -> Worker:
        """Start one process and send the header (env-less, once)."""
        uid = next(_UIDS)
        process = ReplProcess.from_config(self.config, name=f"repl-{uid}")
        try:
            await process.start()
            resp = await process.command(self.header, timeout=self.config.command_timeout)
        except ReplTimeoutError as e:
            await process.close()
            raise ReplStartError(
                f"the header import took longer than {self.config.command_timeout:g} s", e.stderr_tail
            ) from e
        except BaseException:
            await process.close()
            raise
        if isinstance(resp, ErrorResponse) or has_errors(resp.messages):
            await process.close()
            detail = resp.message if isinstance(resp, ErrorResponse) else error_texts(resp.messages)[0]
            raise ReplStartError(f"the header does not elaborate: {detail}")
        return Worker(process, resp.env, uid)

    def _tasks_add(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _fail(fut: asyncio.Future[Worker], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
