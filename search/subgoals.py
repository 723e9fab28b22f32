"""The subgoal cache: proved sketch holes kept as lemmas, shared across sketches, attempts and problems.

Rows live in the proof-cache database (`search.cache.ProofCache`, table `subgoals`), keyed on sha256 of (Lean
version, Mathlib revision, header, goal) where the goal is the hole's whole pretty-printed proof state: its
context (every hypothesis with its type) and its `⊢` target, whitespace runs collapsed. Two holes with the same key
are the same obligation in the same environment, so a proof of one (a tactic script Lean finished with `Completed`
on that state) closes the other. A hit is only a candidate: the stitched theorem still goes through the verifier,
which is the judge (a goal text can hide what the pretty printer leaves out; then the stitched proof fails and the
sketch is rejected, never reported). Rows carry a checksum of their content; a row that disagrees raises
`CacheError` (never a wrong hit), as the proof table does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from search.cache import ProofCache, _now
from search.errors import CacheError

__all__ = ["SubgoalCache", "subgoal_key"]


def _normal(goal: str) -> str:
    return " ".join(goal.split())


def subgoal_key(lean_version: str, mathlib_rev: str, header: str, goal: str) -> str:
    """The sha256 key of a hole (see the module docstring)."""
    data = json.dumps([lean_version, mathlib_rev, header, _normal(goal)], ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


class SubgoalCache:
    """`search.sketch.HoleCache` over a `ProofCache` file for one (Lean, Mathlib, header).

    `hits` and `stores` count this object's successful reads and new rows.
    """

    def __init__(self, cache: ProofCache, lean_version: str, mathlib_rev: str, header: str) -> None:
        self.cache = cache
        self.parts = (lean_version, mathlib_rev, header)
        self.hits = 0
        self.stores = 0

    def _checksum(self, key: str, goal: str, proof: str) -> str:
        return hashlib.sha256(json.dumps([key, *self.parts, _normal(goal), proof]).encode()).hexdigest()

    def get(self, goal: str) -> tuple[str, ...] | None:
        """The cached proof of `goal`, or None. Raises `CacheError` on a row that is not this goal's."""
        key = subgoal_key(*self.parts, goal)
        rows = self.cache._run(
            lambda db: db.execute(
                "SELECT lean_version, mathlib_rev, header, goal, proof, checksum FROM subgoals WHERE key = ?", (key,)
            ).fetchall()
        )
        if not rows:
            return None
        lean, mathlib, header, stored_goal, proof, checksum = rows[0]
        if (lean, mathlib, header) != self.parts or stored_goal != _normal(goal) or checksum != self._checksum(
            key, goal, proof
        ):
            raise CacheError(f"the subgoal cache {self.cache.path} holds another goal under key {key}")
        self.hits += 1
        return tuple(json.loads(proof))

    def put(self, goal: str, proof: Sequence[str]) -> None:
        """Keep a hole's proof (the first one stays: an existing row is not replaced)."""
        if not proof or not all(isinstance(t, str) and t.strip() for t in proof):
            raise CacheError("refusing to cache an empty subgoal proof")
        key = subgoal_key(*self.parts, goal)
        text = json.dumps(list(proof), ensure_ascii=False)
        row = (key, *self.parts, _normal(goal), text, _now(), self._checksum(key, goal, text))

        def insert(db: object) -> int:
            cursor = db.execute(  # type: ignore[attr-defined]
                "INSERT OR IGNORE INTO subgoals (key, lean_version, mathlib_rev, header, goal, proof, created, "
                "checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.rowcount)

        self.stores += self.cache._write(insert)

    def count(self) -> int:
        return int(self.cache._run(lambda db: db.execute("SELECT COUNT(*) FROM subgoals").fetchone()[0]))
