"""Whole-proof routes' protocols: a proof policy, a candidate checker, a prefix replayer, and the prefix channel.

A *proof policy* (a whole-proof model behind a prompt format) turns a `ProofRequest` — the header, the statement,
and for a repair the earlier attempts with Lean's messages — into `ProofSample`s, each already reduced by the
model's own extraction rule to a proof body (the tactic script after the original statement's `:= by`) or
rejected with a reason. The Lean layer implements the two checking protocols for one problem:

- `CandidateChecker.check(body)`: the body in command mode on a warm worker's header env → accepted, or Lean's
  messages with positions (lines counted in `CheckResult.code`, the text Lean saw);
- `PrefixReplayer.replay(body)`: the body's top-level steps run one by one in tactic mode from the root state →
  the longest accepted prefix as a path of real states, and the state at the first failing step (the goals at
  the error, which command mode does not give).

`PrefixChannel` carries replayed prefixes from the whole-proof route into a running tactic search, which grafts
them into its tree (`SearchTree.graft`) so that the tactic side continues from the deepest valid state.

Everything here is pure: no Lean, no model, no subprocess.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from search.outcomes import TacticState
from search.protocols import Sampling


@dataclass(frozen=True, slots=True)
class LeanMessage:
    """One Lean message about a checked proof. Lines are 1-based and columns 0-based, as the REPL reports them
    (REPL `Main.lean` `Message.pos`), counted in the text Lean saw (`CheckResult.code`); `end_line` 0 = unknown.

    `goals` is the pretty-printed proof state before the failing step, where known (from prefix replay).
    """

    line: int
    column: int
    severity: str
    text: str
    end_line: int = 0
    end_column: int = 0
    goals: str = ""


@dataclass(frozen=True, slots=True)
class Attempt:
    """An earlier attempt, for a repair prompt: the model's raw output, the code Lean checked, Lean's messages."""

    output: str
    code: str
    messages: tuple[LeanMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class ProofRequest:
    """What a proof prompt format may need.

    `statement` is the original declaration text (ending `:= by sorry` or `:= by`, as the user gave it); `header`
    the text before it (imports, options, `open`s); `informal` an informal statement when the problem has one.
    `history` holds the earlier attempts of this repair chain, oldest first (empty for a first sample); the
    round number is `len(history)`.
    """

    theorem_name: str
    header: str
    statement: str
    informal: str = ""
    history: tuple[Attempt, ...] = ()

    @property
    def round(self) -> int:
        return len(self.history)


@dataclass(frozen=True, slots=True)
class ProofSample:
    """One generated whole proof: `body` is the tactic script to put after the original `:= by` (dedented), or
    None when the sample was rejected before Lean (`reason` says why: no code block, banned token, …)."""

    output: str
    body: str | None
    reason: str = ""
    tokens: int = 0
    truncated: bool = False  # the generation hit max_tokens


@runtime_checkable
class ProofPolicy(Protocol):
    """Proposes whole proofs: for each request, in order, `sampling.n` samples (rejected ones included)."""

    async def generate(self, requests: Sequence[ProofRequest], sampling: Sampling) -> list[list[ProofSample]]: ...


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A candidate's command-mode check: `accepted`, or `reason` and Lean's `messages`; `code` is the text checked."""

    accepted: bool
    reason: str = ""
    messages: tuple[LeanMessage, ...] = ()
    code: str = ""
    seconds: float = 0.0


@runtime_checkable
class CandidateChecker(Protocol):
    """Checks a proof body of one problem in command mode (fast, warm; not the final verifier)."""

    async def check(self, body: str) -> CheckResult: ...


@dataclass(frozen=True, slots=True)
class Prefix:
    """The longest Lean-accepted prefix of a proof: `steps` are (tactic, state after it) from the root; `failed_at`
    is the state at the first rejected step (None when every step ran); `finished` when the steps closed the goal."""

    steps: tuple[tuple[str, TacticState], ...] = ()
    failed_at: TacticState | None = None
    error: str = ""
    finished: bool = False
    seconds: float = 0.0


@runtime_checkable
class PrefixReplayer(Protocol):
    """Replays a proof body of one problem step by step in tactic mode (see `split_steps`)."""

    async def replay(self, body: str) -> Prefix: ...


def split_steps(body: str) -> list[str]:
    """Split a tactic script into its top-level steps: a line at the block's own indentation starts a step, deeper
    lines (a `have … := by` block, `·` cases, continued terms) belong to the step above. Blank and comment-only
    lines are dropped; each step keeps its relative indentation.

    >>> split_steps("intro x\\nhave h : x = x := by\\n  rfl\\nexact h")
    ['intro x', 'have h : x = x := by\\n  rfl', 'exact h']
    """
    text = textwrap.dedent(body.replace("\t", "  "))
    steps: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        if line[0] not in " " or not steps:
            steps.append([line])
        else:
            steps[-1].append(line)
    return [textwrap.dedent("\n".join(step)) for step in steps]


# Grafts a prefix into a running search: the new nodes, or -1 when that search has stopped.
GraftCallback = Callable[[Sequence[tuple[str, TacticState]], float], int]


@dataclass
class PrefixChannel:
    """Hands resumed prefixes to a running tactic search (the search `connect`s while it runs).

    `send` grafts at once when a search is connected and queues otherwise; a search that connects later takes the
    queue, and a tactic route whose search has ended waits on `wait` for queued prefixes to resume from (until the
    producers `close` the channel). `logprob` is the score each grafted step gets (its priority's origin: 0.0 puts a whole-proof model's
    accepted steps above anything the tactic policy is less than certain of). Returns the number of new nodes.
    """

    logprob: float = 0.0
    pending: list[tuple[tuple[str, TacticState], ...]] = field(default_factory=list)
    grafted_nodes: int = 0
    sent: int = 0
    sent_tactics: list[tuple[str, ...]] = field(default_factory=list)
    closed: bool = False
    _callback: GraftCallback | None = None
    _event: asyncio.Event | None = None

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()

    def close(self) -> None:
        """No more prefixes will come (the whole-proof route ended)."""
        self.closed = True
        self._wake()

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for a queued prefix; False when none came (timeout, or closed and empty)."""
        if self._event is None:
            self._event = asyncio.Event()
        while not self.pending and not self.closed:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except asyncio.TimeoutError:
                break
        return bool(self.pending)

    def take(self) -> tuple[tuple[str, TacticState], ...] | None:
        """The deepest queued prefix (removing the whole queue), or None."""
        if not self.pending:
            return None
        queued, self.pending = self.pending, []
        return max(queued, key=len)

    def send(self, steps: Sequence[tuple[str, TacticState]]) -> int:
        self.sent += 1
        self.sent_tactics.append(tuple(tactic for tactic, _ in steps))
        if self._callback is None:
            self.pending.append(tuple(steps))
            self._wake()
            return 0
        added = self._callback(steps, self.logprob)
        if added < 0:  # the search had already stopped (it ended between its last step and its disconnect)
            self.pending.append(tuple(steps))
            self._wake()
            return 0
        self.grafted_nodes += added
        return added

    def connect(self, callback: GraftCallback) -> None:
        self._callback = callback
        queued, self.pending = self.pending, []
        for steps in queued:
            added = callback(steps, self.logprob)
            if added < 0:
                self.pending.append(steps)
            else:
                self.grafted_nodes += added

    def disconnect(self) -> None:
        self._callback = None
