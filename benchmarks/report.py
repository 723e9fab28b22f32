"""`prover bench report RUN_DIR`: the lm-eval-style table, a cactus plot, a per-problem outcome chart, an HTML page.

Everything is computed from the run's files (`benchmarks.records.load_run`), so a report can be made of a run that
is still going or was killed. Plots use matplotlib (extra `plot`, imported only here, Agg canvas, no global
backend change); without it the Markdown table and the HTML page are still written.

Examples:
    >>> paths = write_report("runs/portfolio")  # doctest: +SKIP
    >>> print(paths.markdown.read_text())  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.pass_at_k import whole_proof_rows
from benchmarks.records import load_run, task_metrics
from prover.errors import EnvironmentProblem
from prover.lean.statement import Statement

__all__ = ["ReportPaths", "markdown_table", "proof_text", "write_report"]

logger = logging.getLogger(__name__)

STATUS_COLORS = {"proved": "#2e7d32", "failed": "#9e9e9e", "timeout": "#ef8f00", "error": "#c62828"}
_OTHER_COLOR = "#5e35b1"


@dataclass(frozen=True)
class ReportPaths:
    """The files a report wrote (`cactus` and `outcomes` are None without matplotlib)."""

    markdown: Path
    html: Path
    cactus: Path | None
    outcomes: Path | None


def _fmt(value: float | None, digits: int = 4) -> str:
    return "N/A" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _rows(results: Mapping[str, Any], samples: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[list[str]]:
    rows = []
    configs = results.get("configs") or {}
    for task in sorted(samples):
        known_wrong = (configs.get(task) or {}).get("known_wrong", [])
        m = task_metrics(samples[task], known_wrong)
        version = str((configs.get(task) or {}).get("version", ""))
        rows.append(
            [
                task,
                version,
                str(m["n"]),
                "pass",
                "↑",
                _fmt(m["pass_rate"]),
                "±",
                _fmt(m["pass_rate_stderr"]),
                _fmt(m["mean_seconds"], 1),
            ]
        )
        for metric, value in whole_proof_rows(samples[task]):  # whole-proof samples (issue 11)
            rows.append(["", "", str(m["n"]), metric, "↑", value, "", "", ""])
        if m["n_excl_known_wrong"] != m["n"]:
            rows.append(
                [
                    "",
                    "",
                    str(m["n_excl_known_wrong"]),
                    "pass excl. known-wrong",
                    "↑",
                    _fmt(m["pass_rate_excl_known_wrong"]),
                    "±",
                    _fmt(m["pass_rate_excl_known_wrong_stderr"]),
                    "",
                ]
            )
    return rows


_HEAD = ["Tasks", "Version", "n", "Metric", "", "Value", "", "Stderr", "Mean s"]
_RIGHT = {1, 2, 5, 7, 8}


def _in_task_order(samples: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Samples in the task's own order (doc_id), those without one last, by id."""
    return sorted(samples, key=lambda s: (s.get("doc_id") is None, s.get("doc_id") or 0, str(s.get("id"))))


