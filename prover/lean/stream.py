"""The REPL's stdout and stderr as an asyncio protocol: answers split into frames, stderr's tail kept.

Each answer is JSON followed by a blank line (REPL/Main.lean `loop`: `IO.println json` then `printFlush "\\n"`), so
stdout is split on `\\n\\n` with no line-length limit; stderr is drained in the same callback (a full 64 KiB pipe
would block the REPL). Used by `prover.lean.process.ReplProcess` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

logger = logging.getLogger(__name__)

STDERR_TAIL_BYTES = 16 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 512 * 1024 * 1024

_F_SETPIPE_SZ = 1031  # Linux fcntl: a pipe's capacity
PIPE_BYTES = 1 << 20


def widen_pipes(transport: asyncio.SubprocessTransport) -> None:
    """Raise stdin/stdout pipe capacity from 64 KiB to 1 MiB where Linux allows (fs.pipe-max-size): a 1 MB
    request or a big answer then crosses in a few system calls instead of one event-loop wakeup per 64 KiB."""
    if not sys.platform.startswith("linux"):
        return
    import fcntl

    for fd in (0, 1):
        pipe = transport.get_pipe_transport(fd)
        handle = None if pipe is None else pipe.get_extra_info("pipe")
        if handle is None:
            continue
        with contextlib.suppress(OSError, ValueError):  # ValueError: closed already (the child exited at once)
            fcntl.fcntl(handle.fileno(), _F_SETPIPE_SZ, PIPE_BYTES)


class Timeout(Exception):
    pass


class Eof(Exception):
    pass


class OutOfMemory(Exception):
    pass


class TooLarge(Exception):
    pass


class ReplProtocol(asyncio.SubprocessProtocol):
    """Collects stdout into frames (one per blank-line-terminated response) and keeps stderr's tail."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.too_large = False  # an answer outgrew max_bytes: the stream is dropped and the process must die
        self.started = False  # the first answer's `{` was seen: before it, stdout may carry lake's own lines
        self.noise = b""
        self.buf = bytearray()
        self.scan = 0  # where the next search for b"\n\n" starts
        self.waiter: asyncio.Future[bytes] | None = None
        self.discard = 0  # responses still owed to requests whose caller was cancelled
        self.stdout_eof = False
        self.stderr = bytearray()
        self.stderr_total = 0
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        if fd == 1:
            if self.too_large:
                return
            self.buf += data
            if not self.started:
                self.skip_noise()
            if self.started:
                self.deliver()
            if len(self.buf) > self.max_bytes:
                self.too_large = True
                self.buf.clear()
                waiter = self.waiter
                if waiter is not None and not waiter.done():
                    waiter.set_exception(TooLarge())
        else:
            self.stderr += data
            self.stderr_total += len(data)
            if len(self.stderr) > 2 * STDERR_TAIL_BYTES:
                del self.stderr[:-STDERR_TAIL_BYTES]

    def skip_noise(self) -> None:
        """Drop what precedes the first answer: every answer is a JSON object printed from the start of a line
        (REPL/Main.lean `loop`), and `lake env` shares the REPL's stdout, so a line Lake prints before it spawns
        the REPL (e.g. while it re-elaborates a changed lakefile) would otherwise break the first frame."""
        start = 0 if self.buf.startswith(b"{") else self.buf.find(b"\n{") + 1
        if start == 0 and not self.buf.startswith(b"{"):
            return  # no answer begins yet
        if start:
            self.noise = bytes(self.buf[:start])
            logger.debug("dropped %d bytes on stdout before the first answer: %r", start, self.noise[:200])
            del self.buf[:start]
        self.started = True

    def deliver(self) -> None:
        """Hand complete frames to the waiter (after dropping frames owed to cancelled requests)."""
        while True:
            waiter = self.waiter
            if self.discard == 0 and (waiter is None or waiter.done()):
                return
            end = self.buf.find(b"\n\n", self.scan)
            if end < 0:
                self.scan = max(0, len(self.buf) - 1)
                return
            frame = bytes(self.buf[:end])
            del self.buf[: end + 2]
            self.scan = 0
            if self.discard:
                self.discard -= 1
                continue
            self.waiter = None
            assert waiter is not None
            waiter.set_result(frame)
            return

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.stdout_eof = True
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(Eof())

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def stderr_tail(self) -> str:
        tail = bytes(self.stderr[-STDERR_TAIL_BYTES:]).decode("utf-8", errors="replace")
        if self.stderr_total > len(tail):
            return f"[… {self.stderr_total - len(tail)} earlier bytes of stderr dropped]\n" + tail
        return tail


