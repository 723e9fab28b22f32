"""`prover serve`: the batch checker over HTTP (FastAPI + uvicorn, the `serve` extra).

Endpoints:
- `POST /check`: one record, a list of records, or `{"proofs": [...], "timeout"?: s}` (the JSONL shapes of
  prover/service/inputs.py) → `{"results": [verdict lines]}`, in request order.
- `POST /verify`: kimina-lean-server's batch endpoint, so kimina clients can point here. Its schema
  (project-numina/kimina-lean-server, app/schemas.py @96dff08 `VerifyRequestBody`/`Code`/`BackwardResponse`, and
  server/routers/backward.py @5aaecfc): request `{"codes": [{"custom_id", "proof" | "code"}], "timeout": 300,
  "infotree_type"?, "disable_cache"?}`, response `{"results": [{"custom_id", "error", "response"}]}` where
  `response` is the REPL's command response (`env`, `messages`, `sorries`, `time`). Kimina clients count a proof
  as passing when `error` is null and no message has severity `error`, so every verdict but `verified` carries
  one more error message naming the verdict: a proof with an injected axiom fails there too.
- `GET /health`: pools, workers busy, the queue.

Admission is bounded: proofs running + waiting never exceed `queue`; a request that would pass it gets 503 with
Retry-After. Bad input never raises: 400 (not JSON), 413 (body too large), 422 (wrong shape), 401 (token).
On SIGTERM the server stops admitting (503), lets in-flight checks finish for `grace` seconds, answers the rest
`cancelled`, then closes every REPL process and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from prover.config import LeanConfig
from prover.service.checker import CANCELLED, ERROR, Checker, CheckPolicy, CheckResult
from prover.service.inputs import ProofItem, from_record
from prover.lean.verifier import Verdict

logger = logging.getLogger(__name__)

_RENDERED = re.compile(r"^(?P<line>\d+):(?P<col>\d+): (?P<severity>\w+): (?P<data>.*)$", re.S)


@dataclass(frozen=True)
class ServerSettings:
    """Limits of the HTTP layer.

    Attributes:
        queue: proofs admitted at once (running + waiting).
        request_timeout: most seconds one request may take; a request's own `timeout` may only lower it.
        max_body: largest request body in bytes.
        token: when set, `Authorization: Bearer <token>` is required on /check and /verify.
        grace: on SIGTERM, seconds in-flight checks may take before they are answered `cancelled`.
        retry_after: seconds suggested to a client refused with 503.
    """

    queue: int = 256
    request_timeout: float = 600.0
    max_body: int = 8 * 1024 * 1024
    token: str | None = None
    grace: float = 30.0
    retry_after: int = 1


class HttpError(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class Service:
    """The checker behind the HTTP layer: admission, deadlines, draining."""

    def __init__(self, checker: Checker, settings: ServerSettings) -> None:
        self.checker = checker
        self.settings = settings
        self.admitted = 0
        self.draining = False
        self.requests = 0
        self.rejected_full = 0
        self._tasks: set[asyncio.Task[CheckResult]] = set()

    def admit(self, n: int) -> None:
        if self.draining:
            raise HttpError(503, "the server is shutting down", {"Retry-After": str(self.settings.retry_after)})
        if n > self.settings.queue:
            raise HttpError(413, f"{n} proofs in one request, more than the queue holds ({self.settings.queue})")
        if self.admitted + n > self.settings.queue:
            self.rejected_full += 1
            raise HttpError(
                503, f"the queue is full ({self.admitted} of {self.settings.queue} proofs admitted)",
                {"Retry-After": str(self.settings.retry_after)},
            )
        self.admitted += n

    async def run(self, items: Sequence[ProofItem], timeout: float | None) -> list[CheckResult]:
        """Check admitted items under one deadline; each gets a verdict, whatever happens."""
        deadline = self.settings.request_timeout if timeout is None else min(timeout, self.settings.request_timeout)
        started = time.monotonic()
        tasks = [asyncio.ensure_future(self.checker.check(item)) for item in items]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, timeout=deadline)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
            self.admitted -= len(items)
        out = []
        for item, task in zip(items, tasks):
            seconds = time.monotonic() - started
            if task.cancelled():
                if self.draining:
                    out.append(CheckResult(item.id, CANCELLED, "the server shut down before the check finished", seconds=seconds, theorem=item.theorem))
                else:
                    out.append(CheckResult(item.id, Verdict.TIMEOUT.value, f"the request's deadline of {deadline:g} s passed", seconds=seconds, theorem=item.theorem))
            elif task.exception() is not None:
                exc = task.exception()
                logger.error("check of %s failed: %r", item.id, exc)
                out.append(CheckResult(item.id, Verdict.REPL_ERROR.value, f"{type(exc).__name__}: {exc}", seconds=seconds, theorem=item.theorem))
            else:
                out.append(task.result())
        return out

    async def drain(self, grace: float) -> None:
        """Stop admitting; give in-flight checks `grace` seconds, then cancel them (answered `cancelled`)."""
        self.draining = True
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            logger.info("shutting down: %d checks in flight, %g s to finish", len(pending), grace)
            await asyncio.wait(pending, timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        while self.admitted > 0:  # the handlers turn their cancelled checks into answers
            await asyncio.sleep(0.01)

    def health(self) -> dict[str, Any]:
        return {
            "status": "draining" if self.draining else "ok",
            "queue": {
                "admitted": self.admitted, "capacity": self.settings.queue, "running": self.checker.running,
                "waiting": max(0, self.admitted - self.checker.running), "rejected_full": self.rejected_full,
            },
            "requests": self.requests,
            **self.checker.health(),
        }


def create_app(service: Service, *, close_checker: bool = True) -> FastAPI:
    """The FastAPI app over `service`; the checker's REPL processes are closed at shutdown."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        if close_checker:
            await service.checker.close()

    app = FastAPI(title="prover check server", lifespan=lifespan)
    settings = service.settings

    @app.exception_handler(HttpError)
    async def http_error(request: Request, exc: HttpError) -> JSONResponse:
        return JSONResponse({"error": exc.reason}, status_code=exc.status, headers=exc.headers)

    async def body_of(request: Request) -> Any:
        if settings.token is not None:
            given = request.headers.get("authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {settings.token}".encode()):
                raise HttpError(401, "a valid `Authorization: Bearer <token>` header is required", {"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body:
            raise HttpError(413, f"the body is {int(length)} bytes, over the {settings.max_body}-byte limit")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body:
                raise HttpError(413, f"the body is over the {settings.max_body}-byte limit")
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks).decode("utf-8"))
        except UnicodeDecodeError:
            raise HttpError(400, "the body is not valid UTF-8") from None
        except ValueError as exc:
            raise HttpError(400, f"the body is not JSON: {exc}") from None

    async def checked(items: list[ProofItem], timeout: Any) -> list[CheckResult]:
        if timeout is not None and (not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0):
            raise HttpError(422, "`timeout` must be a positive number of seconds")
        service.requests += 1
        service.admit(len(items))
        return await service.run(items, None if timeout is None else float(timeout))

    @app.post("/check")
    async def check(request: Request) -> dict[str, Any]:
        body = await body_of(request)
        timeout = None
        if isinstance(body, dict) and "proofs" in body:
            timeout = body.get("timeout")
            body = body["proofs"]
        records = body if isinstance(body, list) else [body]
        if not records:
            raise HttpError(422, "no proofs in the request")
        if not all(isinstance(r, dict) for r in records):
            raise HttpError(422, "every proof must be a JSON object")
        items = [from_record(r, f"#{i}") for i, r in enumerate(records)]
        results = await checked(items, timeout)
        return {"results": [r.to_json() for r in results]}

    @app.post("/verify")
    async def verify(request: Request) -> dict[str, Any]:
        body = await body_of(request)
        codes = body.get("codes") if isinstance(body, dict) else None
        if not isinstance(codes, list) or not codes or not all(isinstance(c, dict) for c in codes):
            raise HttpError(422, "`codes` must be a non-empty list of {custom_id, proof|code} objects")
        items = []
        for i, code in enumerate(codes):
            if "custom_id" not in code:
                raise HttpError(422, f"`codes[{i}].custom_id` is required")
            text = code.get("proof", code.get("code"))
            items.append(from_record({"custom_id": code["custom_id"], "code": text}, f"#{i}"))
        results = await checked(items, body.get("timeout"))
        return {"results": [kimina_result(r) for r in results]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return service.health()

    return app


def kimina_result(result: CheckResult) -> dict[str, Any]:
    """One verdict in kimina's `BackwardResponse` shape (module docstring)."""
    if result.verdict in (ERROR, CANCELLED, Verdict.TIMEOUT.value, Verdict.REPL_ERROR.value):
        return {"custom_id": result.id, "error": f"{result.verdict}: {result.details}", "response": None,
                "verdict": result.verdict}
    messages = [_message(m) for m in result.messages]
    if not result.verified:
        messages.append({
            "severity": "error", "pos": {"line": 0, "column": 0}, "endPos": None,
            "data": f"prover verifier: {result.verdict}: {result.details}",
        })
    response = {"env": 0, "messages": messages, "sorries": [], "time": round(result.seconds, 4)}
    return {"custom_id": result.id, "error": None, "response": response, "verdict": result.verdict,
            "axioms": list(result.axioms)}


def _message(rendered: str) -> dict[str, Any]:
    match = _RENDERED.match(rendered)
    if match is None:
        return {"severity": "info", "pos": {"line": 0, "column": 0}, "endPos": None, "data": rendered}
    pos = {"line": int(match.group("line")), "column": int(match.group("col"))}
    return {"severity": match.group("severity"), "pos": pos, "endPos": None, "data": match.group("data")}


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, with SIGTERM/SIGINT draining the service before uvicorn's own shutdown runs."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)
        for server in getattr(self, "servers", []):
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                print(f"prover serve: listening on http://{host}:{port}", flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining or self._loop is None:
            super().handle_exit(sig, frame)  # a second signal: uvicorn's own (stop now)
            return
        self._draining = True
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain()))

    async def _drain(self) -> None:
        try:
            await self.service.drain(self.service.settings.grace)
        finally:
            self.should_exit = True


def serve(config: LeanConfig, policy: CheckPolicy, settings: ServerSettings, *, host: str, port: int) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit code (0 after a graceful shutdown)."""
    checker = Checker(config, policy)
    service = Service(checker, settings)
    app = create_app(service)
    uv_config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", access_log=False)
    server = _DrainingServer(uv_config, service)
    server.run()
    return 0
