"""Loaders on the real statement data in ../shared/benchmarks (counts from each folder's PROVENANCE.md)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.loaders import load_jsonl, load_lean_dir, load_lean_file, split_header
from prover.errors import UsageError
from tests.conftest import shared_benchmarks_dir

DATA = shared_benchmarks_dir()
YANGKY11 = DATA / "minif2f-lean4-yangky11"

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no statement data at {DATA}")


@pytest.mark.parametrize("split", ["Test", "Valid"])
def test_every_yangky11_file_parses_and_splits_back_into_its_text(split: str) -> None:
    problems = load_lean_dir(YANGKY11 / split, split=split.lower())
    assert len(problems) == 244
    headers = set()
    for p in problems:
        text = Path(p.source).read_text(encoding="utf-8")
        assert p.header + p.declaration == text
        assert p.id == p.name == Path(p.source).stem
        assert p.statement.endswith(":=") and p.statement.startswith(f"theorem {p.name}")
        assert p.declaration.rstrip() == p.statement + " by sorry"
        assert p.preamble == "" and p.extra_axioms == ()
        headers.add(p.header)
    # "identical 6-line header in all 488 files"
    assert headers == {"import Mathlib\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"}


def test_yangky11_has_twenty_imo_problems_per_split() -> None:
    for split in ("Test", "Valid"):
        assert sum(p.id.startswith("imo") for p in load_lean_dir(YANGKY11 / split)) == 20


def test_deepseek_jsonl_counts_and_layout() -> None:
    path = DATA / "minif2f-deepseek-prover-v1.5" / "minif2f.jsonl"
    problems = load_jsonl(path)
    assert len(problems) == 488
    assert Counter(p.split for p in problems) == {"test": 244, "valid": 244}
    assert len(load_jsonl(path, split="valid")) == 244
    for p in problems:
        assert p.declaration.endswith(":= by\n") and p.statement == p.declaration[: -len(" by\n")]
        assert p.header.startswith("import Mathlib\nimport Aesop\n") and p.preamble == ""
        assert p.informal and p.informal.startswith("/--")


def test_goedel_jsonl_splits_the_whole_file_into_header_and_statement() -> None:
    path = DATA / "minif2f-goedel-prover-v2-test" / "minif2f.jsonl"
    problems = load_jsonl(path)
    assert len(problems) == 244 and {p.split for p in problems} == {"test"}
    ds_header = load_jsonl(DATA / "minif2f-deepseek-prover-v1.5" / "minif2f.jsonl")[0].header
    for p in problems:
        assert p.header == ds_header  # the docstring is informal text, not header
        assert p.preamble == "" and "/--" not in p.statement
        assert p.statement.startswith(f"theorem {p.name}")
    fixed = {p.id: p for p in problems}["algebra_cubrtrp1oncubrtreq3_rcubp1onrcubeq5778"]
    assert "r ≥ 0" in fixed.statement  # Goedel's fix (PROVENANCE)


def test_mobench_parses_with_preambles_lets_and_its_axiom() -> None:
    problems = load_jsonl(DATA / "imo-matholympiadbench-goedel" / "MOBench.jsonl")
    assert len(problems) == 360
    prefixes = Counter("imo_sl" if p.id.startswith("imo_sl") else p.id[:3] for p in problems)
    assert prefixes["Imo"] == 158 and prefixes["imo_sl"] == 131 and prefixes["Usa"] == 42
    assert sum(prefixes.values()) - 158 - 131 - 42 == 29
    by_id = {p.id: p for p in problems}
    for p in problems:
        assert p.header.startswith("\nimport Mathlib\nimport Aesop\n")
        assert p.header.endswith(p.preamble)
        assert p.statement.endswith(":=") and "sorry" not in p.statement
    # The main theorem is the last one: helper lemmas with proofs stay in the preamble.
    assert by_id["Usa2023P5"].name == "usa2023_p5" and "lemma injective_of_permuted_rows" in by_id["Usa2023P5"].preamble
    assert by_id["Imo1994P5"].extra_axioms == ("sol_prop",)
    assert [p.id for p in problems if p.extra_axioms] == ["Imo1994P5"]
    # A `let … :=` inside the statement's type stays in the statement.
    assert "let cardAcute :=" in by_id["Imo1970P6"].statement
    assert by_id["Imo1970P6"].statement.endswith("≤ 7 / 10 :=")


def test_seed_imo_file_splits_into_155_statements_with_one_header() -> None:
    problems = load_lean_file(DATA / "imo-seed-prover-past-imo" / "imo_all.lean")
    assert len(problems) == 155 and len({p.id for p in problems}) == 155
    opens = "open BigOperators Real Nat Topology Rat Polynomial"
    assert {p.header for p in problems} == {
        f"import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n{opens}\n\n"
    }
    text = (DATA / "imo-seed-prover-past-imo" / "imo_all.lean").read_text(encoding="utf-8")
    # One declaration (imo1971_p1_algebra) is indented in the file; its declaration starts at `theorem`.
    rebuilt = problems[0].header + "".join(p.declaration for p in problems)
    assert rebuilt == text.replace("\n  theorem imo1971_p1_algebra", "\ntheorem imo1971_p1_algebra")
    suffixes = Counter(p.id.split("_")[2] for p in problems)
    assert suffixes == {"algebra": 85, "numbertheory": 55, "comb": 14, "geometry": 1}
    multiline = {p.id: p for p in problems}["imo1961_p1_algebra"]  # `:= by\n  sorry`
    assert multiline.statement.endswith("3 * b ^ 2 :=")


def test_synthetic_layouts_and_their_errors(tmp_path: Path) -> None:
    lean = tmp_path / "many.lean"
    lean.write_text(
        "import Mathlib\n\n/-- theorem fake : not a declaration -/\ntheorem a (x : ℕ) : x = x := by sorry\n"
        "lemma b : (1 : ℕ) + 1 = 2 :=\n  by sorry\n",
        encoding="utf-8",
    )
    a, b = load_lean_file(lean)
    assert (a.id, a.statement) == ("a", "theorem a (x : ℕ) : x = x :=")
    assert a.header == "import Mathlib\n\n/-- theorem fake : not a declaration -/\n"
    assert (b.id, b.statement, b.source) == ("b", "lemma b : (1 : ℕ) + 1 = 2 :=", f"{lean}:5")

    lean.write_text("import Mathlib\ntheorem a : True := by trivial\n", encoding="utf-8")
    with pytest.raises(UsageError, match="placeholder"):
        load_lean_file(lean)

    jsonl = tmp_path / "p.jsonl"
    record = {"name": "t", "header": "import Mathlib\n", "formal_statement": "theorem t : True := by sorry"}
    jsonl.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(UsageError, match="duplicate id"):
        load_jsonl(jsonl)
    jsonl.write_text('{"name": "t"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="formal_statement"):
        load_jsonl(jsonl)
    jsonl.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not JSON"):
        load_jsonl(jsonl)
    with pytest.raises(UsageError, match="no such"):
        load_lean_dir(tmp_path / "missing")


def test_split_header_stops_at_the_first_non_header_line() -> None:
    header, rest = split_header("import A\nset_option x 0\n-- note\nopen B\n\ndef d := 1\ntheorem t : True := by sorry")
    assert header == "import A\nset_option x 0\n-- note\nopen B\n\n"
    assert rest.startswith("def d")
