"""The Ray runner on a local cluster of two nodes (one CPU each): every problem recorded once by the driver."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.loaders import Problem
from benchmarks.records import RunRecords
from prover.errors import EnvironmentProblem
from prover.results import ProofResult, ProofStatus

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def problems(n: int) -> list[Problem]:
    return [Problem("toy", f"p{i}", f"p{i}", f"theorem p{i} : True :=", "", "") for i in range(n)]


def make_prove(fail_on: str = "", die_on: str = "") -> Any:
    """Runs in each actor: the prove function, which notes the node it ran on in `verdict`."""
    import ray

    node = ray.get_runtime_context().get_node_id()

    async def prove(problem: Problem, **kwargs: Any) -> ProofResult:
        await asyncio.sleep(0.02)
        if problem.id == fail_on:
            raise EnvironmentProblem("no Lean on this node", fix="make lean")
        if problem.id == die_on:
            os._exit(1)
        proved = int(problem.id[1:]) % 2 == 0
        status = ProofStatus.PROVED if proved else ProofStatus.FAILED
        return ProofResult(status, problem.statement, proof=("trivial",) if proved else (), verdict=node)

    return prove


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    import ray
    from ray import cloudpickle
    from ray.cluster_utils import Cluster

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import the tests
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    try:
        yield c.address
    finally:
        ray.shutdown()
        c.shutdown()


def test_problems_spread_over_both_nodes_and_are_recorded_once(cluster: str, tmp_path: Path) -> None:
    from benchmarks.ray_runner import run_sweep_ray

    with RunRecords.create(tmp_path, "m") as records:
        summary = asyncio.run(run_sweep_ray(problems(12), make_prove, records=records, address=cluster))
        samples = records.samples("toy")
    assert (summary.done, summary.solved, summary.errors) == (12, 6, 0)
    assert sorted(s["id"] for s in samples) == sorted(f"p{i}" for i in range(12))
    assert len({s["verdict"] for s in samples}) == 2  # both nodes' actors worked


def test_a_fatal_error_stops_and_a_resume_completes_exactly(cluster: str, tmp_path: Path) -> None:
    from functools import partial

    from benchmarks.ray_runner import run_sweep_ray

    with RunRecords.create(tmp_path, "m") as records, pytest.raises(EnvironmentProblem, match="no Lean"):
        asyncio.run(run_sweep_ray(problems(10), partial(make_prove, fail_on="p6"), records=records, address=cluster))
    with RunRecords.resume(tmp_path / "m") as records:
        first = records.done_ids("toy")
        assert 0 < len(first) < 10
        summary = asyncio.run(run_sweep_ray(problems(10), make_prove, records=records))
    assert summary.skipped == len(first) and summary.done == 10 - len(first)
    lines = (records.samples_path("toy")).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10 and len({line.split('"id":"')[1].split('"')[0] for line in lines}) == 10


def test_a_dying_actor_costs_one_error_record(cluster: str, tmp_path: Path) -> None:
    from functools import partial

    from benchmarks.ray_runner import run_sweep_ray

    with RunRecords.create(tmp_path, "m") as records:
        summary = asyncio.run(run_sweep_ray(problems(6), partial(make_prove, die_on="p3"), records=records))
        by_id = {s["id"]: s for s in records.samples("toy")}
    assert summary.done == 6 and summary.errors == 1
    assert by_id["p3"]["status"] == "error" and "actor died" in by_id["p3"]["error"]
