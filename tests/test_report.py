"""`prover bench report`: the lm-eval-style table, the two PNGs and the HTML page, from a run's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import report as report_mod
from benchmarks.loaders import Problem
from benchmarks.records import RunRecords, TaskEntry
from benchmarks.report import markdown_table, proof_text, write_report
from prover.errors import EnvironmentProblem, UsageError
from prover.results import ProofResult, ProofStats, ProofStatus

STATUSES = [ProofStatus.PROVED, ProofStatus.FAILED, ProofStatus.TIMEOUT, ProofStatus.ERROR]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    with RunRecords.create(tmp_path, "org/m", config={"budget_s": 60}) as records:
        for task, n in (("alpha", 8), ("beta", 3)):
            records.register_task(
                TaskEntry(name=task, version="1.0", known_wrong=("q1",) if task == "alpha" else (), effective=n)
            )
            for i in range(n):
                p = Problem(
                    task,
                    f"q{i}",
                    f"q{i}",
                    f"theorem q{i} : {i} < {i} + 1 :=",
                    "import Mathlib\n\n",
                    "",
                    known_wrong=task == "alpha" and i == 1,
                )
                status = STATUSES[i % 4]
                records.append(
                    p,
                    ProofResult(
                        status,
                        p.statement,
                        proof=("intro", "omega <&>") if status is ProofStatus.PROVED else (),
                        stop_reason=status.value,
                        error="REPL crashed" if status is ProofStatus.ERROR else "",
                        stats=ProofStats(seconds_total=1.5 * (i + 1), nodes=i),
                    ),
                    doc_id=i,
                )
        records.write_results()
        return records.run_dir


def test_markdown_table_reads_like_lm_eval(run_dir: Path) -> None:
    from benchmarks.records import load_run

    lines = markdown_table(*load_run(run_dir)).splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["Tasks", "Version", "n", "Metric", "", "Value", "", "Stderr", "Mean s"]
    assert set(lines[1]) <= set("|-:")
    rows = {tuple(c[:4]): c for c in cells[2:]}
    alpha = rows[("alpha", "1.0", "8", "pass")]
    assert alpha[4:] == ["↑", "0.2500", "±", "0.1637", "6.8"]  # 2/8 proved, √(p(1−p)/7), mean of 1.5…12
    excl = rows[("", "", "7", "pass excl. known-wrong")]
    assert excl[5] == "0.2857"
    assert ("beta", "1.0", "3", "pass") in rows


def test_report_writes_table_plots_and_page(run_dir: Path) -> None:
    paths = write_report(run_dir)
    assert paths.markdown.read_text(encoding="utf-8").startswith("|Tasks")
    for png in (paths.cactus, paths.outcomes):
        assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    page = paths.html.read_text(encoding="utf-8")
    assert "<img src='cactus.png'" in page and "<img src='outcomes.png'" in page
    # every problem links to its proof or failure reason
    for task, n in (("alpha", 8), ("beta", 3)):
        for i in range(n):
            anchor = f"p-{task}--q{i}"
            assert f"href='#{anchor}'" in page and f"id='{anchor}'" in page
    assert "omega &lt;&amp;&gt;" in page  # escaped proof text
    assert "REPL crashed" in page and "known-wrong" in page


def test_report_without_matplotlib_still_writes_table_and_page(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_matplotlib(*args: object) -> None:
        raise EnvironmentProblem("plots need matplotlib", fix="pip install 'prover[plot]'")

    monkeypatch.setattr(report_mod, "_figure", no_matplotlib)
    paths = write_report(run_dir, run_dir / "r2")
    assert paths.cactus is None and paths.outcomes is None
    assert "No plots" in paths.html.read_text(encoding="utf-8") and paths.markdown.is_file()


def test_proof_text_is_what_the_verifier_checks() -> None:
    sample = {"header": "import Mathlib\n\n", "statement": "theorem t : 1 = 1 :=", "name": "t", "proof": ["rfl"]}
    assert proof_text(sample) == "import Mathlib\n\ntheorem t : 1 = 1 := by\n  rfl\n"


def test_report_of_a_folder_without_a_run_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no run"):
        write_report(tmp_path)
