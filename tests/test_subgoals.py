"""The subgoal cache: a table in the proof-cache file, keyed on (Lean, Mathlib, header, goal with its context)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from search.cache import CacheKey, ProofCache
from search.errors import CacheError
from search.subgoals import SubgoalCache

GOAL = "x y : ℕ\nh₀ : x + y = 5\n⊢ 2 + y = 5"


def test_holes_are_shared_across_objects_and_keyed_on_their_environment(tmp_path: Path) -> None:
    path = tmp_path / "proofs.db"
    with ProofCache(path) as cache:
        one = SubgoalCache(cache, "v4.24.0", "abc", "import Mathlib")
        assert one.get(GOAL) is None
        one.put(GOAL, ["omega"])
        one.put(GOAL, ["simp"])  # the first proof stays
        assert one.stores == 1 and one.count() == 1
    with ProofCache(path) as cache:  # another attempt or problem, another process
        again = SubgoalCache(cache, "v4.24.0", "abc", "import Mathlib")
        assert again.get("x y : ℕ\nh₀ : x + y = 5\n⊢ 2 +  y = 5") == ("omega",)  # whitespace runs collapse
        assert again.hits == 1
        assert again.get(GOAL.replace("h₀ : x + y = 5", "h₀ : x + y = 6")) is None  # the context is in the key
        assert SubgoalCache(cache, "v4.24.0", "abc", "import Mathlib\nopen Real").get(GOAL) is None
        assert SubgoalCache(cache, "v4.25.0", "abc", "import Mathlib").get(GOAL) is None
        with pytest.raises(CacheError):
            again.put(GOAL, [])


def test_a_file_from_before_the_table_is_migrated_and_a_tampered_row_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with ProofCache(path) as cache:
        cache.counts()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE subgoals")  # what an earlier version wrote
    db.commit()
    db.close()
    with ProofCache(path) as cache:
        subgoals = SubgoalCache(cache, "v4.24.0", "abc", "import Mathlib")
        subgoals.put(GOAL, ["omega"])
        assert cache.get(CacheKey("v4.24.0", "abc", "import Mathlib", "theorem t : True := by sorry")) is None
    db = sqlite3.connect(path)
    db.execute("UPDATE subgoals SET proof = '[\"sorry\"]'")
    db.commit()
    db.close()
    with ProofCache(path) as cache:
        with pytest.raises(CacheError, match="another goal"):
            SubgoalCache(cache, "v4.24.0", "abc", "import Mathlib").get(GOAL)
