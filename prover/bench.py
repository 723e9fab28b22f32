"""`prover bench run`: problems of registered tasks → the agent, W at a time (or on Ray) → run records.

The sweep runner (`benchmarks.sweep`) owns concurrency, resume and the time manager; this module only wires the
agent into it, so the same code serves the local and the Ray run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks.records import RunRecords, write_json_atomic
from benchmarks.sweep import SweepProgress, SweepSummary, run_sweep
from benchmarks.tasks import Problem, get_task
from prover.agent import Agent, AgentConfig
from prover.errors import UsageError
from prover.models import resolve_generator
from prover.results import ProofResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchSettings:
    """One `bench run` invocation (the agent's settings plus what the sweep needs)."""

    tasks: tuple[str, ...]
    agent: AgentConfig
    output_path: Path
    workers: int = 1
    limit: int | float | None = None
    data: Path | None = None
    resume: bool = False
    retry_errors: bool = False
    log_samples: bool = False
    total_budget_s: float | None = None
    ray_address: str | None = None
    download: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def run_config(self) -> dict[str, Any]:
        """The `config` block of results_<time>.json (contract 6)."""
        search = self.agent.search
        return {
            "model": self.agent.model.label,
            "generator": resolve_generator(self.agent.model.generator, self.agent.model.model)[0],
            "model_args": dict(self.agent.model.options),
            "prompt_format": self.agent.model.prompt_format,
            "preset": self.agent.model.preset,
            "top_p": search.top_p,
            "max_tokens": search.max_tokens,
            "max_expansions": search.max_expansions,
            "budget_s": search.budget_s,
            "total_budget_s": self.total_budget_s,
            "samples": search.width,
            "alpha": search.alpha,
            "attempts": search.attempts,
            "temperature": search.temperature,
            "seeds": [search.seed + i for i in range(search.attempts)],
            "tactic_timeout_s": search.tactic_timeout,
            "limit": self.limit,
            "tasks": list(self.tasks),
            "workers": self.workers,
            "repl_command": self.agent.lean.repl_command,
            "config_hash": self.agent.config_hash(),
            **({"proof_model": asdict(self.agent.proof)} if self.agent.proof.enabled else {}),
        }


def load_bench_problems(settings: BenchSettings) -> list[Problem]:
    """The problems of every requested task (did-you-mean UsageError for an unknown task)."""
    if not settings.tasks:
        raise UsageError("--tasks is empty (see `prover bench ls`)")
    problems: list[Problem] = []
    for name in settings.tasks:
        problems.extend(get_task(name).load(settings.data, limit=settings.limit, download=settings.download))
    return problems


async def prove_problem(agent: Agent, problem: Problem, budget_s: float | None = None) -> ProofResult:
    """Prove one benchmark problem: its own declaration text and header, and the axioms its header declares."""
    return await agent.prove(
        problem.declaration, header=problem.header, budget_s=budget_s, allowed_axioms=problem.extra_axioms,
        informal=problem.informal or "",
    )


def prove_with(agent: Agent) -> Callable[..., Awaitable[ProofResult]]:
    """The sweep's prove function over one agent."""

    async def prove(problem: Problem, budget_s: float | None = None) -> ProofResult:
        return await prove_problem(agent, problem, budget_s)

    return prove


@dataclass(frozen=True)
class AgentProveFactory:
    """A picklable recipe a Ray actor runs once to get its prove function (one agent per actor)."""

    config: AgentConfig

    def __call__(self) -> Callable[..., Awaitable[ProofResult]]:
        holder: dict[str, Agent] = {}

        async def prove(problem: Problem, budget_s: float | None = None) -> ProofResult:
            agent = holder.get("agent")
            if agent is None:
                # The agent lives as long as the actor: Ray ends an actor by killing its process, so there is no
                # moment to close it; its REPL processes die with it (they are started with PR_SET_PDEATHSIG).
                agent = await Agent(self.config).__aenter__()
                holder["agent"] = agent
            return await prove_problem(agent, problem, budget_s)

        return prove


async def run_bench(
    settings: BenchSettings,
    *,
    versions: dict[str, Any],
    on_progress: Callable[[SweepProgress], None] | None = None,
) -> tuple[RunRecords, SweepSummary]:
    """Run (or resume) a sweep and write its records; returns the records (closed) and the summary."""
    problems = load_bench_problems(settings)
    if settings.log_samples:
        settings = replace(settings, agent=replace(settings.agent, keep_tree=True))
    records = RunRecords.open(
        settings.output_path,
        settings.agent.model.label,
        resume=settings.resume,
        config=settings.run_config(),
        versions=versions,
    )
    trees = records.run_dir / "trees"

    def save_tree(problem: Problem, result: ProofResult) -> None:
        if result.tree is not None:
            write_tree(trees / problem.task / f"{problem.id}.json", result.tree)

    with records:
        logger.info("bench: %d problems, %d workers, run dir %s", len(problems), settings.workers, records.run_dir)
        if settings.ray_address is not None:
            from benchmarks.ray_runner import run_sweep_ray

            summary = await run_sweep_ray(
                problems,
                AgentProveFactory(settings.agent),
                records=records,
                address=settings.ray_address,
                on_result=save_tree,
                on_progress=on_progress,
                total_budget_s=settings.total_budget_s,
                include_steps=settings.log_samples,
                retry_errors=settings.retry_errors,
            )
        else:
            async with Agent(settings.agent) as agent:
                summary = await run_sweep(
                    problems,
                    prove_with(agent),
                    workers=settings.workers,
                    records=records,
                    on_result=save_tree,
                    on_progress=on_progress,
                    total_budget_s=settings.total_budget_s,
                    include_steps=settings.log_samples,
                    retry_errors=settings.retry_errors,
                )
    return records, summary


def write_tree(path: Path, tree: dict[str, Any]) -> None:
    """Save one search graph where `prover datagen` looks for it (`RUN_DIR/trees/<task>/<id>.json`), atomically."""
    write_json_atomic(path, tree, indent=None)


def parse_duration(text: str) -> float:
    """`4.5h`, `90m`, `600s` or `600` → seconds; anything else is a usage error."""
    value = text.strip().lower()
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0}.get(value[-1:], None)
    number = value[:-1] if scale is not None else value
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise UsageError(f"not a duration: {text!r} (use e.g. 4.5h, 90m, 600s)") from None
    if not math.isfinite(seconds):
        raise UsageError(f"the duration must be a finite number: {text!r}")
    if seconds <= 0:
        raise UsageError(f"the duration must be positive: {text!r}")
    return seconds


def parse_limit(text: str | None) -> int | float | None:
    """`--limit`: a count (`20`) or a fraction of each task (`0.1`), lm-eval style."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"--limit expects a count or a fraction, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--limit must be a positive number, got {text!r}")
    if value >= 1 and not value.is_integer():
        raise UsageError(f"--limit is a whole count or a fraction below 1, got {text!r}")
    return int(value) if value >= 1 else value


def summary_lines(summary: SweepSummary) -> Sequence[str]:
    """A few human lines about what this call did (the table follows them)."""
    data = asdict(summary)
    return [
        f"proved {data['solved']} of {data['done']} attempted in {data['seconds']:.1f}s"
        f" ({data['skipped']} already recorded, {data['errors']} errors)"
    ]
