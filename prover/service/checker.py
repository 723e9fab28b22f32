"""Strict checking of many proofs on warm workers: the engine behind `prover check`, `prover serve` and the reward.

Each proof goes through the verifier's own entry points (prover/lean/verifier.py): `check_proof_text` before
Lean, then `check_in_env` on a warm worker's header env (a command on that immutable env id per proof: what one
proof declares is invisible to the next, REPL/Main.lean `runCommand` starts from the env it is given), or
`verify_proof` in a fresh process with `fresh=True`. Workers are pooled per import header (`ReplPool`), and the
non-import part of a header is elaborated once per worker (`Worker.env_for`).

What this layer adds, against reward hacking (notes/field-2026.md §0 item 5):
- an untrusted header (one that came with the proof) may not hold banned tokens nor metaprogramming commands
  (`elab`, `macro_rules`, `run_cmd`, …) that could change what the statement or the checker means;
- with expected statements (`--statements`), the proof must prove exactly that statement (the verifier's
  `original=` check), under that statement's header; helper lemmas may be added after it, nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prover.config import LeanConfig
from prover.errors import ReplCrashError, ReplStartError, ReplTimeoutError, StatementError, UsageError
from prover.lean.pool import ReplPool
from prover.lean.statement import Statement, _mask_comments_and_strings, split_header
from prover.lean.verifier import Verification, Verdict, check_in_env, check_proof_text, verify_proof
from prover.service.inputs import Expected, ProofItem
from search.banned import IDENT_CHAR, BannedTokens

logger = logging.getLogger(__name__)

# Verdicts beyond the verifier's: the record could not be checked at all, or the server shut down first.
ERROR = "error"
CANCELLED = "cancelled"
VERDICTS: tuple[str, ...] = (*(v.value for v in Verdict), ERROR, CANCELLED)

# Commands that run meta code or change the parser, refused in a header that came with the proof.
HEADER_BANNED: tuple[str, ...] = (
    "elab", "elab_rules", "macro", "macro_rules", "syntax", "run_cmd", "run_elab", "run_meta", "initialize",
    "builtin_initialize", "declare_syntax_cat", "#exit",
)
# In what a proof adds to an expected header only helper theorems and lemmas may stand: any other command (a
# definition, an instance, a namespace, an option, notation) could change what the statement's names mean.
_NOT_A_LEMMA = re.compile(
    rf"(?<!{IDENT_CHAR})(?:def|abbrev|instance|structure|inductive|class|axiom|opaque|namespace|section|end|variable"
    r"|universe|export|attribute|notation|infix|infixl|infixr|prefix|postfix|macro|macro_rules|syntax|elab"
    r"|elab_rules|declare_syntax_cat|mutual|initialize|builtin_initialize|run_cmd|run_elab|run_meta|deriving|local"
    rf"|scoped|alias|example|import|prelude|omit|include|irreducible_def)(?!{IDENT_CHAR})"
    rf"|(?<!{IDENT_CHAR})(?:open|set_option)(?!{IDENT_CHAR})(?![^\n]*(?<!{IDENT_CHAR})in(?!{IDENT_CHAR}))"
    r"|#[a-z_]+"
)
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class CheckResult:
    """One verdict line: what `prover check` writes and `POST /check` answers."""

    id: str
    verdict: str
    details: str = ""
    axioms: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    seconds: float = 0.0
    theorem: str = ""

    @property
    def verified(self) -> bool:
        return self.verdict == Verdict.VERIFIED.value

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "verdict": self.verdict, "details": self.details, "axioms": list(self.axioms),
            "messages": list(self.messages), "seconds": round(self.seconds, 4), "theorem": self.theorem,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CheckResult:
        return cls(
            str(obj["id"]), str(obj["verdict"]), str(obj.get("details", "")), tuple(obj.get("axioms", ())),
            tuple(obj.get("messages", ())), float(obj.get("seconds", 0.0)), str(obj.get("theorem", "")),
        )


@dataclass(frozen=True)
class CheckPolicy:
    """What a proof must satisfy beyond Lean accepting it.

    Attributes:
        banned: the banned-token policy (proofs, and headers that came with the proof).
        allowed_axioms: axioms allowed beyond propext, Classical.choice, Quot.sound (a header may declare them).
        expected: id or theorem name → the statement the proof must prove; None: any theorem is checked as given.
        timeout: seconds for one proof's elaboration (and for a header's preamble).
        fresh: check each proof in a fresh REPL process (`verify_proof`) instead of on warm workers.
    """

    banned: BannedTokens = BannedTokens()
    allowed_axioms: frozenset[str] = frozenset()
    expected: Mapping[str, Expected] | None = None
    timeout: float = 60.0
    fresh: bool = False

    def expected_for(self, item: ProofItem) -> Expected | None:
        if self.expected is None:
            return None
        return self.expected.get(item.id) or self.expected.get(item.theorem)


@dataclass
class _PoolEntry:
    pool: ReplPool
    in_flight: int = 0
    busy: int = 0


@dataclass
class CheckerStats:
    checked: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)


class Checker:
    """Checks ProofItems against the strict verifier, at most `config.workers` at a time.

    Args:
        config: how to start Lean; `config.workers` is both the warm workers per header and the checks in flight.
        policy: the CheckPolicy.
        max_pools: distinct import headers kept warm at once; the least recently used idle pool is closed first.

    Use as `async with Checker(config, policy) as checker: result = await checker.check(item)`.
    """

    def __init__(self, config: LeanConfig, policy: CheckPolicy = CheckPolicy(), *, max_pools: int = 2) -> None:
        self.config = config.with_(command_timeout=max(config.command_timeout, policy.timeout))
        self.policy = policy
        self.max_pools = max(1, max_pools)
        self.workers = max(1, config.workers)
        self._slots = asyncio.Semaphore(self.workers)
        self._pools: OrderedDict[str, _PoolEntry] = OrderedDict()
        self._broken_headers: OrderedDict[str, str] = OrderedDict()  # imports → why they do not elaborate
        self._lock = asyncio.Lock()
        self._header_banned = BannedTokens.of(
            tuple(t for t in policy.banned.tokens if not (t == "axiom" and policy.allowed_axioms)) + HEADER_BANNED
        )
        self.running = 0
        self.stats = CheckerStats()
        self._closed = False

    async def __aenter__(self) -> Checker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every pool (and so every REPL process). Idempotent."""
        self._closed = True
        entries = list(self._pools.values())
        self._pools.clear()
        await asyncio.gather(*(e.pool.close() for e in entries), return_exceptions=True)

    def health(self) -> dict[str, Any]:
        """Pools, workers busy and checks running (for GET /health)."""
        pools = [
            {"imports": imports.strip().splitlines()[:3], "workers": e.pool.size, "busy": e.busy, "restarts": e.pool.restarts}
            for imports, e in self._pools.items()
        ]
        return {
            "workers": self.workers, "running": self.running, "workers_busy": sum(e.busy for e in self._pools.values()),
            "pools": pools, "fresh": self.policy.fresh, "checked": self.stats.checked,
        }

    async def check(self, item: ProofItem) -> CheckResult:
        """The verdict on one proof; bad input and Lean's refusals are verdicts, never exceptions.

        Raises:
            ReplStartError: the REPL cannot be started at all (an environment problem, not the proof's).
        """
        async with self._slots:
            started = time.monotonic()  # the check's own time, not its wait for a slot
            self.running += 1
            try:
                result = await self._check(item, started)
            finally:
                self.running -= 1
        self.stats.checked += 1
        self.stats.by_verdict[result.verdict] = self.stats.by_verdict.get(result.verdict, 0) + 1
        return result

    async def _check(self, item: ProofItem, started: float) -> CheckResult:
        def verdict(name: str, details: str, v: Verification | None = None) -> CheckResult:
            seconds = time.monotonic() - started
            if v is None:
                return CheckResult(item.id, name, details, seconds=seconds, theorem=item.theorem)
            return CheckResult(item.id, name, details, v.axioms, v.messages, seconds, item.theorem)

        if item.error:
            return verdict(ERROR, item.error)
        try:
            statement = Statement.parse(item.statement)
        except UsageError as exc:
            return verdict(ERROR, str(exc))
        header = item.header
        expected = self.policy.expected_for(item) if self.policy.expected is not None else item.expected
        original: str | None = None
        if self.policy.expected is not None or expected is not None:
            if expected is None:
                return verdict(ERROR, f"no expected statement for {item.id!r} (theorem {item.theorem!r}) in --statements")
            original = expected.statement
            if not item.header_given:
                header = expected.header
            extra = _extra_after(header, expected.header)
            if extra is None:
                return verdict(Verdict.STATEMENT_CHANGED.value, "the proof's header differs from the expected statement's header")
            masked = _mask_comments_and_strings(extra)
            command = _NOT_A_LEMMA.search(masked)
            if command is not None:
                return verdict(
                    Verdict.STATEMENT_CHANGED.value,
                    f"the proof's header adds more than helper lemmas to the expected header: {command.group(0)!r}",
                )
            token = self._header_banned.find(masked)
        else:
            _, preamble = split_header(header)
            token = self._header_banned.find(_mask_comments_and_strings(preamble))
        if token is not None:
            return verdict(Verdict.BANNED.value, f"banned token {token!r} in the header")
        refusal = check_proof_text(statement, item.tactics, original=original, banned=self.policy.banned)
        if refusal is not None:
            return verdict(refusal[0].value, refusal[1])
        if self.policy.fresh:
            v = await verify_proof(
                statement, item.tactics, header=header, banned=self.policy.banned,
                config=self.config.with_(verify_timeout=self.policy.timeout), allowed_axioms=self.policy.allowed_axioms,
            )
            return verdict(v.verdict.value, v.details, v)
        imports, preamble = split_header(header)
        broken = self._broken_headers.get(imports)
        if broken is not None:
            return verdict(ERROR, broken)
        try:
            entry = await self._pool(imports)
        except ReplStartError as exc:
            if "does not elaborate" not in str(exc) and "took longer" not in str(exc):
                raise
            reason = f"the header's imports fail: {exc}"
            self._broken_headers[imports] = reason
            while len(self._broken_headers) > 64:
                self._broken_headers.popitem(last=False)
            return verdict(ERROR, reason)
        entry.in_flight += 1
        try:
            async with entry.pool.acquire(prefer=lambda w: preamble in w.preamble_envs) as worker:
                entry.busy += 1
                try:
                    env = await worker.env_for(preamble, self.policy.timeout)
                    v = await check_in_env(
                        worker.process, env, statement, item.tactics, timeout=self.policy.timeout,
                        allowed_axioms=self.policy.allowed_axioms,
                    )
                finally:
                    entry.busy -= 1
        except StatementError as exc:
            return verdict(ERROR, f"the header does not elaborate: {exc.messages[0] if exc.messages else exc}")
        except ReplTimeoutError as exc:
            return verdict(Verdict.TIMEOUT.value, f"the header timed out: {exc}")
        except ReplCrashError as exc:
            return verdict(Verdict.REPL_ERROR.value, f"the REPL died on the header: {exc}")
        except ValueError as exc:  # the header could not be encoded as a request
            return verdict(ERROR, f"the header cannot be sent to Lean: {exc}")
        finally:
            entry.in_flight -= 1
        return verdict(v.verdict.value, v.details, v)

    async def _pool(self, imports: str) -> _PoolEntry:
        """The started pool for `imports`, created on first use; evicts the least recently used idle pool."""
        async with self._lock:
            if self._closed:
                raise ReplStartError("the checker is closed")
            entry = self._pools.get(imports)
            if entry is not None:
                self._pools.move_to_end(imports)
                return entry
            while len(self._pools) >= self.max_pools:
                idle = next((k for k, e in self._pools.items() if e.in_flight == 0), None)
                if idle is None:
                    break  # every pool is busy: go over the limit for now rather than wait
                old = self._pools.pop(idle)
                logger.info("closing the warm pool for %r (least recently used)", idle[:60])
                await old.pool.close()
            pool = ReplPool(self.config, imports)
            try:
                await pool.start()
            except BaseException:
                await pool.close()
                raise
            entry = self._pools[imports] = _PoolEntry(pool)
            return entry


def _extra_after(header: str, expected: str) -> str | None:
    """What `header` adds after `expected` (whitespace aside), or None when it does not start with `expected`."""
    want = _WS.sub("", expected)
    seen = 0
    cut = 0
    for index, ch in enumerate(header):
        if seen == len(want):
            break
        if ch.isspace():
            continue
        if ch != want[seen]:
            return None
        seen += 1
        cut = index + 1
    if seen < len(want):
        return None
    return header[cut:]