def markdown_table(results: Mapping[str, Any], samples: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """lm-eval's results table (`|Tasks|Version|…|Value| |Stderr|`), with n and mean seconds per theorem."""
    rows = _rows(results, samples)
    widths = [max(len(r[i]) for r in [_HEAD, *rows]) for i in range(len(_HEAD))]

    def line(cells: Sequence[str]) -> str:
        return (
            "|"
            + "|".join(
                c.rjust(w) if i in _RIGHT else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + "|"
        )

    rule = "|" + "|".join(("-" * (w - 1) + ":") if i in _RIGHT else "-" * w for i, w in enumerate(widths)) + "|"
    return "\n".join([line(_HEAD), rule, *(line(r) for r in rows)]) + "\n"


def proof_text(sample: Mapping[str, Any]) -> str:
    """The checked text of a proved sample: header, statement and tactic proof (as the verifier builds it)."""
    statement = str(sample.get("statement", ""))
    body = Statement(original=statement, head=statement, name=str(sample.get("name", ""))).with_proof(
        sample.get("proof") or []
    )
    return f"{sample.get('header', '')}{body}\n"


# --- plots -------------------------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EnvironmentProblem("plots need matplotlib", fix="pip install 'prover[plot]'") from None
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def cactus_plot(samples: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, budget_s: float | None = None) -> Path:
    """Solved theorems (y) against the seconds each needed (x): one step line per task."""
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    longest = 0.0
    for task in sorted(samples):
        times = sorted(
            float((s.get("seconds") or {}).get("total", 0.0)) for s in samples[task] if s.get("status") == "proved"
        )
        n = len(samples[task])
        if times:
            longest = max(longest, times[-1])
            ax.step([0.0, *times], range(len(times) + 1), where="post", linewidth=2, label=f"{task}: {len(times)}/{n}")
        else:
            ax.plot([], [], label=f"{task}: 0/{n}")
    if budget_s:
        ax.axvline(budget_s, color="#555555", linestyle="--", linewidth=1, label=f"budget {budget_s:g} s")
    ax.set_xlabel("seconds per theorem (proofs found within x seconds)")
    ax.set_ylabel("theorems proved")
    ax.set_title("Cactus plot: theorems proved vs time")
    ax.set_xlim(left=0, right=max(longest, budget_s or 0.0, 1.0) * 1.04)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path)
    return path


def outcome_chart(samples: Mapping[str, Sequence[Mapping[str, Any]]], path: Path, per_row: int = 50) -> Path:
    """One coloured cell per problem, in task order, per task; known-wrong statements are hatched."""
    from matplotlib.patches import Patch, Rectangle

    tasks = sorted(samples)
    ordered = {
        t: _in_task_order(samples[t])
        for t in tasks
    }
    heights = [max(1, math.ceil(len(ordered[t]) / per_row)) for t in tasks]
    # A cell is about 0.19 in on a 10 in wide figure; each task adds its rows plus a title line.
    bands = [0.19 * h + 0.32 for h in heights]
    fig = _figure(10.0, 0.75 + sum(bands))
    axes = fig.subplots(len(tasks), 1, squeeze=False, height_ratios=bands)[:, 0]
    for ax, task, rows in zip(axes, tasks, heights, strict=True):
        for i, s in enumerate(ordered[task]):
            status = str(s.get("status"))
            ax.add_patch(
                Rectangle(
                    (i % per_row, -(i // per_row)),
                    0.9,
                    0.9,
                    facecolor=STATUS_COLORS.get(status, _OTHER_COLOR),
                    edgecolor="white",
                    hatch="////" if s.get("known_wrong") else None,
                    linewidth=0.4,
                )
            )
        proved = sum(s.get("status") == "proved" for s in ordered[task])
        ax.set_title(f"{task}: {proved}/{len(ordered[task])} proved", loc="left", fontsize=9)
        ax.set_xlim(-0.2, per_row + 0.1)
        ax.set_ylim(-rows + 0.9, 1.0)
        ax.set_aspect("equal", anchor="W")
        ax.axis("off")
    handles = [Patch(facecolor=c, label=k) for k, c in STATUS_COLORS.items()]
    handles.append(Patch(facecolor="white", edgecolor="#444444", hatch="////", label="known-wrong statement"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Outcome per problem (task order, left to right)", fontsize=10)
    fig.savefig(path)
    return path


# --- HTML --------------------------------------------------------------------------------------------------------


def _anchor(task: str, pid: str) -> str:
    return "p-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{task}--{pid}")


def _html_page(
    results: Mapping[str, Any],
    samples: Mapping[str, Sequence[Mapping[str, Any]]],
    images: Sequence[Path],
    run_dir: Path,
) -> str:
    esc = html.escape
    rows = _rows(results, samples)
    table = "<table class='summary'><tr>" + "".join(f"<th>{esc(h)}</th>" for h in _HEAD) + "</tr>"
    for r in rows:
        table += "<tr>" + "".join(f"<td{' class=num' if i in _RIGHT else ''}>{esc(c)}</td>" for i, c in enumerate(r))
    table += "</table>"
    config = results.get("config") or {}
    versions = {k: v for k, v in (results.get("versions") or {}).items() if k != "tasks"}
    meta = "".join(f"<li><b>{esc(str(k))}</b>: {esc(str(v))}</li>" for k, v in {**config, **versions}.items())
    figures = "".join(f"<figure><img src='{esc(p.name)}' alt='{esc(p.stem)}'></figure>" for p in images)
    if not images:
        figures = "<p><i>No plots: matplotlib is not installed (pip install 'prover[plot]').</i></p>"
    index, details = [], []
    for task in sorted(samples):
        items = _in_task_order(samples[task])
        heads = "".join(f"<th>{h}</th>" for h in ("problem", "status", "seconds", "nodes", "stop reason"))
        index.append(f"<h3>{esc(task)}</h3><table class='problems'><tr>{heads}</tr>")
        for s in items:
            pid, status = str(s.get("id")), str(s.get("status"))
            anchor = _anchor(task, pid)
            secs = (s.get("seconds") or {}).get("total", 0.0)
            wrong = " <span class='kw'>known-wrong</span>" if s.get("known_wrong") else ""
            index.append(
                f"<tr><td><a href='#{anchor}'>{esc(pid)}</a>{wrong}</td><td class='{esc(status)}'>{esc(status)}</td>"
                f"<td class='num'>{float(secs):.1f}</td><td class='num'>{esc(str(s.get('nodes', '')))}</td>"
                f"<td>{esc(str(s.get('stop_reason') or ''))}</td></tr>"
            )
            if status == "proved":
                body = f"<pre>{esc(proof_text(s))}</pre>"
            else:
                reason = s.get("error") or f"stopped: {s.get('stop_reason') or 'unknown'}"
                verdict = f"; last verdict: {s.get('verdict')}" if s.get("verdict") else ""
                statement = esc(str(s.get("statement", "")))
                body = f"<p class='reason'>{esc(str(reason))}{esc(verdict)}</p><pre>{statement}</pre>"
            details.append(f"<section id='{anchor}'><h4>{esc(task)} / {esc(pid)} — {esc(status)}</h4>{body}</section>")
        index.append("</table>")
    title = f"prover run {esc(run_dir.name)} ({esc(str(results.get('start_time', '')))})"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; }}
td.num {{ text-align: right; }}
td.proved {{ color: #2e7d32; font-weight: 600; }} td.error {{ color: #c62828; }} td.timeout {{ color: #ef8f00; }}
span.kw {{ font-size: 0.75em; background: #eee; padding: 0 0.3em; }}
figure img {{ max-width: 100%; }} pre {{ background: #f6f6f6; padding: 0.6em; overflow-x: auto; }}
section {{ border-top: 1px solid #ddd; }} p.reason {{ color: #c62828; }}
</style></head><body>
<h1>{title}</h1>
{table}
<ul>{meta}</ul>
{figures}
<h2>Problems</h2>
{"".join(index)}
<h2>Proofs and failure reasons</h2>
{"".join(details)}
</body></html>
"""


def write_report(run_dir: Path | str, out_dir: Path | str | None = None, *, plots: bool = True) -> ReportPaths:
    """Write `report.md`, `cactus.png`, `outcomes.png` and `index.html` for a run (default: `RUN_DIR/report/`).

    Args:
        run_dir: the run directory (`<output-path>/<model>/`); its newest run is reported.
        out_dir: where the files go.
        plots: draw the PNGs (skipped, with a log line, when matplotlib is missing).

    Raises:
        UsageError: no run in `run_dir`.
    """
    run_dir = Path(run_dir)
    results, samples = load_run(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "report.md"
    markdown.write_text(markdown_table(results, samples), encoding="utf-8")
    cactus = outcomes = None
    if plots and samples:
        try:
            budget = (results.get("config") or {}).get("budget_s")
            cactus = cactus_plot(samples, out / "cactus.png", float(budget) if budget else None)
            outcomes = outcome_chart(samples, out / "outcomes.png")
        except EnvironmentProblem as exc:
            logger.warning("no plots: %s (%s)", exc, exc.fix)
    page = out / "index.html"
    images = [p for p in (cactus, outcomes) if p is not None]
    page.write_text(_html_page(results, samples, images, run_dir), encoding="utf-8")
    return ReportPaths(markdown=markdown, html=page, cactus=cactus, outcomes=outcomes)
