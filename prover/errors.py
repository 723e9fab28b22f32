"""Exceptions of the prover, all under `search.errors.ProverError` (re-exported here).

Lean and model outcomes are values; these are raised only for infrastructure faults and bad input.
"""

from __future__ import annotations

from search.errors import CacheError, ProverError, SearchError, UsageError

__all__ = [
    "CacheError",
    "EnvironmentProblem",
    "ModelError",
    "ModelNotFoundError",
    "NoAvailableReplError",
    "ProverError",
    "ReplCrashError",
    "ReplError",
    "ReplStartError",
    "ReplTimeoutError",
    "SearchError",
    "StatementError",
    "UsageError",
]


class EnvironmentProblem(ProverError):
    """Something the machine must provide is missing (Lean, the REPL binary, model weights).

    `fix` is the command (or short instruction) that resolves it; the CLI prints it.
    """

    exit_code = 3

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


class StatementError(UsageError):
    """The statement does not elaborate, or does not leave exactly one `sorry` to prove.

    `messages` holds Lean's messages (their `data` texts), first error first.
    """

    def __init__(self, message: str, messages: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.messages = messages


class ReplError(ProverError):
    """A REPL process misbehaved. `stderr_tail` is the last part of what it wrote to stderr."""

    exit_code = 3

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


class ReplStartError(ReplError):
    """The REPL command could not be started, or died before answering its first request."""


class ReplTimeoutError(ReplError):
    """A request got no complete answer within its wall-clock limit; the process group was killed."""


class ReplCrashError(ReplError):
    """The REPL exited (or broke the protocol) while a request was pending.

    `returncode` is the exit status (negative for a signal), `oom` whether memory exhaustion is the likely cause
    (SIGKILL/137, or the RSS ceiling was hit).
    """

    def __init__(self, message: str, stderr_tail: str = "", returncode: int | None = None, oom: bool = False) -> None:
        super().__init__(message, stderr_tail)
        self.returncode = returncode
        self.oom = oom


class NoAvailableReplError(ReplError):
    """No pooled REPL worker became free before the acquire deadline."""


class ModelError(ProverError):
    """A tactic model backend failed (server unreachable after retries, malformed reply, engine crash)."""

    exit_code = 3


class ModelNotFoundError(ModelError, EnvironmentProblem):
    """The model's weights are not available locally and network access was not allowed."""
