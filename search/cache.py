"""The verified-proof cache (DESIGN contract 7): SQLite in WAL mode, safe with several processes.

- Key: sha256 of (Lean version, Mathlib revision, header, statement text), see `CacheKey`.
- Value: the proof (one tactic per entry), the verifier's verdict name, the axioms it uses, the model, the search
  config hash, the seconds it took, the date.
- A proof is written only through a call that carries a verdict with `accepted is True` (`put`, `put_entry`); any
  other verdict raises `CacheError` and nothing is stored. Imports go through the same door: each imported entry
  needs a fresh verdict from the caller's verifier.
- Never a wrong hit: every row stores its key parts and a checksum of its content; a read whose parts or checksum
  disagree raises `CacheError` instead of returning the row.
- Several processes may read and write at once: WAL mode, a busy timeout, and retries with backoff on "database is
  locked"; a writer killed mid-transaction leaves the last committed state (SQLite's journal guarantees it).
  A file that is not a SQLite database, a damaged one, or one locked past the retries raises `CacheError`.
- Failed attempts are recorded too, with their budget and model, for analysis and for schedulers built on top;
  nothing in `prover` skips a statement because of them (a sampled model may prove it on the next try).

Examples:
    >>> import tempfile, pathlib
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Verdict:
    ...     accepted: bool
    ...     name: str
    >>> with ProofCache(pathlib.Path(tempfile.mkdtemp()) / "proofs.db") as cache:
    ...     key = CacheKey("v4.24.0", "v4.24.0", "import Mathlib", "theorem t : 1 + 1 = 2 := by sorry")
    ...     _ = cache.put(key, ("norm_num",), Verdict(True, "valid"))
    ...     cache.get(key).proof
    ('norm_num',)
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from search.errors import CacheError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
EXPORT_FORMAT = "proof-cache/1"
_T = TypeVar("_T")


class Verdict(Protocol):
    """What the cache needs of a verifier verdict: whether it accepted the proof, and its name."""

    @property
    def accepted(self) -> bool: ...

    @property
    def name(self) -> str: ...


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _sha256(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """What a cached proof depends on. `digest` is the table key.

    The statement text is used verbatim (MiniF2F ports differ in small ways that change the theorem).
    """

    lean_version: str
    mathlib_rev: str
    header: str
    statement: str

    @property
    def digest(self) -> str:
        return _sha256(self.lean_version, self.mathlib_rev, self.header, self.statement)


@dataclass(frozen=True)
class CacheEntry:
    """One cached proof with everything it depends on and how it was found."""

    lean_version: str
    mathlib_rev: str
    header: str
    statement: str
    proof: tuple[str, ...]
    verdict: str
    axioms: tuple[str, ...] = ()
    model: str = ""
    config_hash: str = ""
    seconds: float = 0.0
    created: str = ""
    theorem_name: str = ""

    @property
    def cache_key(self) -> CacheKey:
        return CacheKey(self.lean_version, self.mathlib_rev, self.header, self.statement)

    @property
    def key(self) -> str:
        return self.cache_key.digest

    @property
    def checksum(self) -> str:
        """sha256 over every field (what a row must still hash to when read back)."""
        data = asdict(self)
        return _sha256(json.dumps(data, sort_keys=True, ensure_ascii=False))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["proof"] = list(self.proof)
        data["axioms"] = list(self.axioms)
        return {"format": EXPORT_FORMAT, "key": self.key, **data}

    @classmethod
    def from_json(cls, data: Any) -> CacheEntry:
        """Parse one exported line; the stored `key`, when present, must match the key parts.

        Raises:
            CacheError: a field is missing or of the wrong type, or the key does not match.
        """
        if not isinstance(data, dict) or data.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
            raise CacheError(f"not a {EXPORT_FORMAT} record")
        try:
            values: dict[str, Any] = {f.name: data[f.name] for f in fields(cls) if f.name in data}
            for name in ("proof", "axioms"):
                if name in values:
                    if not isinstance(values[name], list) or not all(isinstance(t, str) for t in values[name]):
                        raise TypeError(f"{name} must be a list of strings")
                    values[name] = tuple(values[name])
            for name in (
                "lean_version",
                "mathlib_rev",
                "header",
                "statement",
                "verdict",
                "model",
                "config_hash",
                "created",
                "theorem_name",
            ):
                if name in values and not isinstance(values[name], str):
                    raise TypeError(f"{name} must be a string")
            if "seconds" in values:
                values["seconds"] = float(values["seconds"])
            entry = cls(**values)
        except (TypeError, ValueError) as exc:
            raise CacheError(f"malformed cache record: {exc}") from exc
        if "key" in data and data["key"] != entry.key:
            raise CacheError(
                f"cache record key {data['key']!r} does not match its Lean version, Mathlib, header and statement"
            )
        return entry


@dataclass(frozen=True)
class FailedAttempt:
    """A search that did not find (or verify) a proof, with the budget it had."""

    key: str
    budget_s: float
    seconds: float
    status: str
    stop_reason: str = ""
    model: str = ""
    config_hash: str = ""
    created: str = ""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proofs (
    key TEXT PRIMARY KEY,
    lean_version TEXT NOT NULL,
    mathlib_rev TEXT NOT NULL,
    header TEXT NOT NULL,
    statement TEXT NOT NULL,
    proof TEXT NOT NULL,
    verdict TEXT NOT NULL,
    axioms TEXT NOT NULL,
    model TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    seconds REAL NOT NULL,
    created TEXT NOT NULL,
    theorem_name TEXT NOT NULL,
    checksum TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    budget_s REAL NOT NULL,
    seconds REAL NOT NULL,
    status TEXT NOT NULL,
    stop_reason TEXT NOT NULL,
    model TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_key ON failures (key);
"""

