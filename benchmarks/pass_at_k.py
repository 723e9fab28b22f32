"""Whole-proof metrics of a sweep: pass@k with the unbiased estimator, tokens per problem, proofs by route.

pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", the unbiased estimator
1 - C(n-c, k) / C(n, k) per problem, averaged) counts the first-round whole-proof samples of each problem: n
samples drawn, c of them accepted by Lean (the warm command-mode check, the same check the final verifier makes
in a fresh process). k runs over 1, 8, 32, 128, … up to the fewest samples any problem drew. It is reported beside
pass-within-budget (the sweep's own pass rate), which also counts repairs, resumed prefixes and the tactic search.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from math import comb
from typing import Any

ROUTES = ("whole", "repaired", "resumed", "tactic")


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one problem with n samples of which c are correct (k ≤ n)."""
    if k > n:
        raise ValueError(f"k={k} exceeds the {n} samples drawn")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def ks_up_to(n: int) -> list[int]:
    """1, 8, 32, 128, 512, … (×4 after 8) while ≤ n."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k = 8 if k == 1 else k * 4
    return ks


def whole_proof_metrics(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """pass@k over first-round samples, tokens per problem, and the share of proofs by route, for one task."""
    counts: list[tuple[int, int]] = []
    tokens: list[int] = []
    for s in samples:
        records = s.get("whole_samples") or []
        if not records:
            continue
        first = [r for r in records if r.get("round", 0) == 0]
        counts.append((len(first), sum(r.get("outcome") == "passed" for r in first)))
        tokens.append(sum(int(r.get("tokens") or 0) for r in records))
    routes = Counter(str(s.get("route")) for s in samples if s.get("status") == "proved")
    proved = sum(routes.values())
    out: dict[str, Any] = {
        "problems_with_samples": len(counts),
        "route_share": {r: (routes.get(r, 0) / proved if proved else 0.0) for r in ROUTES if routes.get(r)},
    }
    if routes.get("None") or routes.get(""):
        out["route_share"]["cached/other"] = (routes.get("None", 0) + routes.get("", 0)) / proved
    if counts:
        fewest = min(n for n, _ in counts)
        out["samples_per_problem"] = fewest
        out["pass_at_k"] = {k: sum(pass_at_k(n, c, k) for n, c in counts) / len(counts) for k in ks_up_to(fewest)}
        out["tokens_per_problem"] = sum(tokens) / len(tokens)
    return out


def whole_proof_rows(samples: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(metric, value) rows for the report table; empty when the task drew no whole-proof samples."""
    m = whole_proof_metrics(samples)
    rows: list[tuple[str, str]] = []
    for k, value in (m.get("pass_at_k") or {}).items():
        rows.append((f"whole pass@{k}", f"{value:.4f}"))
    if "tokens_per_problem" in m:
        rows.append(("tokens / problem", f"{m['tokens_per_problem']:.0f}"))
    for route, share in m["route_share"].items():
        rows.append((f"proofs by {route}", f"{share:.4f}"))
    return rows
