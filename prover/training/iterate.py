"""`prover iterate`: expert iteration — rounds of sweep → datagen → filter → train, each round's model proving the next.

Layout of RUN_DIR (every round keeps everything it made):

    iterate.json                  the settings the loop was started with (a resume must match them)
    round_K/records/<model>/      the sweep of the pool with the current model (lm-eval records, --log-samples)
    round_K/scores.json           its pass rate
    round_K/data_all/             `prover datagen` of every round's records so far (+ --seed-runs)
    round_K/data/                 the filtered training data
    round_K/model/                the trained model (the next round's --model)
    round_K/done/<step>.json      written atomically when the step has finished: a resumed loop skips it
    final/records/, final/scores.json   the sweep of the last model
    summary.md, summary.json      pass rates per round

Filters (field-2026.md §4): problems the current model already proves cheaply (within `--easy-expansions`
expansions) give no data, as BFS-Prover drops problems its beam search solves; steps are deduplicated by
(normalised state, tactic); with `--ppl-band LO,HI` steps whose completion perplexity under the current model falls
outside the band are dropped (BFS-Prover-V2's tactic-level perplexity filter, both tails).

A step whose marker is missing is redone from scratch (a sweep resumes its own records instead), so a kill at any
point loses at most the step in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.records import latest_per_id, read_jsonl, samples_files, write_json_atomic
from prover.bench import BenchSettings, run_bench
from prover.datagen import KINDS, export_training_data
from prover.errors import UsageError
from prover.training.examples import normalise_state, read_records
from prover.training.trainer import TrainSettings, is_trained_dir, train

logger = logging.getLogger(__name__)

STEPS = ("sweep", "datagen", "filter", "train")


@dataclass(frozen=True)
class IterateSettings:
    """One `prover iterate` loop.

    `bench` is the sweep template (tasks, budgets, Lean, model options); its model is replaced every round.
    `train` is the training template; its base, data and output are replaced every round.
    """

    run_dir: Path
    base: str
    rounds: int
    bench: BenchSettings
    train: TrainSettings
    seed_runs: tuple[Path, ...] = ()
    easy_expansions: int | None = 1
    ppl_band: tuple[float, float] | None = None
    final_eval: bool = True
    versions: Mapping[str, Any] | None = None

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed loop must share with the first start."""
        return {
            "base": self.base,
            "tasks": list(self.bench.tasks),
            "limit": self.bench.limit,
            "method": self.train.method,
            "seed_runs": [str(p) for p in self.seed_runs],
        }


@dataclass(frozen=True)
class RoundRow:
    """One line of the summary table."""

    round: str
    model: str
    solved: int
    total: int
    examples: int | None
    loss: str


StepHook = Callable[[str, str], None]


