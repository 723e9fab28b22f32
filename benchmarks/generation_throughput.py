"""Tactic generation throughput and batching efficiency (a script: it prints, it asserts nothing).

For each backend (`hf` on the tiny random causal model of tests/tiny_models.py; `vllm` too where it imports):
- one wave of B requests in one `propose` call,
- the same B requests as B sequential single-request calls,
- B concurrent single-request calls (as B searches sharing the generator would make; the backend coalesces them),
printing tactics (samples) per second and the ratios batched / sequential and concurrent / sequential.

    .venv/bin/python benchmarks/generation_throughput.py
    .venv-vllm/bin/python benchmarks/generation_throughput.py --backends hf,vllm   # after `make vllm-env`

The model is tiny and random, so absolute numbers say little about real models; the ratios show how much a
backend gains from batching on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

STATES = [
    "n : ℕ\n⊢ n + 0 = n",
    "x y : ℝ\nh₀ : x + y = 10\nh₁ : x - y = 2\n⊢ x = 6",
    "a b : ℕ\nh : a = b\n⊢ b = a",
    "x : ℝ\n⊢ 0 ≤ x ^ 2",
]


def requests(count: int) -> list:
    from search.outcomes import TacticState
    from search.protocols import PolicyRequest

    return [PolicyRequest(TacticState((STATES[i % len(STATES)] + f"\n-- {i}",)), f"t{i}") for i in range(count)]


async def measure(gen: object, batch: int, sampling: object, repeats: int) -> dict[str, float]:
    reqs = requests(batch)
    await gen.propose(reqs[:2], sampling)  # type: ignore[attr-defined]  # warm-up (allocation, kernels)
    times: dict[str, float] = {"batched": float("inf"), "sequential": float("inf"), "concurrent": float("inf")}
    for _ in range(repeats):
        start = time.perf_counter()
        await gen.propose(reqs, sampling)  # type: ignore[attr-defined]
        times["batched"] = min(times["batched"], time.perf_counter() - start)
        start = time.perf_counter()
        for r in reqs:
            await gen.propose([r], sampling)  # type: ignore[attr-defined]
        times["sequential"] = min(times["sequential"], time.perf_counter() - start)
        start = time.perf_counter()
        await asyncio.gather(*(gen.propose([r], sampling) for r in reqs))  # type: ignore[attr-defined]
        times["concurrent"] = min(times["concurrent"], time.perf_counter() - start)
    return times


def run_backend(name: str, model_dir: Path, batch: int, n: int, max_tokens: int, repeats: int) -> None:
    from prover.models import build_generator
    from search.protocols import Sampling

    options = {"device": "cpu"} if name == "hf" else {"dtype": "float32", "max_model_len": "256", "enforce_eager": "true"}
    start = time.perf_counter()
    gen = build_generator(name, model=str(model_dir), options=options)
    load = time.perf_counter() - start
    sampling = Sampling(n=n, temperature=1.0, max_tokens=max_tokens, seed=0)

    async def go() -> dict[str, float]:
        try:
            return await measure(gen, batch, sampling, repeats)
        finally:
            await gen.close()

    t = asyncio.run(go())
    samples = batch * n
    print(f"\n{name}: B={batch} requests x n={n} samples x {max_tokens} max tokens (load {load:.1f} s, best of {repeats})")
    print(f"  {'mode':<12} {'seconds':>9} {'tactics/s':>10}")
    for mode in ("batched", "sequential", "concurrent"):
        print(f"  {mode:<12} {t[mode]:>9.3f} {samples / t[mode]:>10.1f}")
    print(f"  batching efficiency (sequential / batched):    {t['sequential'] / t['batched']:.2f}x")
    print(f"  coalescing efficiency (sequential / concurrent): {t['sequential'] / t['concurrent']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="hf,vllm", help="comma-separated: hf, vllm")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import importlib.util

    from tiny_models import tiny_causal_dir

    model_dir = tiny_causal_dir()
    for name in args.backends.split(","):
        needs = {"hf": "transformers", "vllm": "vllm"}.get(name.strip())
        if needs is None:
            print(f"\n{name}: unknown backend (hf, vllm)")
        elif importlib.util.find_spec(needs) is None:
            print(f"\n{name}: {needs} is not importable here (skipped)")
        else:
            run_backend(name.strip(), model_dir, args.batch, args.n, args.max_tokens, args.repeats)


if __name__ == "__main__":  # vLLM spawns its engine process: the guard is required
    main()
