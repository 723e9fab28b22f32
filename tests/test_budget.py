"""The competition time manager: never over the total, unspent time flows on, rounds for the unsolved."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.budget import TimeManager
from search.errors import UsageError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_even_split_and_unspent_time_flows_on() -> None:
    clock = Clock()
    manager = TimeManager(300, ["a", "b", "c"], clock=clock)
    first = manager.next()
    assert (first.problem_id, first.round, first.seconds) == ("a", 0, 100.0)
    assert first.deadline == clock.now + 100
    clock.now += 10
    manager.done(first, solved=True)  # 90 s unspent
    second = manager.next()
    assert second.problem_id == "b" and second.seconds == pytest.approx(145.0)
    clock.now += 145
    manager.done(second, solved=False)
    third = manager.next()
    assert third.seconds == pytest.approx(145.0) and third.deadline == pytest.approx(1300.0)
    clock.now += 145
    manager.done(third, solved=False)
    assert manager.next() is None and manager.finished
    assert manager.solved == {"a"} and manager.unsolved == ["b", "c"]
    assert sum(manager.spent_s.values()) == pytest.approx(300.0)


def test_rounds_give_short_budgets_first_then_longer_to_the_unsolved() -> None:
    clock = Clock()
    manager = TimeManager(4.5 * 3600, ["p1", "p2", "p3"], rounds=(600, None), clock=clock)
    handed = []
    while (allotment := manager.next()) is not None:
        handed.append((allotment.problem_id, allotment.round, allotment.seconds))
        solved = allotment.problem_id == "p2"
        clock.now += 100 if solved else allotment.seconds
        manager.done(allotment, solved=solved)
    assert handed[:3] == [("p1", 0, 600.0), ("p2", 0, 600.0), ("p3", 0, 600.0)]
    # 4.5 h - 600 - 100 - 600 = 14900 s left for the two unsolved, shared evenly, then what remains
    assert [(pid, rnd) for pid, rnd, _ in handed[3:]] == [("p1", 1), ("p3", 1)]
    assert handed[3][2] == pytest.approx(14900 / 2)
    assert handed[4][2] == pytest.approx(14900 / 2)
    assert clock.now - 1000 == pytest.approx(4.5 * 3600)
    assert manager.finished


def test_solved_problems_are_not_retried() -> None:
    clock = Clock()
    manager = TimeManager(100, ["a", "b"], rounds=(10, 20, None), clock=clock)
    seen = []
    while (allotment := manager.next()) is not None:
        seen.append((allotment.problem_id, allotment.round))
        clock.now += 1
        manager.done(allotment, solved=allotment.problem_id == "a")
    assert seen == [("a", 0), ("b", 0), ("b", 1), ("b", 2)]


def test_reserve_for_checking_and_minimum() -> None:
    clock = Clock()
    # Each problem's share must leave room to search after keeping 10 minutes to check a proof.
    assert TimeManager(30 * 60, ["a", "b", "c"], reserve_s=600, clock=clock).next() is None
    first = TimeManager(60 * 60, ["a", "b", "c"], reserve_s=600, clock=clock).next()
    assert first.seconds == 1200 and first.search_s == 600 and first.search_deadline == first.start + 600
    manager = TimeManager(3 * 60 * 60, ["a"], rounds=(1200,), reserve_s=600, clock=clock)
    allotment = manager.next()
    assert (
        allotment.search_s == 600
        and allotment.search_deadline == clock.now + 600
        and allotment.deadline == clock.now + 1200
    )
    tiny = TimeManager(5, ["a", "b", "c", "d", "e", "f"], min_s=1.0, clock=clock)
    assert tiny.next() is None and tiny.finished


def test_workers_share_a_pool_and_never_pass_the_wall_end() -> None:
    clock = Clock()
    manager = TimeManager(100, ["a", "b", "c", "d"], workers=2, clock=clock)
    first, second = manager.next(), manager.next()
    assert first.seconds == pytest.approx(50) and second.seconds == pytest.approx(50)
    clock.now += 20
    manager.done(first, solved=True)
    third = manager.next()  # (200 - 20 - 50 reserved) / 2 queued = 65, within the 80 s of wall left
    assert third.seconds == pytest.approx(65) and third.deadline <= 1100
    clock.now += 70
    manager.done(second, solved=False, spent_s=50)
    fourth = manager.next()
    assert fourth.deadline <= 1100 + 1e-9


def test_reporting_an_unknown_allotment_is_an_error() -> None:
    clock = Clock()
    manager = TimeManager(10, ["a"], clock=clock)
    allotment = manager.next()
    manager.done(allotment, solved=False)
    with pytest.raises(UsageError):
        manager.done(allotment, solved=False)


@pytest.mark.parametrize(
    "kwargs",
    [dict(total_s=0), dict(rounds=()), dict(rounds=(0,)), dict(workers=0), dict(problem_ids=["a", "a"])],
)
def test_bad_arguments(kwargs: dict) -> None:
    args = {"total_s": 10, "problem_ids": ["a"], **kwargs}
    with pytest.raises(UsageError):
        TimeManager(args.pop("total_s"), args.pop("problem_ids"), **args)


@settings(max_examples=150, deadline=None)
@given(
    total=st.floats(10, 20_000),
    n=st.integers(1, 12),
    rounds=st.lists(st.one_of(st.none(), st.floats(1, 5000)), min_size=1, max_size=4),
    workers=st.integers(1, 4),
    reserve=st.floats(0, 50),
    outcomes=st.lists(st.tuples(st.floats(0, 1.5), st.booleans()), min_size=1, max_size=60),
)
def test_never_over_the_total(total: float, n: int, rounds: list, workers: int, reserve: float, outcomes: list) -> None:
    clock = Clock()
    start = clock.now
    ids = [f"p{i}" for i in range(n)]
    manager = TimeManager(total, ids, rounds=rounds, workers=workers, reserve_s=reserve, clock=clock)
    running = []
    step = 0
    while True:
        while len(running) < workers and (allotment := manager.next()) is not None:
            assert allotment.seconds > 0 and allotment.deadline <= manager.end + 1e-6
            cap = rounds[allotment.round]
            assert cap is None or allotment.seconds <= cap + 1e-9
            assert allotment.problem_id not in manager.solved
            running.append(allotment)
        if not running:
            break
        fraction, solved = outcomes[step % len(outcomes)]
        step += 1
        allotment = running.pop(0)
        # the run may finish early or overrun its allotment a little; the clock never passes the wall end
        clock.now = min(max(clock.now, allotment.start + allotment.seconds * fraction), manager.end)
        manager.done(allotment, solved=solved, spent_s=min(allotment.seconds, clock.now - allotment.start))
    assert clock.now - start <= total + 1e-6
    assert sum(manager.spent_s.values()) <= total * workers + 1e-6
    assert manager.finished
