"""Run records of a benchmark sweep, in lm-evaluation-harness conventions (DESIGN contract 6).

Layout of one run (`<output-path>/<model-sanitized>/`):

* `samples_<task>_<time>.jsonl` — one line per theorem, appended as each finishes. Keys: `id`, `task`, `name`,
  `doc_id` (position in the task), `statement_sha256` (of header + statement), `header`, `statement`, `status`
  (`proved` / `failed` / `timeout` / `error`), `proof` (tactic list), `verdict`, `stop_reason`, `cached`, `error`,
  `known_wrong`, `seconds` {total, model, lean, search, verify}, `nodes`, `expansions`, `lean_calls`,
  `model_calls`, `replays`, `steps` and `failed_steps` (state before, tactic, state after, outcome, error: for
  training data), `budget_s` and `round` (competition mode), `date`.
* `results_<time>.json` — written when the run starts and rewritten as it goes: `config` (budget, width/samples,
  α, seeds, model, limit, …), `versions` (package, git hash, Lean, Mathlib, REPL, and per task its version and
  dataset commit), `configs` (per task: description, source, known-wrong ids), `results` (per task: pass rate
  with lm-eval's binomial stderr √(p(1−p)/(n−1)), the same without the known-wrong statements, status counts,
  seconds), `n-samples` {original, effective}, `total_evaluation_time_seconds`, `complete`.

`<time>` is the run's start (ISO, `:` replaced by `-`), shared by all its files; a resumed run keeps it.

Appends are atomic: one `write` of a whole line on an `O_APPEND` descriptor, then `fsync`. A process killed at
any point leaves at most one torn last line, which readers ignore and a resuming writer cuts off before it
appends. A theorem is done once its line is complete, so after any kill a resume neither loses nor repeats one.
One process writes a run directory at a time (an advisory lock, released by the kernel even on SIGKILL).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.loaders import Problem
from benchmarks.pass_at_k import whole_proof_metrics
from prover.errors import UsageError
from prover.results import ProofResult, ProofStatus, Versions

__all__ = [
    "RunRecords",
    "TaskEntry",
    "append_jsonl",
    "binomial_stderr",
    "cut_torn_tail",
    "latest_per_id",
    "latest_stamp",
    "load_run",
    "now_stamp",
    "read_jsonl",
    "read_samples",
    "sample_record",
    "samples_files",
    "sanitize_model_name",
    "task_metrics",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)

_STAMP = r"\d{4}-\d{2}-\d{2}T[0-9.\-]+"
_SAMPLES = re.compile(rf"^samples_(?P<task>.+)_(?P<stamp>{_STAMP})\.jsonl$")
_RESULTS = re.compile(rf"^results_(?P<stamp>{_STAMP})\.json$")
_LOCK = ".lock"

# Config keys that may change when a run is resumed (they select work, they do not shape a search).
# `repl_command` is where Lean lives on this machine; the versions block, checked on its own, says which Lean it is.
RESUMABLE_KEYS = frozenset({"limit", "tasks", "workers", "resume", "output_path", "log_samples", "repl_command"})

# Versions a run's records must share: a proof checked with one Lean or Mathlib says nothing about another.
PINNED_VERSIONS = ("lean", "mathlib", "repl")


def sanitize_model_name(model: str) -> str:
    """lm-eval's folder name for a model: path separators and other awkward characters become `__`."""
    cleaned = re.sub(r"[\"<>:/|\\?*\[\]\s]+", "__", model.strip())
    return cleaned.strip("_.") or "model"


def now_stamp() -> str:
    """lm-eval's file time stamp: local ISO time with `:` replaced by `-` (sortable, valid in file names)."""
    return _dt.datetime.now().isoformat(timespec="microseconds").replace(":", "-")


# --- atomic JSONL ------------------------------------------------------------------------------------------------


