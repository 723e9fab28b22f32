"""A time manager for a fixed total budget over many problems (the competition setting).

The AIMO/IMO setting: 4.5 hours for a handful of problems, each found proof needing up to 10 minutes of checking.
`TimeManager` hands out one problem at a time with its seconds; the caller runs it and reports back.

- Rounds: `rounds=(60, 600, None)` gives every problem up to 60 s, then the unsolved ones up to 600 s, then the
  still-unsolved share whatever is left. A round's value caps a problem's time in it; `None` means a fair share.
- Fair share: the time still free, divided by the problems queued in the current round (each capped by the round).
  Unspent time (a problem solved early) goes back to the pool, so the problems after it get more.
- Never over the total: the pool holds `total_s * workers` slot-seconds, an allotment reserves its seconds from it
  and returns what was not spent; and no allotment reaches past the wall-clock end of the total budget.
- `reserve_s` keeps back part of each allotment for checking a proof: `Allotment.search_deadline` comes that much
  before `Allotment.deadline`.

Examples:
    >>> clock = [0.0]
    >>> manager = TimeManager(300, ["a", "b", "c"], rounds=(60, None), clock=lambda: clock[0])
    >>> first = manager.next()
    >>> (first.problem_id, first.round, first.seconds)
    ('a', 0, 60.0)
    >>> clock[0] += 10; manager.done(first, solved=True)   # 50 s unspent go back to the pool
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from search.errors import UsageError


@dataclass(frozen=True)
class Allotment:
    """One problem's time in one round.

    `start` is the manager's clock when it was handed out; `deadline` = `start + seconds`; `search_deadline`
    leaves `reserve_s` of it for checking a proof. With the default clock these are `time.monotonic()` values, as
    `search(..., deadline=...)` takes.
    """

    problem_id: Hashable
    round: int
    seconds: float
    start: float
    reserve_s: float = 0.0

    @property
    def deadline(self) -> float:
        return self.start + self.seconds

    @property
    def search_deadline(self) -> float:
        return self.start + max(0.0, self.seconds - self.reserve_s)

    @property
    def search_s(self) -> float:
        return max(0.0, self.seconds - self.reserve_s)


class TimeManager:
    """Allots a total wall-clock budget over problems, in rounds.

    Args:
        total_s: the whole budget in seconds (wall clock, from construction).
        problem_ids: the problems, in the order they are tried in each round.
        rounds: per-problem cap of each round in seconds, `None` for a fair share of what is left. Every
            non-final round should have a cap, or it can use up the budget.
        workers: problems run at once; the pool is `total_s * workers` slot-seconds.
        reserve_s: seconds of each allotment kept for checking a proof.
        min_s: an allotment shorter than `reserve_s + min_s` is not worth starting.
        clock: the time source (`time.monotonic`; tests pass a fake).

    Raises:
        UsageError: a non-positive total, no rounds, a round cap that is not positive, duplicate problem ids.
    """

    def __init__(
        self,
        total_s: float,
        problem_ids: Iterable[Hashable],
        *,
        rounds: Sequence[float | None] = (None,),
        workers: int = 1,
        reserve_s: float = 0.0,
        min_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        ids = list(problem_ids)
        if not total_s > 0:
            raise UsageError(f"the total budget must be positive, got {total_s!r}")
        if not rounds or any(cap is not None and not cap > 0 for cap in rounds):
            raise UsageError(f"rounds must be a non-empty list of positive caps or None, got {rounds!r}")
        if workers < 1 or reserve_s < 0 or min_s < 0:
            raise UsageError("workers must be >= 1, reserve_s and min_s >= 0")
        if len(set(ids)) != len(ids):
            raise UsageError("problem ids must be distinct")
        self.total_s = float(total_s)
        self.rounds = tuple(rounds)
        self.workers = workers
        self.reserve_s = reserve_s
        self.min_s = min_s
        self._clock = clock
        self.end = clock() + self.total_s
        self._pool = self.total_s * workers  # slot-seconds neither spent nor reserved
        self._queues: list[deque[Hashable]] = [deque(ids)] + [deque() for _ in self.rounds[1:]]
        self._in_flight: dict[Hashable, Allotment] = {}
        self.solved: set[Hashable] = set()
        self.spent_s: dict[Hashable, float] = dict.fromkeys(ids, 0.0)
        self.problem_ids = tuple(ids)

    @property
    def remaining_s(self) -> float:
        """Wall-clock seconds left of the total."""
        return max(0.0, self.end - self._clock())

    @property
    def unsolved(self) -> list[Hashable]:
        return [pid for pid in self.problem_ids if pid not in self.solved]

    @property
    def finished(self) -> bool:
        """True when `next()` will never hand out another allotment."""
        if self.remaining_s < self.reserve_s + self.min_s:
            return not self._in_flight
        return not self._in_flight and not any(self._queues)

    def _current_round(self) -> int | None:
        for index, queue in enumerate(self._queues):
            if queue:
                return index
        return None

    def next(self) -> Allotment | None:
        """The next problem to run and its time, or None.

        None means either that the work is over (`finished` is True) or, with several workers, that nothing can
        start before a running problem reports back.
        """
        index = self._current_round()
        if index is None:
            return None
        now = self._clock()
        wall_left = self.end - now
        queue = self._queues[index]
        share = min(self._pool / len(queue), wall_left)
        cap = self.rounds[index]
        if cap is not None:
            share = min(share, float(cap))
        if share < self.reserve_s + self.min_s:
            if not self._in_flight:  # no one will return time: what is queued will never run
                for waiting in self._queues:
                    waiting.clear()
            return None
        problem_id = queue.popleft()
        allotment = Allotment(problem_id, index, share, now, self.reserve_s)
        self._pool -= share
        self._in_flight[problem_id] = allotment
        return allotment

    def done(self, allotment: Allotment, *, solved: bool, spent_s: float | None = None) -> None:
        """Report a problem's run: whether it was solved, and the seconds it took (default: measured by the clock).

        Unspent time goes back to the pool; an unsolved problem is queued for the next round, if any.
        """
        if self._in_flight.get(allotment.problem_id) is not allotment:
            raise UsageError(f"allotment for {allotment.problem_id!r} is not running")
        del self._in_flight[allotment.problem_id]
        spent = max(0.0, self._clock() - allotment.start) if spent_s is None else max(0.0, spent_s)
        self._pool += allotment.seconds - spent
        self.spent_s[allotment.problem_id] += spent
        if solved:
            self.solved.add(allotment.problem_id)
        elif allotment.round + 1 < len(self.rounds):
            self._queues[allotment.round + 1].append(allotment.problem_id)