# Tables added after schema 1 (additive: readers that do not know them ignore them, so the version stays). Created
# on open when missing, in files made by earlier versions too. `subgoals`: the subgoal cache (search/subgoals.py).
_ADDED_TABLES = {
    "subgoals": """CREATE TABLE IF NOT EXISTS subgoals (
    key TEXT PRIMARY KEY,
    lean_version TEXT NOT NULL,
    mathlib_rev TEXT NOT NULL,
    header TEXT NOT NULL,
    goal TEXT NOT NULL,
    proof TEXT NOT NULL,
    created TEXT NOT NULL,
    checksum TEXT NOT NULL
)""",
}


def _add_missing_tables(db: sqlite3.Connection) -> None:
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [sql for name, sql in _ADDED_TABLES.items() if name not in names]
    if not missing:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for sql in missing:
            db.execute(sql)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


_PROOF_COLUMNS = (
    "key, lean_version, mathlib_rev, header, statement, proof, verdict, axioms, model, config_hash, seconds, created, "
    "theorem_name, checksum"
)


def _digest(key: CacheKey | str) -> str:
    return key.digest if isinstance(key, CacheKey) else key


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _check_verdict(verdict: Verdict) -> str:
    accepted = getattr(verdict, "accepted", None)
    name = getattr(verdict, "name", None)
    if accepted is not True:
        raise CacheError(
            f"refusing to cache a proof without an accepted verdict (accepted={accepted!r}, name={name!r})"
        )
    if not isinstance(name, str) or not name:
        raise CacheError(f"refusing to cache a proof whose verdict has no name ({name!r})")
    return name