def append_jsonl(path: Path, obj: Mapping[str, Any], *, fsync: bool = True) -> None:
    """Append one JSON object as one line, atomically: a single `write` on an `O_APPEND` descriptor.

    A reader sees either the whole line or (after a kill mid-write) a torn last line without its newline.
    """
    data = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:  # a regular-file write is whole unless the disk fills or a signal interrupts it
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a JSONL file as objects; a torn last line (no newline) is ignored.

    A complete line that is not a JSON object is skipped with a warning (it can only come from outside edits).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    if lines[-1]:
        logger.info("%s: ignoring a torn last line (%d bytes)", path, len(lines[-1]))
    out = []
    for lineno, line in enumerate(lines[:-1], 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = None
        if not isinstance(obj, dict):
            logger.warning("%s:%d: not a JSON object, skipped", path, lineno)
            continue
        out.append(obj)
    return out


def read_samples(path: Path) -> list[dict[str, Any]]:
    """A samples file's well-formed lines (see `read_jsonl` and `well_formed_samples`), every line of an id kept."""
    return well_formed_samples(read_jsonl(path), path)


def well_formed_samples(samples: Iterable[Mapping[str, Any]], where: Path | str) -> list[dict[str, Any]]:
    """The sample lines whose fields have the types readers rely on; each other line is skipped with a warning.

    Sample files are edited, merged and truncated by hand; one bad line must not stop a report, a resume or datagen.
    """
    out = []
    for sample in samples:
        problem = _sample_problem(sample)
        if problem is None:
            out.append(dict(sample))
        else:
            logger.warning("%s: a sample line (id %r) is malformed (%s), skipped", where, sample.get("id"), problem)
    return out


_SAMPLE_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str, int),
    "status": (str,),
    "statement_sha256": (str,),
    "proof": (list,),
    "seconds": (dict,),
    "steps": (list,),
    "failed_steps": (list,),
    "statement": (str,),
    "header": (str,),
    "known_wrong": (bool,),
}


def _sample_problem(sample: Mapping[str, Any]) -> str | None:
    if "id" not in sample:
        return "no id"
    for key, types in _SAMPLE_TYPES.items():
        value = sample.get(key)
        if value is not None and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
            return f"{key} is a {type(value).__name__}"
    if not all(isinstance(t, str) for t in sample.get("proof") or []):
        return "proof holds a non-string"
    for key in ("steps", "failed_steps"):
        steps = sample.get(key) or []
        if not all(isinstance(step, dict) and all(isinstance(v, str) for v in step.values()) for step in steps):
            return f"{key} holds something other than objects of strings"
    seconds = sample.get("seconds") or {}
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seconds.values()):
        return "seconds holds a non-number"
    return None


def cut_torn_tail(path: Path) -> int:
    """Truncate a torn last line (bytes after the last newline) so the next append starts a fresh line.

    Returns the number of bytes removed. Only the run's single writer may call it.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    with path.open("rb+") as f:
        keep, end = 0, size
        while end > 0:  # scan back for the last newline, 64 KiB at a time
            start = max(0, end - 65536)
            f.seek(start)
            nl = f.read(end - start).rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            end = start
        if keep < size:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
            logger.warning("%s: cut a torn last line (%d bytes) left by an interrupted run", path, size - keep)
    return size - keep


def latest_per_id(samples: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One sample per id, the last line of an id winning (a retry replaces an `error` line), in first-seen order."""
    latest: dict[str, dict[str, Any]] = {}
    for s in samples:
        if "id" in s:
            latest[str(s["id"])] = dict(s)
    return list(latest.values())


def _read_results(path: Path) -> dict[str, Any]:
    """A run's results object ({} when the file is missing); a file that is not a JSON object is bad input."""
    if not path.is_file():
        return {}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not JSON ({exc.reason})") from None
    if not isinstance(results, dict):
        raise UsageError(f"{path}: not a JSON object")
    return results


