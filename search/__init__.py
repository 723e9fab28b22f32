"""Best-first proof search: pure, no Lean, no torch, no subprocess.

The search talks to two small protocols (`Env`, `Policy`); `search.testing` has synthetic ones.
"""

from search.attempts import search_attempts
from search.banned import DEFAULT_BANNED, BannedTokens
from search.best_first import Accept, ProgressCallback, search
from search.budget import Allotment, TimeManager
from search.cache import CacheEntry, CacheKey, FailedAttempt, ProofCache
from search.config import SearchConfig
from search.errors import CacheError, ProverError, SearchError, UsageError
from search.outcomes import LeanError, ProofFinished, ProofGivenUp, TacticResult, TacticState
from search.proofs import (
    Attempt,
    CandidateChecker,
    CheckResult,
    LeanMessage,
    Prefix,
    PrefixChannel,
    PrefixReplayer,
    ProofPolicy,
    ProofRequest,
    ProofSample,
    split_steps,
)
from search.protocols import Candidate, Env, Policy, PolicyRequest, Sampling
from search.routes import TacticRoute, WholeProofConfig, WholeProofRoute
from search.scheduler import Route, RouteContext, RouteReport, ScheduleResult, run_routes
from search.result import FailedEdge, PathStep, SearchProgress, SearchResult, SearchStats, SearchStatus, StopReason
from search.tree import Edge, EdgeOutcome, Node, SearchTree, Status, state_key

__all__ = [
    "Attempt",
    "CandidateChecker",
    "CheckResult",
    "LeanMessage",
    "Prefix",
    "PrefixChannel",
    "PrefixReplayer",
    "ProofPolicy",
    "ProofRequest",
    "ProofSample",
    "Route",
    "RouteContext",
    "RouteReport",
    "ScheduleResult",
    "TacticRoute",
    "WholeProofConfig",
    "WholeProofRoute",
    "run_routes",
    "split_steps",
    "DEFAULT_BANNED",
    "Accept",
    "Allotment",
    "BannedTokens",
    "CacheEntry",
    "CacheError",
    "CacheKey",
    "Candidate",
    "Edge",
    "EdgeOutcome",
    "Env",
    "FailedAttempt",
    "FailedEdge",
    "LeanError",
    "Node",
    "PathStep",
    "Policy",
    "PolicyRequest",
    "ProgressCallback",
    "ProofCache",
    "ProofFinished",
    "ProofGivenUp",
    "ProverError",
    "Sampling",
    "SearchConfig",
    "SearchError",
    "SearchProgress",
    "SearchResult",
    "SearchStats",
    "SearchStatus",
    "SearchTree",
    "Status",
    "StopReason",
    "TacticResult",
    "TacticState",
    "TimeManager",
    "UsageError",
    "search",
    "search_attempts",
    "state_key",
]
