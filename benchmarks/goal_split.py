"""Expansions to proof with and without goal splitting, on synthetic spaces with product structure (prints ratios).

Each space is `search.testing.ProductSpace`: `constructor` leaves k independent goals, each a `deep_space(d)` (a
proof d+1 tactics deep along a chain, with a slightly worse detour into an infinite trap tree at every step), and
every goal's tactics are available at every state (`on_goal k => …`), as in Lean. Plain best-first searches the
product of the goals' states; with goal splitting (`search(..., focus=env)`) the state after `constructor` becomes
an AND node and each goal is searched alone. A last row is the control: the same product whose goals mention a
shared metavariable (`?w`), which must not split (ratio 1.0).

Usage: python benchmarks/goal_split.py [--max-expansions 200000]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Hashable

from search import SearchConfig, search
from search.result import SearchResult
from search.testing import FunctionSpace, ProductSpace, ScriptedPolicy, SyntheticEnv, SyntheticSpace, deep_space


def _run(space: SyntheticSpace, split: bool, max_expansions: int) -> SearchResult:
    env = SyntheticEnv(space)
    config = SearchConfig(budget_s=600, width=16, max_expansions=max_expansions)
    return asyncio.run(search(env, ScriptedPolicy(space), env.root_state(), config, focus=env if split else None))


def _shared(depth: int) -> FunctionSpace:
    inner = deep_space(depth)

    def goals(name: Hashable) -> tuple[str, ...]:
        return (f"⊢ P ?w {name}",)

    return FunctionSpace(inner.moves, inner.root, goals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-expansions", type=int, default=200_000)
    args = parser.parse_args()
    cases: list[tuple[str, ProductSpace]] = [
        (f"{k} goals x deep_space({d})", ProductSpace([deep_space(d) for _ in range(k)]))
        for k, d in ((2, 3), (2, 5), (2, 7), (3, 3), (3, 4))
    ]
    cases.append(("2 goals sharing ?w (control)", ProductSpace([_shared(3), _shared(3)])))
    print(f"{'space':32} {'plain':>9} {'split':>7} {'ratio':>7}   plain wall / split wall")
    for label, space in cases:
        plain = _run(space, False, args.max_expansions)
        split = _run(space, True, args.max_expansions)
        mark = "" if plain.proof else " (plain: no proof within the cap)"
        ratio = plain.stats.expansions / max(1, split.stats.expansions)
        wall = plain.stats.seconds_total / max(1e-9, split.stats.seconds_total)
        assert split.proof, f"{label}: goal splitting found no proof"
        print(
            f"{label:32} {plain.stats.expansions:9d} {split.stats.expansions:7d} {ratio:7.1f}x  {wall:8.1f}x"
            f"  splits={split.stats.goal_splits}{mark}"
        )


if __name__ == "__main__":
    main()