def write_json_atomic(path: Path, obj: Mapping[str, Any], *, indent: int | None = 2) -> None:
    """Write a JSON file so that a reader (or a kill) sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=indent, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a full disk: leave no half-written temporary behind
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- one sample line ---------------------------------------------------------------------------------------------


def sample_record(
    problem: Problem,
    result: ProofResult,
    *,
    doc_id: int | None = None,
    include_steps: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The samples-file line for one theorem's outcome (keys in the module docstring)."""
    stats = result.stats
    record: dict[str, Any] = {
        "id": problem.id,
        "task": problem.task,
        "name": problem.name,
        "doc_id": doc_id,
        "statement_sha256": problem.sha256,
        "status": result.status.value,
        "proof": list(result.proof),
        "verdict": result.verdict,
        "stop_reason": result.stop_reason,
        "cached": result.cached,
        "error": result.error or None,
        "known_wrong": problem.known_wrong,
        "seconds": {
            "total": round(stats.seconds_total, 4),
            "model": round(stats.seconds_model, 4),
            "lean": round(stats.seconds_lean, 4),
            "search": round(stats.seconds_search, 4),
            "verify": round(stats.seconds_verify, 4),
        },
        "nodes": stats.nodes,
        "expansions": stats.expansions,
        "lean_calls": stats.lean_calls,
        "model_calls": stats.model_calls,
        "replays": stats.replays,
        "header": problem.header,
        "statement": problem.statement,
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    if include_steps:
        record["steps"] = [asdict(s) for s in result.steps]
        record["failed_steps"] = [asdict(s) for s in result.failed_steps]
    if result.samples or result.route:  # the hybrid routes (issue 11): every whole-proof sample's outcome
        record["route"] = result.route or None
        record["policies"] = result.policies
        keep = None if include_steps else {"index", "round", "parent", "outcome", "reason", "tokens", "truncated"}
        record["whole_samples"] = [dict(x) if keep is None else {k: v for k, v in x.items() if k in keep} for x in result.samples]
    if extra:
        record.update(extra)
    return record


# --- metrics -----------------------------------------------------------------------------------------------------


def binomial_stderr(successes: int, n: int) -> float | None:
    """lm-eval's stderr of a mean of 0/1 outcomes: √(p(1−p)/(n−1)); None when n < 2."""
    if n < 2:
        return None
    p = successes / n
    return math.sqrt(p * (1 - p) / (n - 1))


def task_metrics(samples: Sequence[Mapping[str, Any]], known_wrong: Iterable[str] = ()) -> dict[str, Any]:
    """Pass rate (± stderr), the same without known-wrong statements, status counts and seconds of one task."""
    wrong = set(known_wrong)
    n = len(samples)
    solved = sum(s.get("status") == ProofStatus.PROVED.value for s in samples)
    kept = [s for s in samples if s.get("id") not in wrong and not s.get("known_wrong")]
    kept_solved = sum(s.get("status") == ProofStatus.PROVED.value for s in kept)
    seconds = [float((s.get("seconds") or {}).get("total", 0.0)) for s in samples]
    return {
        "pass_rate": solved / n if n else None,
        "pass_rate_stderr": binomial_stderr(solved, n),
        "solved": solved,
        "n": n,
        "pass_rate_excl_known_wrong": kept_solved / len(kept) if kept else None,
        "pass_rate_excl_known_wrong_stderr": binomial_stderr(kept_solved, len(kept)),
        "solved_excl_known_wrong": kept_solved,
        "n_excl_known_wrong": len(kept),
        "statuses": dict(Counter(str(s.get("status")) for s in samples)),
        "mean_seconds": sum(seconds) / n if n else None,
        "total_seconds": sum(seconds),
    }


def dataset_sha256(problems: Iterable[Problem]) -> str:
    """A hash of the exact statements a task ran on (ids and statement hashes, in order)."""
    h = hashlib.sha256()
    for p in problems:
        h.update(f"{p.id}\t{p.sha256}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class TaskEntry:
    """What the results file says about one task of the run (filled from the Task and its selected problems)."""

    name: str
    version: str
    description: str = ""
    dataset: str = ""
    dataset_commit: str = ""
    dataset_sha256: str = ""
    known_wrong: tuple[str, ...] = ()
    original: int = 0
    effective: int = 0

    @classmethod
    def of(cls, task: Any, problems: Sequence[Problem]) -> TaskEntry:
        """From a `benchmarks.tasks.Task` and the problems selected for the run (after `--limit`)."""
        return cls(
            name=task.name,
            version=task.version,
            description=task.description,
            dataset=task.source.repo,
            dataset_commit=task.source.commit,
            dataset_sha256=dataset_sha256(problems),
            known_wrong=tuple(sorted(task.known_wrong)),
            original=task.size,
            effective=len(problems),
        )


# --- the run -----------------------------------------------------------------------------------------------------


class RunRecords:
    """The files of one run; the single writer of its run directory.

    Use `RunRecords.create` for a new run and `RunRecords.resume` to continue one; close it (or use `with`).

    Examples:
        >>> with RunRecords.create("runs", "portfolio", config={"budget_s": 600}) as records:  # doctest: +SKIP
        ...     records.register_task(TaskEntry.of(task, problems))
        ...     records.append(problem, result)
        ...     records.write_results()
    """

    def __init__(
        self,
        run_dir: Path,
        stamp: str,
        *,
        config: Mapping[str, Any] | None = None,
        versions: Versions | Mapping[str, Any] | None = None,
        fsync: bool = True,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.stamp = stamp
        self.config: dict[str, Any] = dict(config or {})
        self.versions: dict[str, Any] = dict(versions.as_dict() if isinstance(versions, Versions) else versions or {})
        self.fsync = fsync
        self.tasks: dict[str, TaskEntry] = {}
        self.previous_seconds = 0.0  # evaluation seconds of earlier sessions of this run
        self._opened = time.monotonic()
        self._done: dict[str, dict[str, str]] = {}  # task -> id -> status of its last line
        self._hashes: dict[str, dict[str, str]] = {}  # task -> id -> statement_sha256 of its last line
        self._selected: dict[str, dict[str, str]] = {}  # task -> id -> statement_sha256 of the problems run now
        self._repaired: set[str] = set()
        self._lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._lock_fd: int | None = None

    # -- opening --

    @classmethod
    def create(
        cls,
        output_path: Path | str,
        model: str,
        *,
        config: Mapping[str, Any] | None = None,
        versions: Versions | Mapping[str, Any] | None = None,
        stamp: str | None = None,
        fsync: bool = True,
    ) -> RunRecords:
        """Start a new run in `<output_path>/<sanitized model>/` (created if needed)."""
        run_dir = Path(output_path) / sanitize_model_name(model)
        run_dir.mkdir(parents=True, exist_ok=True)
        records = cls(run_dir, stamp or now_stamp(), config=config, versions=versions, fsync=fsync)
        records._acquire()
        records.write_results()
        return records

    @classmethod
    def resume(
        cls,
        run_dir: Path | str,
        *,
        config: Mapping[str, Any] | None = None,
        versions: Versions | Mapping[str, Any] | None = None,
        fsync: bool = True,
    ) -> RunRecords:
        """Continue the latest run in `run_dir`: same time stamp, same files, its done ids skipped.

        Args:
            run_dir: the run directory (`<output_path>/<model>/`).
            config: this invocation's config; it must agree with the run's except for `RESUMABLE_KEYS`
                (None: keep the run's).
            versions: this invocation's versions (None: keep the run's). A change is logged, not refused.

        Raises:
            UsageError: no run in `run_dir`, or `config` contradicts the run's.
        """
        run_dir = Path(run_dir)
        stamp = latest_stamp(run_dir)
        if stamp is None:
            raise UsageError(f"no run to resume in {run_dir} (no results_*.json or samples_*.jsonl)")
        saved = _read_results(run_dir / f"results_{stamp}.json")
        old_config = saved.get("config") or {}
        if config is not None and old_config:
            # Compare as JSON sees them: a tuple given now is a list in the saved file.
            now = json.loads(json.dumps(dict(config), default=str))
            changed = sorted(
                k for k in set(now) | set(old_config) if k not in RESUMABLE_KEYS and now.get(k) != old_config.get(k)
            )
            if changed:
                diffs = ", ".join(f"{k}: {old_config.get(k)!r} -> {config.get(k)!r}" for k in changed)
                raise UsageError(f"cannot resume {run_dir}: the run used other settings ({diffs}); start a new run")
        new_config = {**old_config, **(config or {})}
        old_versions = {k: v for k, v in (saved.get("versions") or {}).items() if k != "tasks"}
        new_versions = dict(versions.as_dict() if isinstance(versions, Versions) else versions or old_versions)
        pinned = [k for k in PINNED_VERSIONS if old_versions.get(k) and new_versions.get(k) != old_versions.get(k)]
        if pinned:
            diffs = ", ".join(f"{k} {old_versions[k]} -> {new_versions.get(k)}" for k in pinned)
            raise UsageError(f"cannot resume {run_dir}: its records were made with other versions ({diffs}); start a new run")
        if old_versions and new_versions != old_versions:
            logger.warning("resuming %s with other versions: %s -> %s", run_dir, old_versions, new_versions)
        records = cls(run_dir, stamp, config=new_config, versions=new_versions, fsync=fsync)
        records._acquire()
        records.previous_seconds = max(float(saved.get("total_evaluation_time_seconds") or 0.0), records._checkpointed())
        for name, entry in (saved.get("configs") or {}).items():
            n = (saved.get("n-samples") or {}).get(name) or {}
            tv = ((saved.get("versions") or {}).get("tasks") or {}).get(name) or {}
            records.tasks[name] = TaskEntry(
                name=name,
                version=str(tv.get("version", entry.get("version", ""))),
                description=entry.get("description", ""),
                dataset=tv.get("dataset", ""),
                dataset_commit=tv.get("dataset_commit", ""),
                dataset_sha256=tv.get("dataset_sha256", ""),
                known_wrong=tuple(entry.get("known_wrong", ())),
                original=int(n.get("original", 0)),
                effective=int(n.get("effective", 0)),
            )
        return records

    @classmethod
    def open(
        cls,
        output_path: Path | str,
        model: str,
        *,
        resume: bool,
        config: Mapping[str, Any] | None = None,
        versions: Versions | Mapping[str, Any] | None = None,
    ) -> RunRecords:
        """`--resume`: continue the latest run of `model` under `output_path` when there is one, else start one."""
        run_dir = Path(output_path) / sanitize_model_name(model)
        if resume and latest_stamp(run_dir) is not None:
            return cls.resume(run_dir, config=config, versions=versions)
        return cls.create(output_path, model, config=config, versions=versions)

    def _acquire(self) -> None:
        fd = os.open(self.run_dir / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"another sweep is writing to {self.run_dir}; wait for it or use another --output-path"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the run directory (also released by the kernel when the process dies)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> RunRecords:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files --

    def samples_path(self, task: str) -> Path:
        return self.run_dir / f"samples_{task}_{self.stamp}.jsonl"

    @property
    def results_path(self) -> Path:
        return self.run_dir / f"results_{self.stamp}.json"

    def sample_tasks(self) -> list[str]:
        """Tasks that have a samples file in this run, sorted."""
        return sorted({task for task, _, _ in samples_files(self.run_dir, self.stamp)})

    # -- samples --

    def _statuses(self, task: str) -> dict[str, str]:
        done = self._done.get(task)
        if done is None:
            samples = read_samples(self.samples_path(task))
            done = {str(s["id"]): str(s.get("status")) for s in samples}
            self._hashes[task] = {str(s["id"]): str(s.get("statement_sha256") or "") for s in samples}
            self._done[task] = done
        return done

    def statuses(self, task: str) -> dict[str, str]:
        """`{id: status}` of the task's recorded theorems (the last line of an id wins), kept in memory."""
        with self._lock:
            return dict(self._statuses(task))

    def done_ids(self, task: str, *, retry_errors: bool = False, current: Mapping[str, str] | None = None) -> set[str]:
        """Ids with a complete line in the task's samples file (those whose last line is `error` are left out
        when `retry_errors`; with `current`, {id: statement hash} of the problems as loaded now, those recorded
        for another statement are left out: they are proved again)."""
        with self._lock:
            statuses = self._statuses(task)
            hashes = self._hashes[task]
            return {
                i
                for i, s in statuses.items()
                if not (retry_errors and s == ProofStatus.ERROR.value)
                and (current is None or i not in current or hashes.get(i) == current[i])
            }

    def write_sample(self, task: str, record: Mapping[str, Any]) -> bool:
        """Append one sample line. A second line for an id is written only over an `error` line (a retry) or
        over a line made for another statement (the problem changed since).

        Returns:
            False (and writes nothing) when the id is already recorded.
        """
        pid = str(record["id"])
        path = self.samples_path(task)
        with self._lock:
            statuses = self._statuses(task)
            same_statement = self._hashes[task].get(pid) == str(record.get("statement_sha256") or "")
            if statuses.get(pid, ProofStatus.ERROR.value) != ProofStatus.ERROR.value and same_statement:
                logger.warning("%s/%s is already recorded; not writing it twice", task, pid)
                return False
            if task not in self._repaired:
                existed = path.exists()
                cut_torn_tail(path)
                self._repaired.add(task)
                if not existed:
                    path.touch()
                    _fsync_dir(self.run_dir)
            append_jsonl(path, record, fsync=self.fsync)
            statuses[pid] = str(record.get("status"))
            self._hashes[task][pid] = str(record.get("statement_sha256") or "")
            return True

    def append(self, problem: Problem, result: ProofResult, **kwargs: Any) -> bool:
        """Record one theorem's outcome (`sample_record` arguments pass through)."""
        return self.write_sample(problem.task, sample_record(problem, result, **kwargs))

    def samples(self, task: str) -> list[dict[str, Any]]:
        """The task's sample lines, one per id (the last line of an id wins: a retry replaces an error).

        Once the problems run now are registered, only the lines of those problems, made for the statement as it
        is now, count: a line of a problem left out or changed since says nothing about this run.
        """
        samples = latest_per_id(read_samples(self.samples_path(task)))
        selected = self._selected.get(task)
        if selected is None:
            return samples
        return [s for s in samples if selected.get(str(s["id"])) == s.get("statement_sha256")]

    # -- results --

    def register_task(self, entry: TaskEntry) -> None:
        """Note a task of this run (its version, dataset and counts go into the results file)."""
        self.tasks[entry.name] = entry

    def register_problems(self, problems: Sequence[Problem]) -> None:
        """Register the tasks of `problems` not registered yet, from the task registry (a name the registry does
        not know gets a bare entry: no version, no dataset)."""
        from benchmarks.tasks import get_task  # the registry sits above the records

        by_task: dict[str, list[Problem]] = {}
        for p in problems:
            by_task.setdefault(p.task, []).append(p)
        for name, selected in by_task.items():
            self._selected[name] = {p.id: p.sha256 for p in selected}
            before = self.tasks.get(name)
            if before is not None and before.dataset_sha256 not in ("", dataset_sha256(selected)):
                logger.warning("%s: the statements differ from the ones this run started with", name)
            try:
                self.register_task(TaskEntry.of(get_task(name), selected))
            except UsageError:
                self.register_task(
                    TaskEntry(
                        name=name,
                        version="",
                        dataset_sha256=dataset_sha256(selected),
                        original=len(selected),
                        effective=len(selected),
                    )
                )

    @property
    def seconds(self) -> float:
        """Evaluation seconds of the run: earlier sessions plus this one so far."""
        return self.previous_seconds + time.monotonic() - self._opened

    def results(self) -> dict[str, Any]:
        """The results object from the samples files as they are now; `complete` when every registered task
        has a line for each of its selected problems."""
        names = sorted(set(self.tasks) | set(self.sample_tasks()))
        complete = bool(self.tasks)
        results: dict[str, Any] = {}
        n_samples: dict[str, Any] = {}
        configs: dict[str, Any] = {}
        task_versions: dict[str, Any] = {}
        for name in names:
            entry = self.tasks.get(name) or TaskEntry(name=name, version="")
            samples = self.samples(name)
            complete = complete and len(samples) >= entry.effective
            results[name] = {"alias": name, **task_metrics(samples, entry.known_wrong)}
            whole = whole_proof_metrics(samples)
            if whole["problems_with_samples"]:
                results[name]["whole_proofs"] = whole
            n_samples[name] = {"original": entry.original, "effective": entry.effective or len(samples)}
            configs[name] = {
                "task": name,
                "version": entry.version,
                "description": entry.description,
                "dataset": entry.dataset,
                "dataset_commit": entry.dataset_commit,
                "known_wrong": list(entry.known_wrong),
            }
            task_versions[name] = {
                "version": entry.version,
                "dataset": entry.dataset,
                "dataset_commit": entry.dataset_commit,
                "dataset_sha256": entry.dataset_sha256,
            }
        return {
            "results": results,
            "configs": configs,
            "versions": {**self.versions, "tasks": task_versions},
            "n-samples": n_samples,
            "config": self.config,
            "start_time": self.stamp,
            "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "total_evaluation_time_seconds": round(self.seconds, 3),
            "complete": complete,
        }

    def write_results(self) -> Path:
        """Write `results_<time>.json` atomically from the samples as they are now."""
        write_json_atomic(self.results_path, self.results())
        self.checkpoint()
        return self.results_path

    @property
    def elapsed_path(self) -> Path:
        return self.run_dir / f".elapsed_{self.stamp}.json"

    def checkpoint(self) -> None:
        """Save the run's evaluation seconds so far (atomically), so that a resume after a kill counts them."""
        with self._checkpoint_lock:  # a sweep's ticker thread and `write_results` share the temporary file name
            write_json_atomic(self.elapsed_path, {"total_evaluation_time_seconds": round(self.seconds, 3)}, indent=None)

    def _checkpointed(self) -> float:
        try:
            value = json.loads(self.elapsed_path.read_text(encoding="utf-8"))["total_evaluation_time_seconds"]
            return float(value)
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0


def samples_files(run_dir: Path, stamp: str | None = None) -> list[tuple[str, str, Path]]:
    """(task, stamp, path) of every samples file in `run_dir` (of one run when `stamp` is given), sorted."""
    if not run_dir.is_dir():
        return []
    found = []
    for path in sorted(run_dir.iterdir()):
        m = _SAMPLES.match(path.name)
        if m and (stamp is None or m.group("stamp") == stamp):
            found.append((m.group("task"), m.group("stamp"), path))
    return found


def latest_stamp(run_dir: Path) -> str | None:
    """The time stamp of the newest run in `run_dir` (from its results and samples file names), or None."""
    if not run_dir.is_dir():
        return None
    stamps = [m.group("stamp") for p in run_dir.iterdir() if (m := _SAMPLES.match(p.name) or _RESULTS.match(p.name))]
    return max(stamps) if stamps else None


def load_run(run_dir: Path | str, stamp: str | None = None) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Read a run without writing to it: (results object or {}, samples per task). Default: the newest run.

    Raises:
        UsageError: no run in `run_dir`, or its results file is not JSON.
    """
    run_dir = Path(run_dir)
    stamp = stamp or latest_stamp(run_dir)
    if stamp is None:
        raise UsageError(f"no run in {run_dir} (no results_*.json or samples_*.jsonl)")
    results = _read_results(run_dir / f"results_{stamp}.json")
    samples = {task: latest_per_id(read_samples(path)) for task, _, path in samples_files(run_dir, stamp)}
    return results, samples