class Loop:
    """Runs (or resumes) the rounds of one RUN_DIR."""

    def __init__(self, settings: IterateSettings, on_step: StepHook | None = None) -> None:
        self.s = settings
        self.on_step = on_step

    # ---- markers -------------------------------------------------------------------------------------------

    def _marker(self, round_dir: Path, step: str) -> Path:
        return round_dir / "done" / f"{step}.json"

    def _done(self, round_dir: Path, step: str) -> dict[str, Any] | None:
        path = self._marker(round_dir, step)
        if not path.is_file():
            return None
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _mark(self, round_dir: Path, step: str, info: Mapping[str, Any]) -> dict[str, Any]:
        write_json_atomic(self._marker(round_dir, step), dict(info))
        if self.on_step is not None:
            self.on_step(round_dir.name, step)
        return dict(info)

    # ---- the loop ------------------------------------------------------------------------------------------

    def run(self) -> list[RoundRow]:
        """All rounds, then the final sweep; returns the summary rows (also written to summary.md/json)."""
        self._check_run_dir()
        model = self.s.base
        rows: list[RoundRow] = []
        for k in range(1, self.s.rounds + 1):
            round_dir = self.s.run_dir / f"round_{k}"
            score = self._step(round_dir, "sweep", lambda rd=round_dir, m=model: self._sweep(rd, m))
            self._step(round_dir, "datagen", lambda rd=round_dir, kk=k: self._datagen(rd, kk))
            kept = self._step(round_dir, "filter", lambda rd=round_dir, m=model: self._filter(rd, m))
            trained = self._step(round_dir, "train", lambda rd=round_dir, m=model: self._train(rd, m))
            rows.append(
                RoundRow(round_dir.name, _label(model), score["solved"], score["total"], kept.get("state_tactic"),
                         trained.get("loss", "-"))
            )
            model = trained.get("model") or model
        if self.s.final_eval:
            final = self.s.run_dir / "final"
            score = self._step(final, "sweep", lambda: self._sweep(final, model))
            rows.append(RoundRow("final", _label(model), score["solved"], score["total"], None, "-"))
        self._write_summary(rows)
        return rows

    def _step(self, round_dir: Path, step: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        done = self._done(round_dir, step)
        if done is not None:
            logger.info("iterate: %s %s already done", round_dir.name, step)
            return done
        logger.info("iterate: %s %s", round_dir.name, step)
        return self._mark(round_dir, step, work())

    def _check_run_dir(self) -> None:
        path = self.s.run_dir / "iterate.json"
        mine = self.s.fingerprint()
        if path.is_file():
            theirs = json.loads(path.read_text(encoding="utf-8"))
            if theirs != mine:
                diff = sorted(k for k in mine if theirs.get(k) != mine[k])
                raise UsageError(
                    f"{self.s.run_dir} holds another iteration (different {', '.join(diff)}); pick another --run-dir"
                )
            return
        write_json_atomic(path, mine)

    # ---- steps ---------------------------------------------------------------------------------------------

    def _sweep(self, round_dir: Path, model: str) -> dict[str, Any]:
        records = round_dir / "records"
        agent = self.s.bench.agent
        settings = replace(
            self.s.bench,
            agent=replace(agent, model=replace(agent.model, model=model)),
            output_path=records,
            resume=records.is_dir() and any(records.rglob("samples_*.jsonl")),
            log_samples=True,
        )
        asyncio.run(run_bench(settings, versions=dict(self.s.versions or {})))
        samples = _samples_under(records)
        solved = sum(1 for s in samples if s.get("status") == "proved")
        score = {"model": model, "solved": solved, "total": len(samples),
                 "pass_rate": solved / len(samples) if samples else 0.0}
        write_json_atomic(round_dir / "scores.json", score)
        return score

    def _datagen(self, round_dir: Path, k: int) -> dict[str, Any]:
        runs = [self.s.run_dir / f"round_{i}" / "records" for i in range(1, k + 1)]
        runs = [r for r in runs if r.is_dir()] + list(self.s.seed_runs)
        summary = export_training_data(runs, round_dir / "data_all")
        return dict(summary.counts)

    def _filter(self, round_dir: Path, model: str) -> dict[str, Any]:
        easy = _easy_problems(_samples_under(round_dir / "records"), self.s.easy_expansions)
        src, out = round_dir / "data_all", round_dir / "data"
        tmp = out.with_name(".data.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        counts: dict[str, Any] = {"easy_problems": len(easy)}
        for kind in KINDS:
            records = [r for r in read_records(src, kind) if (str(r.get("task")), str(r.get("id"))) not in easy]
            if kind in ("state_tactic", "negatives"):
                seen: set[tuple[str, str]] = set()
                unique = []
                for r in records:
                    key = (normalise_state(str(r.get("state_before", ""))), str(r.get("tactic", "")).strip())
                    if key not in seen:
                        seen.add(key)
                        unique.append(r)
                records = unique
            if kind == "state_tactic" and self.s.ppl_band is not None and records:
                records = self._perplexity_band(records, model, counts)
            _write_jsonl(tmp / f"{kind}.jsonl", records)
            counts[kind] = len(records)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        return counts

    def _perplexity_band(self, records: list[dict[str, Any]], model: str, counts: dict[str, Any]) -> list[dict[str, Any]]:
        from prover.training.examples import sft_examples
        from prover.training.trainer import choose_format, completion_perplexities, load_base

        lo, hi = self.s.ppl_band or (0.0, float("inf"))
        lm, tokenizer, path = load_base(model, self.s.train.allow_download)
        fmt = choose_format(replace(self.s.train, base=model), path, tokenizer)
        scratch = self.s.run_dir / ".ppl"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        _write_jsonl(scratch / "state_tactic.jsonl", records)
        examples = sft_examples(scratch, fmt)  # the same rendering training uses, one example per record
        shutil.rmtree(scratch, ignore_errors=True)
        ppl = completion_perplexities(lm, tokenizer, examples)
        kept = [r for r, p in zip(records, ppl) if lo <= p <= hi]
        counts["ppl_dropped"] = len(records) - len(kept)
        return kept

    def _train(self, round_dir: Path, model: str) -> dict[str, Any]:
        out = round_dir / "model"
        if is_trained_dir(out):  # finished before a kill, its marker not yet written
            return _trained_info(out)
        for stale in round_dir.glob(f".{out.name}.tmp-*"):  # the temporary folder of a killed training run
            shutil.rmtree(stale, ignore_errors=True)
        try:
            train(replace(self.s.train, base=model, data=round_dir / "data", output=out, overwrite=True))
        except UsageError as exc:
            if "has no training examples" not in str(exc) and "no preference pairs" not in str(exc):
                raise
            logger.warning("iterate: %s trains nothing (%s); the model stays %s", round_dir.name, exc, model)
            return {"model": model, "loss": "-", "skipped": str(exc)}
        return _trained_info(out)

    def _write_summary(self, rows: list[RoundRow]) -> None:
        write_json_atomic(self.s.run_dir / "summary.json", {"rounds": [vars(r) for r in rows]})
        (self.s.run_dir / "summary.md").write_text(summary_table(rows) + "\n", encoding="utf-8")


def summary_table(rows: list[RoundRow]) -> str:
    """Pass rate per round as a Markdown table."""
    lines = ["|round|model|solved|total|pass|train examples|loss first→last|", "|---|---|--:|--:|--:|--:|---|"]
    for r in rows:
        rate = f"{r.solved / r.total:.4f}" if r.total else "-"
        examples = "-" if r.examples is None else str(r.examples)
        lines.append(f"|{r.round}|{r.model}|{r.solved}|{r.total}|{rate}|{examples}|{r.loss}|")
    return "\n".join(lines)


def run_iterate(settings: IterateSettings, on_step: StepHook | None = None) -> list[RoundRow]:
    """Run or resume the loop in `settings.run_dir`; `on_step(round, step)` is called after each finished step."""
    if settings.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    return Loop(settings, on_step).run()


def _label(model: str) -> str:
    path = Path(model)
    return f"{path.parent.name}/{path.name}" if path.parent.name.startswith("round_") else path.name or model


def _samples_under(records: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for run_dir in sorted({p.parent for p in records.rglob("samples_*.jsonl")}):
        for _task, _stamp, path in samples_files(run_dir):
            out.extend(latest_per_id(read_jsonl(path)))
    return out


def _easy_problems(samples: list[dict[str, Any]], max_expansions: int | None) -> set[tuple[str, str]]:
    if max_expansions is None:
        return set()
    return {
        (str(s.get("task")), str(s.get("id")))
        for s in samples
        if s.get("status") == "proved" and int(s.get("expansions") or 0) <= max_expansions
    }


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def _trained_info(out: Path) -> dict[str, Any]:
    from prover.training.card import LOG_FILE

    losses = []
    for line in (out / LOG_FILE).read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "loss" in entry:
            losses.append(float(entry["loss"]))
    loss = f"{losses[0]:.3f}→{losses[-1]:.3f}" if losses else "-"
    return {"model": str(out), "loss": loss}
