"""One Lean REPL process: started from an argv, policed (timeouts, memory, state count), and spoken to over pipes.

The REPL has no timeout, never frees a state, and dies on a malformed request (notes/lean-repl-protocol.md §0,
§1.7), so this class owns all of that:

- the process starts in its own session (process group) from `LeanConfig.repl_argv()`, cwd = the Lean project,
  stdin/stdout/stderr pipes (never a pty); `lake env repl` runs the REPL as a *child* of lake, so every kill
  targets the whole group;
- every request is validated before it is written (`protocol.encode_request_bytes`), and carries a wall-clock
  timeout; on expiry the group is killed and `ReplTimeoutError` raised;
- stdout is read in chunks by an asyncio protocol and split on the blank line that ends each response (REPL/Main.lean
  `loop`: `IO.println json` then `printFlush "\\n"`), so no line-length limit applies (asyncio's 64 KiB
  `readline` limit would bite on infotrees and traces); stderr is drained continuously by the same protocol
  callback (a full 64 KiB stderr pipe would block the REPL) and its tail kept for error reports;
- an RSS ceiling over the process tree (psutil) and a maximum number of proof states mark the process for
  recycling; a request that pushes the tree past the ceiling is killed as out of memory;
- no orphan survives: close() kills the group; the child starts through a tiny exec wrapper (prover/lean/launch.py,
  no `preexec_fn`: this process runs threads) that sets PR_SET_PDEATHSIG (Linux) and RLIMIT_AS, the REPL itself
  exits on stdin EOF (REPL/Main.lean `loop`), and an atexit hook kills live groups;
- an answer larger than `max_response_bytes` (a REPL writing without end) kills the process: "response too large";
- a request cancelled while Lean still runs it marks the process for recycling: the pool replaces it rather than
  hand the next caller a process that is busy for up to a tactic timeout.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from prover.config import LeanConfig
from prover.errors import ReplCrashError, ReplStartError, ReplTimeoutError
from prover.lean.stream import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Eof,
    OutOfMemory,
    ReplProtocol,
    Timeout,
    TooLarge,
    widen_pipes,
)
from prover.lean.protocol import (
    CommandRequest,
    CommandResponse,
    ErrorResponse,
    ProofStepResponse,
    Request,
    Response,
    TacticRequest,
    encode_request_body,
    parse_response,
)

__all__ = ["DEFAULT_COMMAND_TIMEOUT", "DEFAULT_TACTIC_TIMEOUT", "ReplProcess"]

logger = logging.getLogger(__name__)

DEFAULT_TACTIC_TIMEOUT = 10.0
DEFAULT_COMMAND_TIMEOUT = 300.0
RSS_CHECK_INTERVAL = 1.0  # seconds between RSS samples (psutil over a process tree costs ~0.1-1 ms)
EXIT_GRACE = 2.0  # seconds to wait for the exit status after stdout closed, before killing the group
LAUNCHER = Path(__file__).with_name("launch.py")  # the exec wrapper that sets limits (no preexec_fn)

# ------------------------------------------------------------------------------------- orphan safety

_LIVE_GROUPS: set[int] = set()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@atexit.register
def _kill_live_groups() -> None:
    """Interpreter exit without close() (an exception escaped asyncio.run): leave nothing behind."""
    for pgid in list(_LIVE_GROUPS):
        _kill_group(pgid)
    _LIVE_GROUPS.clear()


def _launch_argv(argv: Sequence[str], memory_limit_bytes: int | None) -> list[str]:
    """`argv` behind the exec wrapper (prover/lean/launch.py): death with this process, RLIMIT_AS, then exec."""
    limit = "-" if memory_limit_bytes is None else str(memory_limit_bytes)
    return [sys.executable, "-S", "-I", str(LAUNCHER), str(os.getpid()), limit, "--", *argv]


def _resolve(program: str, cwd: Path, env: Mapping[str, str]) -> str | None:
    """The executable `program` names (PATH lookup in `env`, or a path relative to `cwd`), None when there is none.
    Checked before the spawn so that a missing program is a start error at once, as it was without the wrapper."""
    if os.sep in program:
        path = Path(program) if Path(program).is_absolute() else cwd / program
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(program, path=env.get("PATH", os.defpath))


_SMALL_WRITE = 64 * 1024


class _Alarm:
    """The one timer of a request: fails it at the deadline and, when an RSS ceiling is set, samples the process
    tree's RSS once a second on the way (killing a request that grows past the ceiling)."""

    __slots__ = ("_deadline", "_fut", "_handle", "_repl")

    def __init__(self, repl: ReplProcess, fut: asyncio.Future[bytes], deadline: float) -> None:
        self._repl, self._fut, self._deadline = repl, fut, deadline
        self._handle = self._schedule(asyncio.get_running_loop())

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> asyncio.TimerHandle:
        when = self._deadline
        if self._repl.max_rss_mb is not None:
            when = min(when, loop.time() + RSS_CHECK_INTERVAL)
        return loop.call_at(when, self._fire)

    def _fire(self) -> None:
        fut, repl = self._fut, self._repl
        if fut.done():
            return
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            fut.set_exception(Timeout())
            return
        if repl.max_rss_mb is not None and repl._check_rss():
            fut.set_exception(OutOfMemory())
            return
        self._handle = self._schedule(loop)

    def cancel(self) -> None:
        self._handle.cancel()


