"""`prover datagen`: training data from sweep records.

Reads run directories (`benchmarks.records` layout: `samples_<task>_<time>.jsonl` with `steps` / `failed_steps`,
`results_<time>.json` for versions and config) and, where present, search trees saved as
`<run_dir>/trees/<task>/<id>.json` (`search-tree/1`, `SearchTree.to_json`). Writes four JSONL files:

* `state_tactic.jsonl` — one (state before, tactic, state after) step of a proved path per line, in the
  LeanDojo-benchmark spirit: `theorem`, `state_before`, `tactic`, `state_after` (+ `task`, `id`, `origin`);
* `proofs.jsonl` — whole proofs, DeepSeek-Prover style: `header`, `formal_statement` (ending `:= by`), `proof`
  (the indented tactic block), `full_text` (what the verifier checked);
* `annotated.jsonl` — the same proofs with each tactic followed by the goals after it as a comment;
* `negatives.jsonl` — tactics Lean rejected (or gave up on), with Lean's message: `label` is `"negative"`;
* `repairs.jsonl` — compiler-feedback repair triples from whole-proof samples (sweeps run with `--proof-model` and
  `--log-samples`): `failed_proof`, `errors` (Lean's messages on it), `repaired_proof` (a repair Lean accepted).

Every record carries `versions` (package, git hash, Lean, Mathlib, REPL, dataset and its commit, task version) and
`run` (the run directory, its start time, the model), all strings, so `datasets.load_dataset("json",
data_files=...)` reads each file with one schema. Records are deduplicated across all inputs: steps and negatives
by (normalised state, tactic), proofs by (statement hash, proof).

Examples:
    >>> summary = export_training_data(["runs/portfolio"], "data/")  # doctest: +SKIP
    >>> summary.counts["state_tactic"]  # doctest: +SKIP
    1520
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.records import latest_per_id, read_samples, samples_files
from prover.errors import UsageError
from prover.lean.statement import Statement

__all__ = ["DatagenSummary", "KINDS", "annotate", "export_training_data", "find_runs"]

logger = logging.getLogger(__name__)

KINDS = ("state_tactic", "proofs", "annotated", "negatives", "repairs")
_VERSION_KEYS = ("prover", "git_hash", "lean", "mathlib", "repl")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class DatagenSummary:
    """What an export wrote: the files, records per kind, duplicates dropped, and the runs read."""

    files: dict[str, Path]
    counts: dict[str, int]
    duplicates: dict[str, int]
    runs: list[Path] = field(default_factory=list)


def annotate(steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """The proof's lines: each tactic, then the goals after it as a block comment (`/- no goals -/` at the end).

    Examples:
        >>> annotate([{"tactic": "intro x", "state_after": "x : ℕ\\n⊢ x = x"}, {"tactic": "rfl", "state_after": ""}])
        ['intro x', '/- x : ℕ\\n⊢ x = x -/', 'rfl', '/- no goals -/']
    """
    lines: list[str] = []
    for step in steps:
        lines.append(str(step["tactic"]))
        after = str(step.get("state_after") or "no goals")
        lines.append("/- " + defuse_comment(after) + " -/")
    return lines


def defuse_comment(text: str) -> str:
    """`text` made safe inside `/- … -/`: Lean's block comments nest, so `/-` would open one and `-/` close one."""
    return text.replace("-/", "- /").replace("/-", "/ -")


def _with_proof(statement: str, lines: Sequence[str]) -> str:
    # The verifier's own rendering (one tactic per line, indented two spaces).
    return Statement(original=statement, head=statement, name="").with_proof(lines)


def find_runs(paths: Iterable[Path | str]) -> list[Path]:
    """The run directories under `paths`: each path is a run directory or a folder holding some (searched
    recursively). Raises UsageError when a path does not exist or holds no run."""
    runs: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"no such run directory: {path}")
        found = sorted(d for d in {p.parent for p in path.rglob("samples_*.jsonl")} if samples_files(d))
        if not found:
            raise UsageError(f"no run records (samples_*.jsonl) under {path}")
        runs.extend(r for r in found if r not in runs)
    return runs


def _results_of(run_dir: Path, stamp: str) -> dict[str, Any]:
    path = run_dir / f"results_{stamp}.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        logger.warning("%s is not JSON; its versions are left empty", path)
        return {}


