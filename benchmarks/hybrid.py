"""Tactic-only vs whole-only vs hybrid at equal budget and equal simulated model cost (prints; asserts nothing).

Synthetic problems (`search.testing.deep_space(D)`, D drawn per problem): the proof is `step 0 … step D-1, qed`
along a chain whose every state also offers a slightly worse detour into an infinite trap tree, so best-first
tactic search alone finishes quickly from deep states and slowly (or not within the budget) from the root.

- The *tactic policy* proposes every state's moves with their fixed log-probs (one simulated model call per wave).
- The *proof policy* samples whole proofs: right with probability `p` (a repair: `p_repair`); otherwise right up
  to a uniformly random depth, then a wrong step. Samples are seeded per (problem, round, index, parent), so every
  mode that draws the i-th sample of a problem draws the same one.
- Costs are simulated with sleeps: `--tactic-call` s per tactic-model call, `--proof-call` s per proof-model call
  (n samples batched), `--lean` s per tactic run, `--check` s per whole-proof check. Both models share ONE
  simulated accelerator (a lock held for the call's duration), so the hybrid gets no extra model time: equal budget
  and equal model cost.

Modes, each under the same per-problem wall budget: `tactic` (the tactic route alone), `whole` (whole-proof
sampling + repair, no resume), `hybrid` (both routes, repair and truncate-and-resume, one scheduler). Printed side
by side: solved, which route found each proof, mean seconds to a proof; then whether hybrid ⊇ tactic ∪ whole.

Usage: python benchmarks/hybrid.py [--problems 40] [--budget 1.0] [--p 0.1] [--samples 4] [--rounds 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from search import SearchConfig
from search.proof_testing import ScriptedProofPolicy, SyntheticProofLean
from search.proofs import ProofRequest, ProofSample
from search.protocols import Candidate, PolicyRequest, Sampling
from search.routes import TacticRoute, WholeProofConfig, WholeProofRoute
from search.scheduler import Route, run_routes
from search.testing import ScriptedPolicy, SyntheticEnv, deep_space


@dataclass(frozen=True)
class Costs:
    tactic_call: float
    proof_call: float
    lean: float
    check: float


class Accelerator:
    """One simulated GPU: model calls hold it for their cost, one at a time."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.busy = 0.0

    async def run(self, seconds: float) -> None:
        async with self.lock:
            await asyncio.sleep(seconds)
            self.busy += seconds


class SharedTacticPolicy(ScriptedPolicy):
    def __init__(self, space, gpu: Accelerator, cost: float) -> None:
        super().__init__(space)
        self.gpu, self.cost = gpu, cost

    async def propose(self, requests: Sequence[PolicyRequest], sampling: Sampling) -> list[list[Candidate]]:
        await self.gpu.run(self.cost)
        return await super().propose(requests, sampling)


class SharedProofPolicy(ScriptedProofPolicy):
    def __init__(self, script, gpu: Accelerator, cost: float) -> None:
        super().__init__(script)
        self.gpu, self.cost = gpu, cost

    async def generate(self, requests: Sequence[ProofRequest], sampling: Sampling) -> list[list[ProofSample]]:
        await self.gpu.run(self.cost)
        return await super().generate(requests, sampling)


def proof_script(problem: int, depth: int, p: float, p_repair: float, seed: int):
    right = "\n".join([*(f"step {i}" for i in range(depth)), "qed"])

    def script(request: ProofRequest, index: int, rng: random.Random) -> ProofSample:
        parent = hash(request.history[-1].output) & 0xFFFF if request.history else 0
        draw = random.Random(f"{seed}:{problem}:{request.round}:{index}:{parent}")
        if draw.random() < (p_repair if request.round else p):
            return ProofSample(f"proof {index}\n{right}", right, tokens=800)
        good = draw.randrange(depth)  # right up to here, then a wrong step
        body = "\n".join([*(f"step {i}" for i in range(good)), f"wrong {draw.randrange(1000)}"])
        return ProofSample(f"proof {index} r{request.round}\n{body}", body, tokens=800)

    return script


