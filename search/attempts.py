"""Several independent attempts within one budget (BFS-Prover style), stopping at the first proof."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from functools import reduce

from search.best_first import Accept, ProgressCallback, search
from search.config import SearchConfig
from search.goal_split import GoalFocus
from search.outcomes import TacticState
from search.protocols import Env, Policy
from search.result import SearchResult, SearchStats, StopReason


def _share(left: int | None, attempts_left: int) -> int | None:
    """An equal share (rounded up) of what is left of a cap, for the next attempt."""
    return None if left is None else max(1, math.ceil(left / attempts_left))


async def search_attempts(
    env: Env,
    policy: Policy,
    root: TacticState,
    config: SearchConfig,
    *,
    theorem_name: str = "",
    deadline: float | None = None,
    accept: Accept | None = None,
    on_progress: ProgressCallback | None = None,
    focus: GoalFocus | None = None,
) -> SearchResult:
    """Run `config.attempts` searches one after another within `config.budget_s`, stopping at the first proof.

    Attempt i uses seed `config.seed + i` and α `config.attempt_alphas[i % len]` (or `config.alpha`). Each attempt
    gets an equal share of the time still left, so time an attempt does not use (it exhausted its space or its root
    failed) goes to the attempts after it; expansion and env-call caps are shared out the same way. An attempt that
    ends in ERROR ends the run.

    Args:
        env, policy, root, theorem_name, accept, on_progress, focus: as for `search`.
        config: the settings; `budget_s` covers all attempts.
        deadline: absolute `time.monotonic()` bound for all attempts.

    Returns:
        With one attempt, that attempt's result. Otherwise the proving attempt's result (or the last one's), with
        `stats` summed over attempts, `attempts` holding every attempt's result, and, when no attempt proved, the
        status and stop reason of the last attempt.
    """
    if config.attempts == 1:
        return await search(
            env,
            policy,
            root,
            config,
            theorem_name=theorem_name,
            deadline=deadline,
            accept=accept,
            on_progress=on_progress,
            focus=focus,
        )
    end = time.monotonic() + config.budget_s
    if deadline is not None:
        end = min(end, deadline)
    results: list[SearchResult] = []
    expansions_used = env_calls_used = 0
    for index in range(config.attempts):
        attempts_left = config.attempts - index
        left = end - time.monotonic()
        expansions_left = None if config.max_expansions is None else config.max_expansions - expansions_used
        env_calls_left = None if config.max_env_calls is None else config.max_env_calls - env_calls_used
        if results and (left <= 0 or expansions_left == 0 or env_calls_left == 0):
            break
        attempt_config = config.attempt_config(index, max(left / attempts_left, 1e-9)).with_(
            max_expansions=_share(expansions_left, attempts_left),
            max_env_calls=_share(env_calls_left, attempts_left),
        )
        result = await search(
            env,
            policy,
            root,
            attempt_config,
            theorem_name=theorem_name,
            deadline=end,
            accept=accept,
            on_progress=on_progress,
            attempt=index,
            focus=focus,
        )
        results.append(result)
        expansions_used += result.stats.expansions
        env_calls_used += result.stats.env_calls
        if result.proved or result.stop_reason is StopReason.ERROR:
            break
    chosen = results[-1]
    stats = reduce(SearchStats.__add__, (r.stats for r in results))
    return replace(chosen, stats=stats, attempts=tuple(results))
