import pytest

from prover.errors import UsageError
from prover.lean.statement import BARE_NAME, EXAMPLE_NAME, Statement, split_file, split_header


@pytest.mark.parametrize(
    "text",
    [
        "theorem foo (x : ℕ) : x + 0 = x := by sorry",
        "theorem foo (x : ℕ) : x + 0 = x := sorry",
        "theorem foo (x : ℕ) : x + 0 = x := by",
        "theorem foo (x : ℕ) : x + 0 = x :=",
        "theorem foo (x : ℕ) : x + 0 = x",
        "theorem foo (x : ℕ) : x + 0 = x := by\n  simp",
    ],
)
def test_every_form_gives_the_same_head(text: str) -> None:
    s = Statement.parse(text)
    assert s.name == "foo"
    assert s.head == "theorem foo (x : ℕ) : x + 0 = x :="
    assert s.with_sorry() == "theorem foo (x : ℕ) : x + 0 = x := by sorry"


def test_binder_defaults_and_comments_do_not_end_the_statement() -> None:
    s = Statement.parse("theorem bar (n : ℕ := 3) -- := not here\n  : n = n := by sorry")
    assert s.head == "theorem bar (n : ℕ := 3) -- := not here\n  : n = n :="


def test_example_and_bare_proposition_get_names() -> None:
    assert Statement.parse("example : 1 + 1 = 2 := by sorry").head == f"theorem {EXAMPLE_NAME} : 1 + 1 = 2 :="
    bare = Statement.parse("∀ n : ℕ, n + 0 = n")
    assert bare.name == BARE_NAME
    assert bare.with_sorry() == f"theorem {BARE_NAME} : ∀ n : ℕ, n + 0 = n := by sorry"


def test_with_proof_indents_every_line() -> None:
    s = Statement.parse("theorem t : True := by sorry")
    assert s.with_proof(["constructor", "all_goals\n  trivial"]) == "theorem t : True := by\n  constructor\n  all_goals\n    trivial"


@pytest.mark.parametrize("text", ["", "   \n", "theorem : True := by sorry"])
def test_bad_statements_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        Statement.parse(text)


def test_split_file_takes_header_and_one_theorem() -> None:
    src = "import Mathlib\nopen Nat\n\n/-- doc -/\ntheorem a : True := by\n  trivial\n\ntheorem b : 1 = 1 := by sorry\n"
    header, stmt = split_file(src, "b")
    assert header.startswith("import Mathlib\nopen Nat") and "theorem a" in header
    assert stmt == "theorem b : 1 = 1 := by sorry\n"
    with pytest.raises(UsageError):
        split_file(src, "c")


def test_let_inside_the_type_is_not_the_proof() -> None:
    s = Statement.parse("theorem l (f : ℕ → ℕ) : let g := f 1; g = f 1 := by sorry")
    assert s.head == "theorem l (f : ℕ → ℕ) : let g := f 1; g = f 1 :="
    nested = Statement.parse("theorem m : ∀ n : ℕ, let a := n\n  have b : a = n := rfl\n  a = n :=\nby sorry")
    assert nested.head.endswith("a = n :=")


def test_split_header_separates_imports_from_the_rest() -> None:
    imports, rest = split_header("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen Nat\ndef f := 1\n")
    assert imports == "import Mathlib\nimport Aesop\n\n"
    assert rest == "set_option maxHeartbeats 0\n\nopen Nat\ndef f := 1\n"
    assert split_header("import Mathlib\n") == ("import Mathlib\n", "")
    assert split_header("-- comment\nimport Mathlib\nopen X\n") == ("-- comment\nimport Mathlib\n", "open X\n")