class ProofCache:
    """A verified-proof cache in one SQLite file.

    `ProofCache(path)` does no I/O; the file is opened (created, checked, migrated) on first use, or at once by
    `ProofCache.open(path)`. Close it, or use it as a context manager. One object per process (or thread group);
    it serialises its own calls with a lock. Every method raises `CacheError` when the database is corrupt, of
    another schema, or locked past `retries`.

    Args:
        path: the database file; its directory is created on first use.
        timeout: seconds SQLite waits on a lock before a retry.
        retries: how many times a locked operation is retried (with backoff) before `CacheError`.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0, retries: int = 8) -> None:
        self.path = Path(path).expanduser()
        self._timeout = timeout
        self._retries = retries
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | Path, *, timeout: float = 30.0, retries: int = 8) -> ProofCache:
        """A cache whose file is opened and checked now.

        Raises:
            CacheError: the file is not a SQLite database, is damaged, has another schema, or stays locked.
        """
        cache = cls(path, timeout=timeout, retries=retries)
        cache.counts()
        return cache

    @staticmethod
    def key(lean_version: str, mathlib_rev: str, header: str, statement: str) -> CacheKey:
        """The key of a statement (see `CacheKey`); `.digest` is its sha256."""
        return CacheKey(lean_version, mathlib_rev, header, statement)

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise CacheError(f"the proof cache {self.path} is closed")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                str(self.path), timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the proof cache {self.path}: {exc}") from exc
        self._connection = connection
        try:
            self._with_retries(self._setup)
        except BaseException:
            self._connection = None
            connection.close()
            raise
        return connection

    def _setup(self, db: sqlite3.Connection) -> None:
        """Set WAL mode, check the file, and create the schema if it is new (only that takes a write lock)."""
        db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
        if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise CacheError(f"the proof cache {self.path} cannot use WAL mode (journal_mode={mode})")
        db.execute("PRAGMA synchronous = NORMAL")
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise CacheError(f"the proof cache {self.path} is damaged: {check}")
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone():
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                if not db.execute("SELECT 1 FROM meta WHERE name = 'schema_version'").fetchone():
                    db.execute("INSERT INTO meta (name, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        _add_missing_tables(db)
        row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = None if row is None else row[0]
            raise CacheError(f"the proof cache {self.path} has schema {found}, this version reads {SCHEMA_VERSION}")

    # ---- plumbing -------------------------------------------------------------------------------------------

    def _run(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `operation` (connecting first if needed) with retries; every SQLite failure becomes `CacheError`."""
        with self._lock:
            if self._connection is None:
                self._connect()
            return self._with_retries(operation)

    def _with_retries(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        connection = self._connection
        assert connection is not None  # _connect sets it before calling
        delay = 0.01
        for attempt in range(self._retries + 1):
            try:
                return operation(connection)
            except sqlite3.OperationalError as exc:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if not _is_busy(exc):
                    raise CacheError(f"proof cache {self.path}: {exc}") from exc
                if attempt == self._retries:
                    raise CacheError(f"the proof cache {self.path} stayed locked: {exc}") from exc
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)
            except sqlite3.Error as exc:
                raise CacheError(f"the proof cache {self.path} is unreadable or damaged: {exc}") from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    def _write(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        def transaction(db: sqlite3.Connection) -> _T:
            db.execute("BEGIN IMMEDIATE")
            try:
                value = operation(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return value

        return self._run(transaction)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> ProofCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- proofs ---------------------------------------------------------------------------------------------

    def get(self, key: CacheKey | str) -> CacheEntry | None:
        """The cached proof for `key` (a `CacheKey`, or its digest), or None.

        Raises:
            CacheError: the stored row does not belong to `key` or fails its checksum (never a wrong hit).
        """
        digest = _digest(key)
        rows = self._run(
            lambda db: db.execute(f"SELECT {_PROOF_COLUMNS} FROM proofs WHERE key = ?", (digest,)).fetchall()
        )
        if not rows:
            return None
        entry = self._entry(rows[0])
        if entry.key != digest or (isinstance(key, CacheKey) and entry.cache_key != key):
            raise CacheError(f"the proof cache {self.path} holds another statement under key {digest}")
        return entry

    def put(
        self,
        key: CacheKey,
        proof: Sequence[str],
        verdict: Verdict,
        *,
        axioms: Sequence[str] = (),
        model: str = "",
        config_hash: str = "",
        seconds: float = 0.0,
        theorem_name: str = "",
    ) -> CacheEntry:
        """Store a verified proof (replacing any earlier one for the same key).

        Args:
            key: what the proof depends on (a `CacheKey`: its parts are stored, for export and re-verification).
            proof: the tactic script, one tactic per entry (not empty).
            verdict: the verifier's verdict; it must have `accepted is True` and a `name`.
            axioms, model, config_hash, seconds, theorem_name: recorded with the proof.

        Returns:
            The stored entry.

        Raises:
            CacheError: the verdict is not an acceptance, the proof is empty, or the database fails.
        """
        if not isinstance(key, CacheKey):
            raise CacheError(f"put needs a CacheKey (its parts are stored with the proof), got {type(key).__name__}")
        entry = CacheEntry(
            key.lean_version,
            key.mathlib_rev,
            key.header,
            key.statement,
            tuple(proof),
            _check_verdict(verdict),
            tuple(axioms),
            model,
            config_hash,
            float(seconds),
            _now(),
            theorem_name,
        )
        return self.put_entry(entry, verdict)

    def put_entry(self, entry: CacheEntry, verdict: Verdict) -> CacheEntry:
        """Store an entry (e.g. one read from an export) given a fresh accepting verdict for it.

        The stored verdict name is the fresh one. Raises `CacheError` as `put` does.
        """
        name = _check_verdict(verdict)
        if not entry.proof or not all(isinstance(t, str) and t.strip() for t in entry.proof):
            raise CacheError("refusing to cache an empty proof or an empty tactic")
        if entry.verdict != name or not entry.created:
            entry = replace(entry, verdict=name, created=entry.created or _now())

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT OR REPLACE INTO proofs ({_PROOF_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.key,
                    entry.lean_version,
                    entry.mathlib_rev,
                    entry.header,
                    entry.statement,
                    json.dumps(list(entry.proof), ensure_ascii=False),
                    entry.verdict,
                    json.dumps(list(entry.axioms), ensure_ascii=False),
                    entry.model,
                    entry.config_hash,
                    entry.seconds,
                    entry.created,
                    entry.theorem_name,
                    entry.checksum,
                ),
            )

        self._write(insert)
        return entry

    def _entry(self, row: tuple[Any, ...]) -> CacheEntry:
        try:
            (
                key,
                lean,
                mathlib,
                header,
                statement,
                proof,
                verdict,
                axioms,
                model,
                config_hash,
                seconds,
                created,
                name,
                checksum,
            ) = row
            entry = CacheEntry(
                lean,
                mathlib,
                header,
                statement,
                tuple(json.loads(proof)),
                verdict,
                tuple(json.loads(axioms)),
                model,
                config_hash,
                float(seconds),
                created,
                name,
            )
        except (TypeError, ValueError) as exc:
            raise CacheError(f"a row of the proof cache {self.path} is damaged: {exc}") from exc
        if entry.key != key or entry.checksum != checksum:
            raise CacheError(f"a row of the proof cache {self.path} fails its checksum (key {key})")
        return entry

    def entries(self) -> Iterator[CacheEntry]:
        """Every cached proof, oldest first (read in one snapshot)."""
        rows = self._run(lambda db: db.execute(f"SELECT {_PROOF_COLUMNS} FROM proofs ORDER BY created, key").fetchall())
        return (self._entry(row) for row in rows)

    def delete(self, key: CacheKey | str) -> bool:
        """Remove the proof under `key` (a `CacheKey` or its digest); True when there was one."""
        digest = _digest(key)
        return self._write(lambda db: db.execute("DELETE FROM proofs WHERE key = ?", (digest,)).rowcount > 0)

    # ---- failed attempts ------------------------------------------------------------------------------------

    def record_failure(
        self,
        key: CacheKey | str,
        *,
        budget_s: float,
        seconds: float = 0.0,
        status: str = "failed",
        stop_reason: str = "",
        model: str = "",
        config_hash: str = "",
    ) -> FailedAttempt:
        """Record a search that found no verified proof within `budget_s` (key: a `CacheKey` or its digest)."""
        attempt = FailedAttempt(
            _digest(key), float(budget_s), float(seconds), status, stop_reason, model, config_hash, _now()
        )
        self._write(
            lambda db: db.execute(
                "INSERT INTO failures (key, budget_s, seconds, status, stop_reason, model, config_hash, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attempt.key,
                    attempt.budget_s,
                    attempt.seconds,
                    attempt.status,
                    attempt.stop_reason,
                    attempt.model,
                    attempt.config_hash,
                    attempt.created,
                ),
            )
        )
        return attempt

    def failures(self, key: CacheKey | str) -> list[FailedAttempt]:
        """The failed attempts recorded for `key`, oldest first."""
        digest = _digest(key)
        rows = self._run(
            lambda db: db.execute(
                "SELECT key, budget_s, seconds, status, stop_reason, model, config_hash, created FROM failures "
                "WHERE key = ? ORDER BY id",
                (digest,),
            ).fetchall()
        )
        return [FailedAttempt(*row) for row in rows]

    def max_failed_budget(self, key: CacheKey | str, *, model: str | None = None) -> float | None:
        """The largest budget a failed attempt had for `key` (optionally for one model), or None."""
        digest = _digest(key)
        query = "SELECT MAX(budget_s) FROM failures WHERE key = ?" + (" AND model = ?" if model is not None else "")
        args = (digest,) if model is None else (digest, model)
        value = self._run(lambda db: db.execute(query, args).fetchone()[0])
        return None if value is None else float(value)

    # ---- maintenance (`prover cache stats|export|import|verify`) ------------------------------------------

    def counts(self) -> dict[str, int]:
        """`proofs`, `failures` (attempt records) and `failed_statements` (distinct keys with a failure and no proof)."""

        def count(db: sqlite3.Connection) -> dict[str, int]:
            return {
                "proofs": db.execute("SELECT COUNT(*) FROM proofs").fetchone()[0],
                "failures": db.execute("SELECT COUNT(*) FROM failures").fetchone()[0],
                "failed_statements": db.execute(
                    "SELECT COUNT(DISTINCT key) FROM failures WHERE key NOT IN (SELECT key FROM proofs)"
                ).fetchone()[0],
            }

        return self._run(count)

    def export_jsonl(self, out: IO[str] | str | Path) -> int:
        """Write every proof as one JSON object per line (`proof-cache/1`); returns how many."""
        if isinstance(out, (str, Path)):
            with open(out, "w", encoding="utf-8") as handle:
                return self.export_jsonl(handle)
        written = 0
        for entry in self.entries():
            out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
            written += 1
        return written

    @staticmethod
    def read_jsonl(source: IO[str] | str | Path) -> Iterator[CacheEntry]:
        """Parse an export, line by line (blank lines skipped).

        Raises:
            CacheError: a line is not JSON or not a valid record (the message names the line).
        """
        if isinstance(source, (str, Path)):
            with open(source, encoding="utf-8") as handle:
                yield from ProofCache.read_jsonl(handle)
            return
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise CacheError(f"line {number} of the cache export is not JSON: {exc}") from exc
            try:
                yield CacheEntry.from_json(data)
            except CacheError as exc:
                raise CacheError(f"line {number} of the cache export: {exc}") from exc

    def import_entries(
        self, checked: Iterable[tuple[CacheEntry, Verdict]], *, versions: tuple[str, str] | None = None
    ) -> tuple[int, int]:
        """Store each entry whose fresh verdict accepts it; returns (stored, rejected).

        Args:
            checked: (entry, the verdict of re-checking that very entry now) pairs.
            versions: the (Lean version, Mathlib revision) the verdicts were reached with; an accepted entry is
                stored under them, so a proof exported from an older Lean serves lookups made with this one.
        """
        stored = rejected = 0
        for entry, verdict in checked:
            if getattr(verdict, "accepted", None) is True:
                if versions is not None:
                    entry = replace(entry, lean_version=versions[0], mathlib_rev=versions[1])
                self.put_entry(entry, verdict)
                stored += 1
            else:
                rejected += 1
                logger.info("not importing %s: verdict %s", entry.key[:12], getattr(verdict, "name", verdict))
        return stored, rejected

    def drop_rejected(self, checked: Iterable[tuple[CacheEntry, Verdict]]) -> list[tuple[CacheEntry, Verdict]]:
        """Delete each cached entry whose fresh verdict conclusively rejects it; returns those (entry, verdict) pairs.

        A verdict with `conclusive` False (the verifier's Lean timed out or crashed: it never judged the proof)
        deletes nothing: the row stays, see `inconclusive`. A verdict that does not say is taken as conclusive.
        """
        rejected = []
        for entry, verdict in checked:
            if getattr(verdict, "accepted", None) is not True and is_conclusive(verdict):
                rejected.append((entry, verdict))
                self.delete(entry.key)
        return rejected


def is_conclusive(verdict: Verdict) -> bool:
    """Whether a verdict judged the proof (False for a re-check cut short by a timeout or a crash)."""
    return getattr(verdict, "conclusive", True) is not False


def inconclusive(checked: Iterable[tuple[CacheEntry, Verdict]]) -> list[tuple[CacheEntry, Verdict]]:
    """The (entry, verdict) pairs whose re-check said nothing: kept in the cache, reported as "could not re-check"."""
    return [(entry, verdict) for entry, verdict in checked if getattr(verdict, "accepted", None) is not True and not is_conclusive(verdict)]
