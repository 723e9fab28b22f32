"""The Lean REPL's wire protocol: typed, frozen models of every request and response, and the one classification
of a tactic's outcome (DESIGN.md contract 3).

Source of truth: leanprover-community/repl at tag v4.24.0, `REPL/JSON.lean` (structures), `REPL/Main.lean`
(`parse`, `loop`, `getLines`), and the recorded transcripts in `shared/lean-repl-transcripts`. Field names are
snake_case here and camelCase on the wire; like Lean's derived `FromJson`, unknown keys are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic.alias_generators import to_camel

from search.outcomes import LeanError, ProofFinished, TacticResult, TacticState

__all__ = [
    "SORRY_WARNING",
    "CommandRequest",
    "CommandResponse",
    "ErrorResponse",
    "FileRequest",
    "Message",
    "PickleEnvRequest",
    "PickleProofStateRequest",
    "Pos",
    "ProofStepResponse",
    "Request",
    "Response",
    "Sorry",
    "TacticInfo",
    "TacticRequest",
    "UnpickleEnvRequest",
    "UnpickleProofStateRequest",
    "classify_tactic_response",
    "encode_request",
    "encode_request_body",
    "encode_request_bytes",
    "error_texts",
    "has_errors",
    "parse_request",
    "parse_response",
]

# Lean ≤ v4.27 writes "declaration uses 'sorry'", v4.28+ "declaration uses `sorry`" (notes: Differences at v4.24.0).
SORRY_WARNING: re.Pattern[str] = re.compile(r"declaration uses ['`]sorry['`]")

# A non-negative JSON integer: Lean's `Nat` field decoder rejects negatives, floats and booleans, and a rejected
# request kills the REPL (REPL/Main.lean `parse` throws uncaught), so the models refuse them first.
Nat = Annotated[StrictInt, Field(ge=0)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", alias_generator=to_camel)


# ---------------------------------------------------------------------------------------------- pieces


class Pos(_Wire):
    """A source position: line 1-based, column 0-based in codepoints; tactic-mode messages sit at 0:0."""

    line: int
    column: int


class Message(_Wire):
    """A Lean message. `end_pos` may be absent or JSON null (REPL/JSON.lean `Message`, `Option Pos`)."""

    severity: Literal["trace", "info", "warning", "error"]
    pos: Pos
    end_pos: Pos | None = None
    data: str


class Sorry(_Wire):
    """A `sorry` and the proof state at it. Positions are left out when their line is 0 (tactic-mode sorries)."""

    goal: str
    proof_state: int | None = None
    pos: Pos | None = None
    end_pos: Pos | None = None


class TacticInfo(_Wire):
    """One entry of `tactics` (`allTactics: true`). `goals` is ONE string here, unlike ProofStepResponse.goals."""

    tactic: str
    goals: str
    proof_state: int | None = None
    pos: Pos
    end_pos: Pos
    used_constants: tuple[str, ...] = ()


# -------------------------------------------------------------------------------------------- requests


class _CommandOptions(_Wire):
    """The options commands and files share (REPL/JSON.lean `CommandOptions`)."""

    env: Nat | None = None
    all_tactics: StrictBool | None = None
    root_goals: StrictBool | None = None
    infotree: StrictStr | None = None


class CommandRequest(_CommandOptions):
    """Elaborate Lean commands; without `env` a fresh environment (the only place `import` is allowed)."""

    cmd: StrictStr


class FileRequest(_CommandOptions):
    """Elaborate a file (path relative to the REPL's working directory); `env` exists since v4.22.0-rc4."""

    path: StrictStr


class TacticRequest(_Wire):
    """Run one tactic (a single tactic syntax node) on a proof state."""

    tactic: StrictStr
    proof_state: Nat


class PickleEnvRequest(_Wire):
    env: Nat
    pickle_to: StrictStr


class UnpickleEnvRequest(_Wire):
    unpickle_env_from: StrictStr


class PickleProofStateRequest(_Wire):
    proof_state: Nat
    pickle_to: StrictStr


class UnpickleProofStateRequest(_Wire):
    unpickle_proof_state_from: StrictStr
    env: Nat | None = None


# REPL/Main.lean `parse` tries the shapes in exactly this order and takes the first that decodes.
Request = Union[
    TacticRequest,
    PickleEnvRequest,
    UnpickleEnvRequest,
    PickleProofStateRequest,
    UnpickleProofStateRequest,
    CommandRequest,
    FileRequest,
]

_DISPATCH_ORDER: tuple[type[_Wire], ...] = get_args(Request)

# ------------------------------------------------------------------------------------------- responses


class CommandResponse(_Wire):
    """Answer to a command, file, pickle-env or unpickle-env request. Empty lists are left out on the wire."""

    env: int
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    tactics: tuple[TacticInfo, ...] = ()
    infotree: Any = None  # raw JSON, passed through unvalidated (it can be megabytes)


class ProofStepResponse(_Wire):
    """Answer to a tactic, pickle-proof-state or unpickle-proof-state request.

    `proof_status` is always present since REPL v4.19.0: "Completed", "Incomplete: …", "Error: …",
    "Not verified: more than one initial goal".
    """

    proof_state: int
    goals: tuple[str, ...]
    messages: tuple[Message, ...] = ()
    sorries: tuple[Sorry, ...] = ()
    traces: tuple[str, ...] = ()
    proof_status: str | None = None


class ErrorResponse(_Wire):
    """`{"message": …}`: the request failed without a new env or state (e.g. "Unknown proof state.")."""

    message: str


Response = Union[CommandResponse, ProofStepResponse, ErrorResponse]

# ----------------------------------------------------------------------------------------- functions


def encode_request_body(req: Request) -> bytes:
    """The request as one line of JSON (UTF-8), without the blank line that ends it on the wire.

    The models have been validated when built (non-negative int ids, strings), the JSON is one line because every
    newline inside a string is escaped, it starts with `{` (never `#`/`--`, which the REPL skips without a reply),
    and non-ASCII stays raw UTF-8 (Lean's JSON parser would mangle `\\u` surrogate pairs such as 𝓝). One pass over
    each string, in pydantic-core (Rust).

    Raises:
        ValueError: a string cannot be encoded (a lone surrogate).
    """
    try:
        return req.__pydantic_serializer__.to_json(req, by_alias=True, exclude_none=True)
    except Exception as e:  # pydantic_core.PydanticSerializationError: lone surrogates and the like
        raise ValueError(f"request cannot be encoded: {e}") from e


def encode_request_bytes(req: Request) -> bytes:
    """The request's wire form as UTF-8 bytes: one line of JSON and exactly one blank line after it."""
    return encode_request_body(req) + b"\n\n"


def encode_request(req: Request) -> str:
    """`encode_request_bytes` as text: validated JSON on one line + "\\n\\n"."""
    return encode_request_bytes(req).decode("utf-8")


def parse_request(text: str | bytes) -> Request:
    """Decode one request the way the REPL does (REPL/Main.lean `parse`): the first shape that fits wins.

    Raises:
        ValueError: not JSON, or no request shape fits (the real REPL would die on it).
    """
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError(f"a request is a JSON object, not {type(obj).__name__}")
    for model in _DISPATCH_ORDER:
        try:
            return model.model_validate(obj)  # type: ignore[return-value]  # every entry is a Request member
        except ValueError:
            continue
    raise ValueError(f"no request shape fits keys {sorted(obj)}")


def parse_response(text: str | bytes) -> Response:
    """Decode one response; the shape is decided as the REPL makes it.

    `proofState` → ProofStepResponse; `env` → CommandResponse; `message` alone → ErrorResponse.

    Raises:
        ValueError: not JSON, or not a response shape.
    """
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise ValueError(f"a response is a JSON object, not {type(obj).__name__}")
    if "proofState" in obj:
        return ProofStepResponse.model_validate(obj)
    if "env" in obj:
        return CommandResponse.model_validate(obj)
    if "message" in obj:
        return ErrorResponse.model_validate(obj)
    raise ValueError(f"not a REPL response: keys {sorted(obj)}")


def has_errors(messages: Iterable[Message]) -> bool:
    """Whether any message has severity `error`."""
    return any(m.severity == "error" for m in messages)


def error_texts(messages: Iterable[Message]) -> tuple[str, ...]:
    """The `data` of every message, errors first (then the others in their order)."""
    ordered = sorted(messages, key=lambda m: m.severity != "error")
    return tuple(m.data for m in ordered)


def classify_tactic_response(resp: Response, state_id: int) -> TacticResult:
    """DESIGN.md contract 3, the only implementation: what one tactic led to.

    Args:
        resp: the REPL's answer to a tactic request.
        state_id: the environment-level handle to give a new state (TacticState.id / ProofFinished.id).

    Returns:
        LeanError for `{"message"}`, for any error message (even with a new proof state: Lean recovers from
        elaboration errors with sorryAx, test/invalid_tactic), for non-empty `sorries` (the step used sorry,
        test/tactic_mode_sorry, test/have_by_sorry), and for `goals == []` without `proofStatus == "Completed"`
        (metavariables, sorry, kernel check failure: test/Mathlib/placeholder_synthesis,
        test/self_proof_exact_check); ProofFinished for `goals == []` and "Completed"; otherwise TacticState.

    Raises:
        TypeError: `resp` is a CommandResponse (a tactic never gets one; the stream is out of step).
    """
    if isinstance(resp, ErrorResponse):
        return LeanError(resp.message)
    if not isinstance(resp, ProofStepResponse):
        raise TypeError(f"a tactic got a {type(resp).__name__}")
    errors = [m.data for m in resp.messages if m.severity == "error"]
    if errors:
        return LeanError("\n\n".join(errors))
    if resp.sorries:
        return LeanError("the tactic uses sorry")
    if not resp.goals:
        if resp.proof_status == "Completed":
            return ProofFinished(id=state_id, message=resp.proof_status)
        return LeanError(f"no goals left, but the proof is not complete: {resp.proof_status or 'no proofStatus'}")
    return TacticState(goals=resp.goals, id=state_id, messages=tuple(m.data for m in resp.messages))
