"""The two routes of the hybrid prover (see `search.scheduler` for how routes run together).

- `TacticRoute`: best-first tactic search (`search.best_first.search`) with the scheduler's verifier as its accept
  hook and the scheduler's `PrefixChannel` grafted into its tree.
- `WholeProofRoute`: whole-proof sampling. Round 0 asks the proof policy for `samples` proofs in one call; every
  sample is a *chain*: rejected before Lean (no code block, banned token: a value with a reason), or checked in
  command mode; an accepted one goes to the final verifier; a failed one is replayed step by step (its longest
  Lean-accepted prefix is sent to the tactic tree, truncate-and-resume) and, while rounds remain, sent back to the
  policy with Lean's messages for `repair_samples` repairs. Chains run concurrently, so a repair of one sample is
  generated while other samples are still being checked or repaired.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any

from search.best_first import search
from search.config import SearchConfig
from search.outcomes import TacticState
from search.proofs import (
    Attempt,
    CandidateChecker,
    PrefixReplayer,
    ProofPolicy,
    ProofRequest,
    ProofSample,
    split_steps,
)
from search.protocols import Env, Policy, Sampling
from search.result import SearchResult
from search.scheduler import RouteContext, RouteReport


@dataclass
class TacticRoute:
    """Best-first tactic search as a route. `kind` of its proofs: `resumed` when the proof runs through a grafted
    prefix of a whole proof, `tactic` otherwise."""

    env: Env
    policy: Policy
    root: TacticState
    config: SearchConfig
    theorem_name: str = ""
    name: str = "tactic"
    stop_on_win: bool = True
    result: SearchResult | None = None
    results: list[SearchResult] = field(default_factory=list)
    proof: tuple[str, ...] = ()
    resumed_searches: int = 0

    async def run(self, ctx: RouteContext) -> RouteReport:
        async def accept(proof: tuple[str, ...]) -> bool:
            resumed = any(len(p) and proof[: len(p)] == p for p in ctx.grafts.sent_tactics)
            return await ctx.accept(proof, self.name, "resumed" if resumed else "tactic")

        self.result = result = await search(
            self.env, self.policy, self.root, self.config, theorem_name=self.theorem_name, deadline=ctx.deadline,
            accept=accept, grafts=ctx.grafts,
        )
        self.results.append(result)
        # The tree can end (root FAILED, exhausted) before a whole proof's prefix arrives: then each later prefix
        # is resumed by a search of its own from its deepest state, its proof being the prefix's tactics + the rest.
        while not result.proved and ctx.remaining() > 0 and await ctx.grafts.wait(ctx.remaining()):
            prefix = ctx.grafts.take()
            if not prefix:
                continue
            tactics = tuple(tactic for tactic, _ in prefix)

            async def accept_resumed(proof: tuple[str, ...], head: tuple[str, ...] = tactics) -> bool:
                return await ctx.accept(head + proof, self.name, "resumed")

            result = await search(
                self.env, self.policy, prefix[-1][1], self.config, theorem_name=self.theorem_name,
                deadline=ctx.deadline, accept=accept_resumed,
            )
            self.results.append(result)
            self.resumed_searches += 1
            if result.proved:
                self.result = result
                self.proof = tactics + result.proof
        if self.result is not None and self.result.proved and not self.proof:
            self.proof = self.result.proof
        return self.partial_report(result.status.value)

    def partial_report(self, status: str) -> RouteReport:
        if not self.results:
            return RouteReport(self.name, status)
        stats = sum((r.stats for r in self.results[1:]), self.results[0].stats).to_json()
        stats["resumed_searches"] = self.resumed_searches
        main = self.result if self.result is not None else self.results[-1]
        return RouteReport(self.name, status, self.proof, "", main.error, stats, detail=self.results[0])


@dataclass(frozen=True)
class WholeProofConfig:
    """Whole-proof sampling settings.

    samples: proofs asked in round 0 (one policy call with `n = samples`).
    rounds: repair rounds R after the first attempt (0: sampling only; Goedel-Prover-V2 uses 2).
    repair_samples: repairs asked per failed proof and round.
    resume: send the longest Lean-accepted prefix of each failed proof to the tactic tree.
    stop_on_proof: stop at the first verified proof (False: check every sample, for pass@k).
    sampling: decoding settings (`n` is overridden per call).
    """

    samples: int = 8
    rounds: int = 0
    repair_samples: int = 1
    resume: bool = True
    stop_on_proof: bool = True
    sampling: Sampling = field(default_factory=lambda: Sampling(n=1, temperature=1.0, top_p=0.95, max_tokens=8192))


@dataclass
class _Counters:
    samples: int = 0
    rejected: int = 0
    checked: int = 0
    passed: int = 0
    repairs: int = 0
    resumed: int = 0
    resumed_steps: int = 0
    tokens: int = 0
    model_calls: int = 0
    seconds_model: float = 0.0
    seconds_lean: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)


class WholeProofRoute:
    """Whole-proof sampling with compiler-feedback repair and truncate-and-resume (module docstring)."""

    def __init__(
        self,
        policy: ProofPolicy,
        checker: CandidateChecker,
        request: ProofRequest,
        config: WholeProofConfig = WholeProofConfig(),
        replayer: PrefixReplayer | None = None,
        name: str = "whole",
    ) -> None:
        self.policy = policy
        self.checker = checker
        self.replayer = replayer
        self.request = request
        self.config = config
        self.name = name
        self.stop_on_win = config.stop_on_proof
        self.produces_prefixes = config.resume and replayer is not None
        self.counts = _Counters()
        self.records: list[dict[str, Any]] = []
        self.proof: tuple[str, ...] = ()
        self.kind = ""
        self._verify_lock = asyncio.Lock()

    async def run(self, ctx: RouteContext) -> RouteReport:
        first = await self._generate(self.request, self.config.samples)
        chains = [self._chain(ctx, self.request, sample, parent=-1) for sample in first]
        await asyncio.gather(*chains)
        return self.partial_report("proved" if self.proof else ("timeout" if ctx.remaining() <= 0 else "failed"))

    def partial_report(self, status: str) -> RouteReport:
        c = self.counts
        stats: dict[str, Any] = {
            "samples": c.samples, "rejected": c.rejected, "checked": c.checked, "passed": c.passed,
            "repairs": c.repairs, "resumed_prefixes": c.resumed, "resumed_steps": c.resumed_steps,
            "tokens": c.tokens, "model_calls": c.model_calls, "seconds_model": round(c.seconds_model, 6),
            "seconds_lean": round(c.seconds_lean, 6), "rejected_by_reason": dict(c.reasons),
        }
        return RouteReport(self.name, status, self.proof, self.kind, stats=stats, samples=tuple(self.records))

    async def _generate(self, request: ProofRequest, n: int) -> list[ProofSample]:
        start = time.perf_counter()
        try:
            out = await self.policy.generate([request], replace(self.config.sampling, n=n))
        finally:
            self.counts.seconds_model += time.perf_counter() - start
            self.counts.model_calls += 1
        if len(out) != 1:
            raise ValueError(f"the proof policy returned {len(out)} sample lists for 1 request")
        return list(out[0])

    async def _chain(self, ctx: RouteContext, request: ProofRequest, sample: ProofSample, parent: int) -> None:
        c = self.counts
        index = len(self.records)
        record: dict[str, Any] = {"index": index, "round": request.round, "parent": parent, "tokens": sample.tokens,
                                  "truncated": sample.truncated}
        self.records.append(record)
        c.samples += 1
        c.tokens += sample.tokens
        if sample.body is None:
            c.rejected += 1
            c.reasons[sample.reason] = c.reasons.get(sample.reason, 0) + 1
            record.update(outcome="rejected", reason=sample.reason)
            return
        record["body"] = sample.body
        c.checked += 1
        check = await self.checker.check(sample.body)
        c.seconds_lean += check.seconds
        if check.accepted:
            c.passed += 1
            record.update(outcome="passed", reason="")
            # One final verification at a time: candidates that passed the warm check are almost always
            # accepted, so the rest wait for the first instead of each starting a fresh Lean.
            async with self._verify_lock:
                if not ctx.won.is_set():
                    kind = "whole" if request.round == 0 else "repaired"
                    # One entry per top-level step: the verifier reads each entry as one tactic.
                    proof = tuple(split_steps(sample.body))
                    if await ctx.accept(proof, self.name, kind):
                        self.proof, self.kind = proof, kind
                        record["verified"] = True
            return
        record.update(outcome="failed", reason=check.reason, errors=[m.text for m in check.messages][:8])
        messages = check.messages
        if self.replayer is not None and (self.config.resume or self.config.rounds > request.round):
            prefix = await self.replayer.replay(sample.body)
            c.seconds_lean += prefix.seconds
            record["prefix_steps"] = len(prefix.steps)
            if prefix.failed_at is not None and messages:
                first = messages[0]
                messages = (replace(first, goals=prefix.failed_at.pp), *messages[1:])
            if self.config.resume and prefix.steps and not prefix.finished:
                c.resumed += 1
                c.resumed_steps += len(prefix.steps)
                ctx.grafts.send(prefix.steps)
        if request.round >= self.config.rounds or (ctx.won.is_set() and self.stop_on_win):
            return
        attempt = Attempt(sample.output, check.code, tuple(messages))
        repair = replace(request, history=(*request.history, attempt))
        c.repairs += 1
        repaired = await self._generate(repair, self.config.repair_samples)
        await asyncio.gather(*(self._chain(ctx, repair, s, parent=index) for s in repaired))