def _provenance(
    run_dir: Path, stamp: str, task: str, results: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    versions = results.get("versions") or {}
    task_info = (versions.get("tasks") or {}).get(task) or {}
    flat = {k: str(versions.get(k) or "") for k in _VERSION_KEYS}
    flat.update(
        dataset=str(task_info.get("dataset") or ""),
        dataset_commit=str(task_info.get("dataset_commit") or ""),
        task_version=str(task_info.get("version") or ""),
    )
    config = results.get("config") or {}
    run = {"run_dir": str(run_dir), "start_time": stamp, "model": str(config.get("model") or run_dir.name)}
    return flat, run


def _key(state: str, tactic: str) -> tuple[str, str]:
    return _WS.sub(" ", state).strip(), tactic.strip()


def _tree_records(tree_path: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(steps of proved paths, failed steps) of a saved `search-tree/1` graph; ([], []) when unreadable."""
    try:
        data = json.loads(tree_path.read_text(encoding="utf-8"))
        nodes = {int(n["id"]): n for n in data["nodes"]}
        edges = data["edges"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("%s: not a readable search-tree/1 graph (%s)", tree_path, exc)
        return [], []

    def text(node_id: int | None) -> str:
        return "\n\n".join(nodes[node_id]["goals"]) if node_id is not None and node_id in nodes else ""

    proved, failed = [], []
    for e in edges:
        src, dst, outcome = int(e["src"]), e.get("dst"), e.get("outcome")
        before = text(src)
        # Every PROVED node has a complete proof below it: its proving edge ends the proof or reaches a PROVED node.
        if nodes.get(src, {}).get("status") == "proved" and (
            outcome == "proved"
            or (outcome == "state" and dst is not None and nodes.get(int(dst), {}).get("status") == "proved")
        ):
            proved.append(
                {
                    "state_before": before,
                    "tactic": e["tactic"],
                    "state_after": text(dst) if outcome == "state" else "no goals",
                }
            )
        elif outcome in ("error", "given_up"):
            failed.append(
                {
                    "state_before": before,
                    "tactic": e["tactic"],
                    "error": str(e.get("error") or ""),
                    "outcome": str(outcome),
                }
            )
    return proved, failed


class _Writer:
    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.files = {kind: out_dir / f"{kind}.jsonl" for kind in KINDS}
        self._tmp = {kind: path.with_name(f".{path.name}.tmp-{os.getpid()}") for kind, path in self.files.items()}
        self._handles = {kind: self._tmp[kind].open("w", encoding="utf-8") for kind in KINDS}
        self.seen: dict[str, set[Any]] = {kind: set() for kind in KINDS}
        self.counts = dict.fromkeys(KINDS, 0)
        self.duplicates = dict.fromkeys(KINDS, 0)

    def add(self, kind: str, key: Any, record: Mapping[str, Any]) -> None:
        if key in self.seen[kind]:
            self.duplicates[kind] += 1
            return
        self.seen[kind].add(key)
        self._handles[kind].write(json.dumps(record, ensure_ascii=False) + "\n")
        self.counts[kind] += 1

    def commit(self) -> None:
        for kind in KINDS:
            self._handles[kind].close()
            os.replace(self._tmp[kind], self.files[kind])

    def abort(self) -> None:
        for kind in KINDS:
            self._handles[kind].close()
            self._tmp[kind].unlink(missing_ok=True)


def _samples(run_dir: Path) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """(task, stamp, samples) for every samples file of the run directory (each stamp is one run)."""
    for task, stamp, path in samples_files(run_dir):
        yield task, stamp, latest_per_id(read_samples(path))


def export_training_data(
    runs: Iterable[Path | str],
    out_dir: Path | str,
    *,
    include_trees: bool = True,
    include_known_wrong: bool = False,
) -> DatagenSummary:
    """Write the four training-data files from the run records under `runs`.

    Args:
        runs: run directories, or folders holding them.
        out_dir: where `state_tactic.jsonl`, `proofs.jsonl`, `annotated.jsonl` and `negatives.jsonl` go (replaced
            atomically when the export finishes).
        include_trees: also read `trees/<task>/<id>.json` search trees (all proved sub-paths, all rejected tactics).
        include_known_wrong: keep proofs of statements known to be mis-formalised (by default they are left out:
            a proof of a vacuous statement teaches nothing good).

    Returns:
        A DatagenSummary.

    Raises:
        UsageError: a path is missing or holds no run records.
    """
    run_dirs = find_runs(runs)
    writer = _Writer(Path(out_dir))
    try:
        for run_dir in run_dirs:
            results_by_stamp: dict[str, dict[str, Any]] = {}
            for task, stamp, samples in _samples(run_dir):
                results = results_by_stamp.setdefault(stamp, _results_of(run_dir, stamp))
                versions, run = _provenance(run_dir, stamp, task, results)
                for s in samples:
                    if s.get("known_wrong") and not include_known_wrong:
                        continue
                    _export_sample(writer, run_dir, task, s, versions, run, include_trees)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return DatagenSummary(files=writer.files, counts=writer.counts, duplicates=writer.duplicates, runs=run_dirs)


def _export_sample(
    writer: _Writer,
    run_dir: Path,
    task: str,
    s: Mapping[str, Any],
    versions: dict[str, str],
    run: dict[str, str],
    include_trees: bool,
) -> None:
    pid, name = str(s.get("id")), str(s.get("name") or s.get("id"))
    common = {"theorem": name, "task": task, "id": pid}
    meta = {"versions": versions, "run": run}
    steps = [dict(x) for x in s.get("steps") or []]
    failed = [dict(x) for x in s.get("failed_steps") or []]
    tree_steps: list[dict[str, str]] = []
    if include_trees:
        tree = run_dir / "trees" / task / f"{pid}.json"
        if tree.is_file():
            tree_steps, tree_failed = _tree_records(tree)
            failed += tree_failed
    proved = s.get("status") == "proved" and s.get("proof")
    for origin, items in (("proof", steps if proved else []), ("tree", tree_steps)):
        for step in items:
            before, tactic = str(step.get("state_before", "")), str(step.get("tactic", ""))
            record = {
                **common,
                "state_before": before,
                "tactic": tactic,
                "state_after": str(step.get("state_after") or ""),
                "origin": origin,
                **meta,
            }
            writer.add("state_tactic", _key(before, tactic), record)
    for step in failed:
        before, tactic = str(step.get("state_before", "")), str(step.get("tactic", ""))
        record = {
            **common,
            "state_before": before,
            "tactic": tactic,
            "error": str(step.get("error") or ""),
            "outcome": str(step.get("outcome") or "LeanError"),
            "label": "negative",
            **meta,
        }
        writer.add("negatives", _key(before, tactic), record)
    _export_repairs(writer, s, {**common, **meta})
    if not proved:
        return
    header, statement = str(s.get("header") or ""), str(s.get("statement") or "")
    tactics = [str(t) for t in s["proof"]]
    key = (str(s.get("statement_sha256") or header + statement), tuple(tactics))
    full = _with_proof(statement, tactics)
    writer.add(
        "proofs",
        key,
        {
            **common,
            "header": header,
            "formal_statement": f"{statement} by\n",
            "proof": full[len(statement) + len(" by\n") :],
            "full_text": header + full + "\n",
            "statement_sha256": str(s.get("statement_sha256") or ""),
            **meta,
        },
    )
    # Annotations need the state after every tactic: only when the recorded steps are the proof itself.
    if [str(x.get("tactic")) for x in steps] == tactics:
        annotated = _with_proof(statement, annotate(steps))
        writer.add(
            "annotated",
            key,
            {
                **common,
                "header": header,
                "formal_statement": f"{statement} by\n",
                "annotated_proof": annotated[len(statement) + len(" by\n") :],
                "full_text": header + annotated + "\n",
                **meta,
            },
        )


def _export_repairs(writer: _Writer, s: Mapping[str, Any], common: Mapping[str, Any]) -> None:
    """(failed proof, Lean's errors, repaired proof) for every repair Lean accepted whose parent failed."""
    records = [dict(x) for x in s.get("whole_samples") or []]
    by_index = {r.get("index"): r for r in records}
    header, statement = str(s.get("header") or ""), str(s.get("statement") or "")
    for r in records:
        parent = by_index.get(r.get("parent"))
        if r.get("outcome") != "passed" or parent is None or parent.get("outcome") != "failed":
            continue
        failed, repaired = parent.get("body"), r.get("body")
        if not failed or not repaired:  # sweeps without --log-samples keep outcomes only
            continue
        writer.add("repairs", (str(s.get("statement_sha256") or statement), failed, repaired), {
            **common,
            "header": header,
            "formal_statement": statement,
            "failed_proof": failed,
            "errors": [str(e) for e in parent.get("errors") or []],
            "repaired_proof": repaired,
            "round": int(r.get("round") or 0),
        })
