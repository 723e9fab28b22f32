"""How the sweep runner scales with W concurrent problems (a script: it prints, it does not assert).

Each problem is a real best-first search (`search.search`) over a synthetic proof space from `search.testing`,
against an environment with a fixed per-tactic latency (an `asyncio.sleep`, standing in for Lean) and a zero-cost
scripted policy. Every problem does the same amount of work (an expansion cap on a space with no proof), so the
ideal throughput is W times that of one worker. Records go to a temporary run directory through `RunRecords`
(fsync per line), as in a real sweep.

Run: `.venv/bin/python benchmarks/sweep_scaling.py [--problems 24] [--latency-ms 2] [--workers 1 2 4]`.
Target: efficiency (speedup ÷ W) ≥ 0.9 up to the core count.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loaders import Problem
from benchmarks.records import RunRecords
from benchmarks.sweep import run_sweep
from prover.results import ProofResult, ProofStats, ProofStatus
from search import SearchConfig, search
from search.testing import ScriptedPolicy, SyntheticEnv, generated_space


def make_prove(latency_s: float, expansions: int, width: int):  # noqa: ANN201 - a closure factory for the script
    config = SearchConfig(budget_s=600.0, width=width, concurrency=1, max_expansions=expansions)

    async def prove(problem: Problem) -> ProofResult:
        space = generated_space(seed=int(problem.id[1:]), width=width, p_proof=0.0)
        env, policy = SyntheticEnv(space, latency=latency_s), ScriptedPolicy(space)
        result = await search(env, policy, env.root_state(), config, theorem_name=problem.name)
        stats = result.stats
        return ProofResult(
            status=ProofStatus.PROVED if result.proved else ProofStatus.FAILED,
            statement=problem.statement,
            proof=result.proof,
            stop_reason=str(result.stop_reason.value),
            stats=ProofStats(
                expansions=stats.expansions,
                nodes=stats.nodes,
                lean_calls=stats.env_calls,
                seconds_total=stats.seconds_total,
                seconds_model=stats.seconds_model,
                seconds_lean=stats.seconds_env,
                seconds_search=stats.seconds_search,
            ),
        )

    return prove


async def one_sweep(problems: list[Problem], prove, workers: int, out: Path) -> float:  # noqa: ANN001
    """Seconds for the sweep runner (with records) to prove `problems`, `workers` at a time."""
    with RunRecords.create(out, f"w{workers}") as records:
        t0 = time.perf_counter()
        summary = await run_sweep(problems, prove, workers=workers, records=records)
        assert summary.done == len(problems)
        return time.perf_counter() - t0


async def bare(problems: list[Problem], prove, workers: int) -> float:  # noqa: ANN001
    """Seconds for the same searches under a plain semaphore: no runner, no records (the simulation's ceiling)."""
    gate = asyncio.Semaphore(workers)

    async def one(problem: Problem) -> None:
        async with gate:
            await prove(problem)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(p) for p in problems))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated time per tactic, in ms")
    parser.add_argument("--expansions", type=int, default=8, help="expansions per problem")
    parser.add_argument("--width", type=int, default=4, help="tactics per expansion (run concurrently)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    problems = [Problem("scaling", f"p{i}", f"p{i}", f"theorem p{i} : True :=", "", "") for i in range(args.problems)]
    prove = make_prove(args.latency_ms / 1000.0, args.expansions, args.width)
    ideal_one = args.expansions * args.latency_ms / 1000.0  # the width's tactics run at once
    print(
        f"sweep scaling: {args.problems} problems × {args.expansions} expansions × width {args.width}, "
        f"{args.latency_ms:g} ms per tactic (≥ {ideal_one:.2f} s per problem); cores: {os.cpu_count()}"
    )
    columns = ("W", 3), ("sweep s", 8), ("problems/s", 11), ("speedup", 8), ("efficiency", 10), ("bare s", 7)
    print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'runner cost':>11}")
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for w in args.workers:
            seconds = asyncio.run(one_sweep(problems, prove, w, Path(tmp)))
            ceiling = asyncio.run(bare(problems, prove, w))
            rate = len(problems) / seconds
            base = base or rate
            speedup = rate / base
            print(
                f"{w:>3} {seconds:>8.2f} {rate:>11.2f} {speedup:>8.2f} {speedup / w:>10.2f} {ceiling:>7.2f} "
                f"{(seconds / ceiling - 1) * 100:>10.1f}%"
            )
    print(
        "efficiency = speedup ÷ W (target ≥ 0.90). bare = the same searches under a semaphore without the runner or "
        "records; runner cost = how much longer the sweep took than that."
    )


if __name__ == "__main__":
    main()