# --------------------------------------------------------------------------------------- the process


class ReplProcess:
    """One REPL process. Use as `async with ReplProcess(...) as repl:`; one request in flight at a time.

    Args:
        argv: the command (no shell), e.g. `LeanConfig.repl_argv()`.
        cwd: working directory (the Lean project; relative paths in requests resolve against it).
        env: the child's environment (default: this process's).
        lean_num_threads: sets `LEAN_NUM_THREADS` (Lean's task pool honours it; the REPL takes no flags).
        memory_limit_mb: hard RLIMIT_AS for the child (Lean maps .olean files: keep it well above RSS).
        max_rss_mb: RSS ceiling over the process tree: beyond it the process is marked for recycling, and a
            request during which the tree grows past it is killed (ReplCrashError with oom=True).
        max_proof_states: after this many proof states (they are never freed) the process is marked for recycling.
        name: a label for logs and errors.
        tactic_timeout, command_timeout: default wall-clock limits of `tactic` and `command`.
        max_response_bytes: the largest answer accepted; past it the process is killed (ReplCrashError
            "response too large").

    Raises (from the request methods):
        ReplTimeoutError: no answer in time; the process group was killed.
        ReplCrashError: the process exited or broke the protocol while a request was pending.
        ReplStartError: the program could not be started or died before its first answer.
        ValueError: the request cannot be encoded (nothing was sent; the process is unharmed).

    Examples:
        >>> async def demo(config: LeanConfig) -> None:
        ...     async with ReplProcess.from_config(config) as repl:
        ...         header = await repl.command("import Mathlib")
        ...         resp = await repl.command("theorem t : 1 + 1 = 2 := by sorry", env=header.env)
    """

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        env: Mapping[str, str] | None = None,
        lean_num_threads: int | None = None,
        memory_limit_mb: int | None = None,
        max_rss_mb: int | None = None,
        max_proof_states: int | None = None,
        name: str = "repl",
        tactic_timeout: float = DEFAULT_TACTIC_TIMEOUT,
        command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if not argv:
            raise ValueError("the REPL command is empty")
        self.argv = list(argv)
        self.cwd = Path(cwd)
        self.name = name
        self.tactic_timeout = tactic_timeout
        self.command_timeout = command_timeout
        self.max_rss_mb = max_rss_mb
        self.max_proof_states = max_proof_states
        self.max_response_bytes = max_response_bytes
        self._env = env
        self._lean_num_threads = lean_num_threads
        self._memory_limit_mb = memory_limit_mb
        self._transport: asyncio.SubprocessTransport | None = None
        self._proto: ReplProtocol | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._lock = asyncio.Lock()
        self._dead = False  # killed, crashed, or closed: no more requests
        self._closed = False
        self._answered = 0
        self._max_state = -1
        self._over_rss = False
        self._interrupted = False  # a request was cancelled while Lean still ran it
        self._rss_checked = 0.0
        self.pid: int | None = None

    @classmethod
    def from_config(cls, config: LeanConfig, name: str = "repl") -> ReplProcess:
        """A process as the configuration says (argv, project dir, limits, default timeouts)."""
        return cls(
            config.repl_argv(),
            config.project_dir,
            env=config.repl_environ(),
            lean_num_threads=config.lean_num_threads,
            memory_limit_mb=config.memory_limit_mb,
            max_rss_mb=config.max_rss_mb,
            max_proof_states=config.max_proof_states,
            name=name,
            tactic_timeout=config.tactic_timeout,
            command_timeout=config.command_timeout,
            max_response_bytes=config.max_response_mb * 1024 * 1024,
        )

    # -- state

    @property
    def alive(self) -> bool:
        """Started, not closed, not killed, and its stdout still open."""
        return self._proto is not None and not self._dead and not self._proto.stdout_eof and self.returncode is None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that signal)."""
        return None if self._transport is None else self._transport.get_returncode()

    @property
    def stderr_tail(self) -> str:
        """The last part of what the process wrote to stderr."""
        return "" if self._proto is None else self._proto.stderr_tail()

    @property
    def proof_states_created(self) -> int:
        """Proof states the REPL holds (its ids grow from 0 and are never freed): highest id seen + 1."""
        return self._max_state + 1

    @property
    def needs_recycle(self) -> bool:
        """Past the proof-state limit or the RSS ceiling, or still busy with a cancelled request: replace this
        process when it is next idle."""
        return self._over_rss or self._interrupted or (
            self.max_proof_states is not None and self.proof_states_created >= self.max_proof_states
        )

    def rss_mb(self) -> float:
        """Resident memory of the process tree in MiB (0 when it is gone)."""
        if self.pid is None:
            return 0.0
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total / (1024 * 1024)

    # -- life cycle

    async def start(self) -> None:
        """Start the process. Raises ReplStartError when the program cannot be run."""
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        env = dict(os.environ if self._env is None else self._env)
        if self._lean_num_threads is not None:
            env["LEAN_NUM_THREADS"] = str(self._lean_num_threads)
        limit = None if self._memory_limit_mb is None else self._memory_limit_mb * 1024 * 1024
        if _resolve(self.argv[0], self.cwd, env) is None:
            raise ReplStartError(
                f"cannot start the REPL `{shlex.join(self.argv)}` in {self.cwd}: no executable {self.argv[0]!r}"
                + ("" if os.sep in self.argv[0] else " on PATH")
            )
        try:
            transport, proto = await loop.subprocess_exec(
                lambda: ReplProtocol(loop, self.max_response_bytes),
                *_launch_argv(self.argv, limit),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError) as e:
            raise ReplStartError(f"cannot start the REPL `{shlex.join(self.argv)}` in {self.cwd}: {e}") from e
        self._transport, self._proto = transport, proto
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        self._stdin = stdin
        self.pid = transport.get_pid()
        widen_pipes(transport)
        _LIVE_GROUPS.add(self.pid)  # start_new_session: the group id is the pid
        logger.debug("%s: started pid %d: %s", self.name, self.pid, shlex.join(self.argv))

    async def close(self) -> None:
        """Kill the whole process group and reap it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._dead = True
        await self._kill()
        if self._transport is not None:
            self._transport.close()

    async def __aenter__(self) -> ReplProcess:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _kill(self) -> None:
        """SIGKILL the group, then wait (bounded) for the exit status and the pipes to close."""
        self._dead = True
        if self.pid is None or self._proto is None:
            return
        _kill_group(self.pid)
        _LIVE_GROUPS.discard(self.pid)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._proto.closed), EXIT_GRACE)

    # -- requests

    async def command(
        self, cmd: str, env: int | None = None, timeout: float | None = None, **options: Any
    ) -> CommandResponse | ErrorResponse:
        """Elaborate `cmd` (in environment `env`; without it, a fresh one: the header's `import`s).

        `options`: all_tactics, root_goals, infotree (REPL CommandOptions).
        """
        resp = await self.request(
            CommandRequest(cmd=cmd, env=env, **options), self.command_timeout if timeout is None else timeout
        )
        if isinstance(resp, ProofStepResponse):
            raise await self._broken("a command got a proof-step response")
        return resp

    async def tactic(
        self, tactic: str, proof_state: int, timeout: float | None = None
    ) -> ProofStepResponse | ErrorResponse:
        """Run one tactic on a proof state."""
        resp = await self.request(
            TacticRequest(tactic=tactic, proof_state=proof_state), self.tactic_timeout if timeout is None else timeout
        )
        if isinstance(resp, CommandResponse):
            raise await self._broken("a tactic got a command response")
        return resp

    async def request(self, req: Request, timeout: float) -> Response:
        """Send one validated request and wait at most `timeout` seconds for its response."""
        body = encode_request_body(req)  # ValueError before anything is sent
        async with self._lock:
            frame = await self._roundtrip(body, timeout)
        try:
            resp = parse_response(frame)
        except ValueError as e:
            raise await self._broken(f"unparsable response ({e}): {frame[:200]!r}") from e
        self._answered += 1
        self._note(resp)
        return resp

    async def _roundtrip(self, body: bytes, timeout: float) -> bytes:
        proto, stdin = self._proto, self._stdin
        if proto is None or stdin is None:
            raise ReplStartError(f"{self.name}: request before start()")
        if not self.alive:
            if not self._dead:  # it exited on its own since the last request (or before the first one)
                raise await self._exited()
            raise ReplCrashError(f"{self.name}: the REPL is not running", self.stderr_tail, self.returncode)
        if proto.too_large:
            raise await self._too_large()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bytes] = loop.create_future()
        proto.waiter = fut
        if len(body) < _SMALL_WRITE:
            stdin.write(body + b"\n\n")  # one system call
        else:
            stdin.write(body)  # no 1 MB copy just to append the blank line
            stdin.write(b"\n\n")
        if proto.started:
            proto.deliver()  # a response may already sit in the buffer (only after a cancelled request)
        alarm = _Alarm(self, fut, loop.time() + timeout)
        try:
            return await fut
        except Timeout:
            await self._kill()
            raise ReplTimeoutError(
                f"{self.name}: no answer within {timeout:g} s; process group killed", self.stderr_tail
            ) from None
        except OutOfMemory:
            await self._kill()
            raise ReplCrashError(
                f"{self.name}: killed: the process tree exceeded {self.max_rss_mb} MiB RSS",
                self.stderr_tail,
                self.returncode,
                oom=True,
            ) from None
        except TooLarge:
            raise await self._too_large() from None
        except Eof:
            raise await self._exited() from None
        except asyncio.CancelledError:
            # The REPL will still answer this request: drop that answer when it comes, so that the next request
            # gets its own (no request ids on the wire, notes §1.3). Lean may be busy with it for a whole tactic
            # timeout, so the process is also marked for recycling: a pool replaces it instead of handing it on.
            if proto.waiter is fut:
                proto.waiter = None
            if not fut.done() or fut.cancelled():
                proto.discard += 1
                self._interrupted = True
            raise
        finally:
            alarm.cancel()

    def _note(self, resp: Response) -> None:
        """Track proof-state ids (for recycling) and, at most once a second, the RSS ceiling."""
        if isinstance(resp, ProofStepResponse):
            ids = [resp.proof_state, *(s.proof_state for s in resp.sorries if s.proof_state is not None)]
            self._max_state = max(self._max_state, *ids)
        elif isinstance(resp, CommandResponse) and (resp.sorries or resp.tactics):
            ids = [s.proof_state for s in resp.sorries if s.proof_state is not None]
            ids += [t.proof_state for t in resp.tactics if t.proof_state is not None]
            if ids:
                self._max_state = max(self._max_state, *ids)
        if self.max_rss_mb is not None and time.monotonic() - self._rss_checked >= RSS_CHECK_INTERVAL:
            self._check_rss()

    def _check_rss(self) -> bool:
        """Sample the process tree's RSS now; True (and recycle later) when it is over the ceiling."""
        assert self.max_rss_mb is not None
        self._rss_checked = time.monotonic()
        over = self.rss_mb() > self.max_rss_mb
        if over:
            self._over_rss = True
        return over

    async def _exited(self) -> ReplCrashError | ReplStartError:
        """stdout closed while a request was pending: collect the exit status and build the error."""
        assert self._proto is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._proto.exited), EXIT_GRACE)
        await self._kill()
        code, tail = self.returncode, self.stderr_tail
        if self._answered == 0:
            return ReplStartError(
                f"{self.name}: the REPL `{shlex.join(self.argv)}` exited (code {code}) before answering its first "
                f"request; stderr: {tail[-2000:].strip() or '(empty)'}",
                tail,
            )
        oom = code in (-signal.SIGKILL, 128 + signal.SIGKILL) or "out of memory" in tail.lower()
        return ReplCrashError(f"{self.name}: the REPL exited with code {code}", tail, code, oom)

    async def _too_large(self) -> ReplCrashError:
        await self._kill()
        return ReplCrashError(
            f"{self.name}: response too large (over {self.max_response_bytes // (1024 * 1024)} MiB without an end); "
            "process group killed",
            self.stderr_tail,
            self.returncode,
        )

    async def _broken(self, what: str) -> ReplCrashError:
        """The stream cannot be trusted any more: kill the process and describe the fault."""
        await self._kill()
        return ReplCrashError(f"{self.name}: protocol broken: {what}", self.stderr_tail, self.returncode)

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"dead (code {self.returncode})"
        return f"<ReplProcess {self.name} pid={self.pid} {state} states={self.proof_states_created}>"
