"""The verified-proof cache: only accepted verdicts, never a wrong hit, several processes, crashes, corruption."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from search.cache import CacheEntry, CacheKey, ProofCache
from search.errors import CacheError


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    name: str


VALID = Verdict(True, "valid")


def key(i: int = 0) -> CacheKey:
    return CacheKey("v4.24.0", "v4.24.0", "import Mathlib\n", f"theorem t{i} : {i} + 0 = {i} := by sorry")


@pytest.fixture
def cache(tmp_path: Path) -> ProofCache:
    with ProofCache(tmp_path / "sub" / "proofs.db") as opened:
        yield opened


def test_put_get_roundtrip(cache: ProofCache) -> None:
    assert cache.get(key()) is None
    stored = cache.put(
        key(),
        ["simp", "omega"],
        VALID,
        axioms=["propext"],
        model="m",
        config_hash="abc",
        seconds=1.5,
        theorem_name="t0",
    )
    entry = cache.get(key())
    assert entry == stored
    assert entry.proof == ("simp", "omega") and entry.verdict == "valid" and entry.axioms == ("propext",)
    assert (entry.model, entry.config_hash, entry.seconds, entry.theorem_name) == ("m", "abc", 1.5, "t0")
    assert entry.created and entry.key == key().digest
    assert cache.get(key().digest) == entry
    assert cache.get(key(1)) is None
    cache.put(key(), ["norm_num"], Verdict(True, "valid-again"))
    assert cache.get(key()).proof == ("norm_num",) and cache.counts()["proofs"] == 1


def test_key_depends_on_every_part() -> None:
    base = key()
    variants = [
        CacheKey("v4.25.0", base.mathlib_rev, base.header, base.statement),
        CacheKey(base.lean_version, "other", base.header, base.statement),
        CacheKey(base.lean_version, base.mathlib_rev, base.header + " ", base.statement),
        CacheKey(base.lean_version, base.mathlib_rev, base.header, base.statement + " "),
        # no ambiguity from concatenation
        CacheKey(base.lean_version, base.mathlib_rev + base.header, "", base.statement),
    ]
    assert len({base.digest, *(v.digest for v in variants)}) == 6
    assert ProofCache.key(*(base.lean_version, base.mathlib_rev, base.header, base.statement)) == base


@pytest.mark.parametrize(
    "verdict",
    [Verdict(False, "sorry"), Verdict("yes", "valid"), Verdict(1, "valid"), Verdict(True, ""), object(), None],  # type: ignore[arg-type]
)
def test_no_entry_without_an_accepted_verdict(cache: ProofCache, verdict: object) -> None:
    with pytest.raises(CacheError):
        cache.put(key(), ["simp"], verdict)  # type: ignore[arg-type]
    entry = CacheEntry(
        *[getattr(key(), f) for f in ("lean_version", "mathlib_rev", "header", "statement")], ("simp",), "valid"
    )
    with pytest.raises(CacheError):
        cache.put_entry(entry, verdict)  # type: ignore[arg-type]
    assert cache.counts()["proofs"] == 0 and cache.get(key()) is None


def test_empty_proofs_and_digest_keys_are_refused(cache: ProofCache) -> None:
    with pytest.raises(CacheError):
        cache.put(key(), [], VALID)
    with pytest.raises(CacheError):
        cache.put(key(), ["simp", "  "], VALID)
    with pytest.raises(CacheError):
        cache.put(key().digest, ["simp"], VALID)  # type: ignore[arg-type]
    assert cache.counts()["proofs"] == 0


def test_a_tampered_row_is_an_error_not_a_hit(cache: ProofCache) -> None:
    cache.put(key(), ["simp"], VALID)
    cache.close()
    with sqlite3.connect(cache.path) as raw:
        raw.execute("UPDATE proofs SET proof = ? WHERE key = ?", ('["sorry"]', key().digest))
    with ProofCache(cache.path) as reopened:
        with pytest.raises(CacheError, match="checksum"):
            reopened.get(key())


def test_a_row_of_another_statement_is_an_error_not_a_hit(cache: ProofCache) -> None:
    cache.put(key(1), ["simp"], VALID)
    entry = cache.get(key(1))
    cache.close()
    # Move the row of statement 1 under the key of statement 0, keeping its own checksum.
    with sqlite3.connect(cache.path) as raw:
        raw.execute("UPDATE proofs SET key = ? WHERE key = ?", (key(0).digest, entry.key))
    with ProofCache(cache.path) as reopened:
        with pytest.raises(CacheError):
            reopened.get(key(0))


def test_a_file_that_is_not_a_database_is_a_cache_error(tmp_path: Path) -> None:
    path = tmp_path / "proofs.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CacheError):
        ProofCache.open(path)
    cache = ProofCache(path)
    with pytest.raises(CacheError):
        cache.get(key())


def test_a_damaged_database_is_a_cache_error(tmp_path: Path) -> None:
    path = tmp_path / "proofs.db"
    with ProofCache(path) as cache:
        for i in range(200):
            cache.put(key(i), ["simp"] * 20, VALID)
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):  # scribble over the start of every page after the first
        data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    with pytest.raises(CacheError):
        with ProofCache(path) as cache:
            cache.get(key(3))
            list(cache.entries())


def test_another_schema_is_a_cache_error(cache: ProofCache) -> None:
    cache.counts()
    cache.close()
    with sqlite3.connect(cache.path) as raw:
        raw.execute("UPDATE meta SET value = '999' WHERE name = 'schema_version'")
    with pytest.raises(CacheError, match="schema"):
        ProofCache.open(cache.path)


def test_a_locked_database_is_a_cache_error(tmp_path: Path) -> None:
    path = tmp_path / "proofs.db"
    ProofCache.open(path).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with ProofCache(path, timeout=0.05, retries=2) as cache:
            assert cache.get(key()) is None  # WAL: reads go on beside a writer
            started = time.monotonic()
            with pytest.raises(CacheError, match="locked"):
                cache.put(key(), ["simp"], VALID)
            assert time.monotonic() - started < 5
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with ProofCache(path) as cache:
        cache.put(key(), ["simp"], VALID)
        assert cache.get(key()).proof == ("simp",)


def test_closed_cache_refuses(tmp_path: Path) -> None:
    cache = ProofCache.open(tmp_path / "p.db")
    cache.close()
    with pytest.raises(CacheError, match="closed"):
        cache.get(key())


def test_failures_are_recorded_with_their_budget(cache: ProofCache) -> None:
    assert cache.max_failed_budget(key()) is None
    cache.record_failure(key(), budget_s=60, seconds=60.2, status="timeout", stop_reason="timeout", model="a")
    cache.record_failure(key().digest, budget_s=600, seconds=30, status="failed", stop_reason="root_failed", model="b")
    cache.record_failure(key(1), budget_s=10)
    attempts = cache.failures(key())
    assert [(a.budget_s, a.status, a.model) for a in attempts] == [(60, "timeout", "a"), (600, "failed", "b")]
    assert cache.max_failed_budget(key()) == 600 and cache.max_failed_budget(key(), model="a") == 60
    cache.put(key(1), ["simp"], VALID)
    assert cache.counts() == {"proofs": 1, "failures": 3, "failed_statements": 1}


def test_iterate_delete_export_import_verify(cache: ProofCache, tmp_path: Path) -> None:
    for i in range(5):
        cache.put(key(i), [f"tac{i}"], VALID, model="m")
    assert sorted(e.statement for e in cache.entries()) == sorted(key(i).statement for i in range(5))
    assert cache.delete(key(4)) and not cache.delete(key(4)) and cache.counts()["proofs"] == 4

    buffer = io.StringIO()
    assert cache.export_jsonl(buffer) == 4
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 4
    path = tmp_path / "export.jsonl"
    assert cache.export_jsonl(path) == 4

    with ProofCache(tmp_path / "other.db") as other:
        # An import needs a fresh verdict per entry: a verifier that rejects everything imports nothing.
        entries = list(ProofCache.read_jsonl(path))
        assert other.import_entries((e, Verdict(False, "sorry")) for e in entries) == (0, 4)
        assert other.counts()["proofs"] == 0
        stored, rejected = other.import_entries((e, Verdict(e.proof != ("tac0",), "v2")) for e in entries)
        assert (stored, rejected) == (3, 1)
        assert other.get(key(1)).verdict == "v2" and other.get(key(0)) is None
        assert other.get(key(1)).proof == cache.get(key(1)).proof

        rechecked = [(e, Verdict(e.proof != ("tac1",), "v3")) for e in other.entries()]
        dropped = other.drop_rejected(rechecked)
        assert [entry.proof for entry, _ in dropped] == [("tac1",)]
        assert other.get(key(1)) is None and other.counts()["proofs"] == 2


def test_import_pairs_each_verdict_with_its_own_entry_and_rekeys_to_the_checking_lean(tmp_path: Path) -> None:
    good = CacheEntry("v4.9.0", "old", "import Mathlib", "theorem t : True :=", ("trivial",), "verified")
    bad = replace(good, proof=("sorry",))  # the same key, another proof
    with ProofCache(tmp_path / "p.db") as cache:
        stored = cache.import_entries([(good, Verdict(True, "verified")), (bad, Verdict(False, "uses_sorry"))])
        assert stored == (1, 1)
        assert cache.get(good.cache_key).proof == ("trivial",)
        assert cache.import_entries([(good, Verdict(True, "verified"))], versions=("v4.24.0", "v4.24.0")) == (1, 0)
        now = CacheKey("v4.24.0", "v4.24.0", good.header, good.statement)
        assert cache.get(now).proof == ("trivial",)


def test_a_tampered_export_line_is_refused(tmp_path: Path, cache: ProofCache) -> None:
    cache.put(key(), ["simp"], VALID)
    buffer = io.StringIO()
    cache.export_jsonl(buffer)
    tampered = buffer.getvalue().replace("t0 : 0 + 0", "t0 : 0 + 1")
    with pytest.raises(CacheError, match="line 1"):
        list(ProofCache.read_jsonl(io.StringIO(tampered)))
    with pytest.raises(CacheError, match="not JSON"):
        list(ProofCache.read_jsonl(io.StringIO("{nope\n")))


# ---- several processes -------------------------------------------------------------------------------------


def _writer(path: str, start: int, count: int, reader_of: int, errors: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        with ProofCache(path, timeout=5) as cache:
            for i in range(start, start + count):
                cache.put(key(i), [f"tac{i}"], VALID)
                # read what the other process wrote so far, and check it is right
                other = key(reader_of + (i - start))
                entry = cache.get(other)
                if entry is not None and entry.proof != (f"tac{reader_of + (i - start)}",):
                    errors.put(f"wrong entry for {other.statement}")
                cache.record_failure(key(i), budget_s=1.0)
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(repr(exc))


def test_two_processes_write_and_read_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "proofs.db")
    context = multiprocessing.get_context("spawn")
    errors = context.Queue()
    count = 150
    workers = [
        context.Process(target=_writer, args=(path, 0, count, 1000, errors)),
        context.Process(target=_writer, args=(path, 1000, count, 0, errors)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    with ProofCache(path) as cache:
        assert cache.counts() == {"proofs": 2 * count, "failures": 2 * count, "failed_statements": 0}
        for i in [*range(count), *range(1000, 1000 + count)]:
            assert cache.get(key(i)).proof == (f"tac{i}",)


def _stuck_writer(path: str, ready: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    # A writer that dies inside a transaction: it has written rows but not committed.
    with ProofCache(path) as cache:
        cache.put(key(0), ["committed"], VALID)
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    for i in range(1, 500):
        raw.execute(
            "INSERT INTO proofs VALUES (?, '', '', '', '', '[]', '', '[]', '', '', 0, '', '', '')", (key(i).digest,)
        )
    ready.set()
    time.sleep(60)


def _busy_writer(path: str, ready: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    with ProofCache(path) as cache:
        i = 10_000
        while True:
            cache.put(key(i), ["simp"] * 50, VALID)
            i += 1
            if i == 10_020:
                ready.set()


@pytest.mark.parametrize("writer", [_stuck_writer, _busy_writer])
def test_a_writer_killed_mid_transaction_leaves_the_cache_usable(tmp_path: Path, writer: object) -> None:
    path = str(tmp_path / "proofs.db")
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    process = context.Process(target=writer, args=(path, ready))
    process.start()
    try:
        assert ready.wait(60)
        time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
    assert process.exitcode == -signal.SIGKILL
    with ProofCache(path, timeout=5) as cache:
        entries = list(cache.entries())  # every committed row reads back whole, checksums included
        assert all(entry.proof for entry in entries)
        if writer is _stuck_writer:
            assert [e.proof for e in entries] == [("committed",)]
        cache.put(key(-1), ["after"], VALID)
        assert cache.get(key(-1)).proof == ("after",)