async def solve(mode: str, problem: int, depth: int, args: argparse.Namespace, costs: Costs) -> tuple[bool, str, float]:
    space = deep_space(depth)
    gpu = Accelerator()
    env = SyntheticEnv(space, latency=costs.lean)
    lean = SyntheticProofLean(SyntheticEnv(space, latency=costs.lean), check_cost=costs.check)
    routes: list[Route] = []
    if mode in ("tactic", "hybrid"):
        config = SearchConfig(budget_s=args.budget, width=4, concurrency=4)
        routes.append(TacticRoute(env, SharedTacticPolicy(space, gpu, costs.tactic_call), space.root_state(), config))
    if mode in ("whole", "hybrid"):
        policy = SharedProofPolicy(proof_script(problem, depth, args.p, args.p_repair, args.seed), gpu, costs.proof_call)
        whole_config = WholeProofConfig(samples=args.samples, rounds=args.rounds, repair_samples=1,
                                        resume=mode == "hybrid")
        routes.append(WholeProofRoute(policy, lean, ProofRequest("synthetic", "", "theorem synthetic : P := by sorry"),
                                      whole_config, lean if mode == "hybrid" else None))

    async def verify(proof: tuple[str, ...]) -> bool:  # the final check: the proof runs to the end in the space
        check = await SyntheticProofLean(SyntheticEnv(space)).check("\n".join(proof))
        return check.accepted

    start = time.monotonic()
    result = await run_routes(routes, deadline=start + args.budget, verify=verify)
    return result.proved, result.kind, time.monotonic() - start


async def main_async(args: argparse.Namespace) -> None:
    costs = Costs(args.tactic_call, args.proof_call, args.lean, args.check)
    rng = random.Random(args.seed)
    depths = [rng.randint(args.min_depth, args.max_depth) for _ in range(args.problems)]
    modes = ("tactic", "whole", "hybrid")
    solved: dict[str, set[int]] = {m: set() for m in modes}
    kinds: dict[str, Counter[str]] = {m: Counter() for m in modes}
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    wall = time.monotonic()
    for i, depth in enumerate(depths):
        for mode in modes:
            proved, kind, spent = await solve(mode, i, depth, args, costs)
            if proved:
                solved[mode].add(i)
                kinds[mode][kind] += 1
                seconds[mode].append(spent)
    print(f"{args.problems} synthetic problems, depth {args.min_depth}-{args.max_depth}, budget {args.budget:g} s each; "
          f"p={args.p:g}, p_repair={args.p_repair:g}, {args.samples} samples + {args.rounds} repair rounds; one shared "
          f"simulated GPU (tactic call {costs.tactic_call * 1e3:g} ms, proof call {costs.proof_call * 1e3:g} ms), "
          f"Lean {costs.lean * 1e3:g} ms/tactic, check {costs.check * 1e3:g} ms")
    print(f"{'mode':8s} {'solved':>7s} {'share':>6s} {'mean s':>7s}  by route")
    for mode in modes:
        n = len(solved[mode])
        mean = sum(seconds[mode]) / len(seconds[mode]) if seconds[mode] else 0.0
        routes = ", ".join(f"{k} {v}" for k, v in sorted(kinds[mode].items()))
        print(f"{mode:8s} {n:7d} {n / args.problems:6.1%} {mean:7.3f}  {routes}")
    union = solved["tactic"] | solved["whole"]
    missing = union - solved["hybrid"]
    print(f"union of tactic and whole: {len(union)}; hybrid solves {len(solved['hybrid'])}; "
          f"hybrid ⊇ union: {'yes' if not missing else 'no'} (missing {sorted(missing)}); "
          f"hybrid only: {sorted(solved['hybrid'] - union)}")
    print(f"ratio hybrid / best single mode: {len(solved['hybrid']) / max(1, len(solved['tactic']), len(solved['whole'])):.2f}; "
          f"wall {time.monotonic() - wall:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per problem and mode")
    parser.add_argument("--min-depth", type=int, default=4)
    parser.add_argument("--max-depth", type=int, default=16)
    parser.add_argument("--p", type=float, default=0.1, help="chance that a first-round whole proof is right")
    parser.add_argument("--p-repair", type=float, default=0.15, help="chance that a repair is right")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tactic-call", type=float, default=0.002)
    parser.add_argument("--proof-call", type=float, default=0.05)
    parser.add_argument("--lean", type=float, default=0.001)
    parser.add_argument("--check", type=float, default=0.005)
    parser.add_argument("--seed", type=int, default=0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
