"""The hybrid prover's wiring: which routes run for one problem, on which Lean resources, and what they report.

`ProofModelConfig` names the whole-proof model and its sampling (`--proof-*` flags); `build_proof_policy` turns it
into a `ChatProofPolicy`; `run_hybrid` builds the routes for one problem — the tactic search (unless `whole_only`)
and whole-proof sampling with repair and truncate-and-resume, checked on the problem's warm pool
(`WarmProofChecker`) — and runs them with `search.scheduler.run_routes` under the problem's deadline, the final
verifier (`verify`) deciding. `policy_stats` gives the per-route stats of `--json`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prover.config import LeanConfig
from prover.lean.env import ProofEnvironment
from prover.lean.pool import ReplPool
from prover.lean.proof_check import WarmProofChecker
from prover.lean.statement import Statement, split_header
from prover.models.proof_policy import ChatProofPolicy
from prover.models.proof_prompts import ProofFormat, proof_format_for
from search import SearchConfig
from search.proofs import ProofPolicy, ProofRequest
from search.protocols import Policy, Sampling
from search.routes import TacticRoute, WholeProofConfig, WholeProofRoute
from search.scheduler import Route, ScheduleResult, run_routes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProofModelConfig:
    """The whole-proof side (`--proof-model …`). None fields take the prompt format's published defaults.

    whole_only: run whole-proof sampling alone and check every sample (pass@k reproduction); no tactic route.
    """

    model: str | None = None
    generator: str = "hf"
    prompt_format: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    samples: int = 8
    repair_rounds: int | None = None
    repair_samples: int = 1
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    resume: bool = True
    whole_only: bool = False
    allow_download: bool = False

    @property
    def enabled(self) -> bool:
        return self.model is not None

    def format(self) -> ProofFormat:
        return proof_format_for(self.model or "", self.prompt_format)

    def route_config(self, seed: int | None = None) -> WholeProofConfig:
        fmt = self.format()
        sampling = Sampling(
            n=1,
            temperature=fmt.temperature if self.temperature is None else self.temperature,
            top_p=fmt.top_p if self.top_p is None else self.top_p,
            max_tokens=fmt.max_tokens if self.max_tokens is None else self.max_tokens,
            seed=seed,
        )
        rounds = fmt.repair_rounds if self.repair_rounds is None else self.repair_rounds
        return WholeProofConfig(self.samples, rounds, self.repair_samples, self.resume and not self.whole_only,
                                stop_on_proof=not self.whole_only, sampling=sampling)


def build_proof_policy(config: ProofModelConfig, banned: Any = None) -> ChatProofPolicy:
    """The chat model behind the configured prompt format (weights load here)."""
    from prover.models.chat import build_chat_model

    chat = build_chat_model(config.generator, config.model, config.options, allow_download=config.allow_download)
    fmt = config.format()
    return ChatProofPolicy(chat, fmt) if banned is None else ChatProofPolicy(chat, fmt, banned)


async def run_hybrid(
    *,
    statement: Statement,
    header: str,
    informal: str,
    pool: ReplPool,
    env: ProofEnvironment,
    lean: LeanConfig,
    search_config: SearchConfig,
    tactic_policy: Policy,
    proof_policy: ProofPolicy,
    proof_config: ProofModelConfig,
    deadline: float,
    verify: Callable[[tuple[str, ...]], Awaitable[bool]],
    allowed_axioms: frozenset[str] = frozenset(),
) -> tuple[ScheduleResult, list[Route]]:
    """Run the routes of one problem (module docstring); returns the schedule's result and the routes run."""
    root = await env.start()
    _, preamble = split_header(header)
    checker = WarmProofChecker(pool, env, statement, lean, preamble=preamble, banned=search_config.banned,
                               allowed_axioms=allowed_axioms, step_timeout=search_config.tactic_timeout)
    request = ProofRequest(statement.name, header, statement.original, informal)
    whole = WholeProofRoute(proof_policy, checker, request, proof_config.route_config(search_config.seed), checker)
    routes: list[Route] = [whole]
    if not proof_config.whole_only:
        routes.append(TacticRoute(env, tactic_policy, root, search_config, statement.name))
    result = await run_routes(routes, deadline=deadline, verify=verify)
    return result, routes


def policy_stats(result: ScheduleResult) -> dict[str, dict[str, Any]]:
    """Per-route counters and seconds for `--json` (`stats.policies`), with each route's status and error."""
    out: dict[str, dict[str, Any]] = {}
    for report in result.reports:
        stats = {k: v for k, v in report.stats.items() if k not in ("batch_sizes",)}
        out[report.route] = {"status": report.status, **({"error": report.error} if report.error else {}), **stats}
    return out


def whole_samples(result: ScheduleResult) -> list[dict[str, Any]]:
    """Every whole-proof sample's record (round, parent, outcome, reason, tokens, body), for sweeps and datagen."""
    report = result.report("whole")
    return [dict(s) for s in report.samples] if report is not None else []

