"""Read formal statements from the three layouts the benchmark sources use, into frozen `Problem`s.

Layouts:
    * a folder of one-theorem `.lean` files (yangky11/miniF2F-lean4): the file name is the id;
    * JSONL records with `header` + `formal_statement` (DeepSeek-Prover-V1.5, MathOlympiadBench) or with the whole
      file in `formal_statement` (Goedel-Prover-V2's corrected miniF2F test);
    * one `.lean` file holding a shared header and many theorems (Seed-Prover's `imo_all.lean`).

Every problem keeps the declaration verbatim (`declaration`, with its `by sorry` or bare `by` placeholder) and the
split the agent needs: `header` (everything Lean must elaborate first) and `statement` (the declaration up to and
including its `:=`). `header + statement + " by sorry"` elaborates to the problem's root goal; `header + declaration`
is the source's own text of the problem. Declarations are found with `prover.lean.statement.split_file`, the
function the CLI uses on user files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from prover.errors import UsageError
from prover.lean.statement import DECL_MODIFIERS, DECL_NAME, split_file
from prover.lean.statement import (
    _mask_comments_and_strings as _mask,  # the parser's own masking, so both agree
)

__all__ = [
    "Problem",
    "load_jsonl",
    "load_lean_dir",
    "load_lean_file",
    "problem_from_parts",
    "split_header",
]

# A top-level theorem and its name.
_THEOREM = re.compile(rf"^[ \t]*{DECL_MODIFIERS}(?:theorem|lemma)\s+(?P<name>{DECL_NAME})", re.M)
# Lines that belong to a shared header: imports, options, opens, universes, blank lines and line comments.
_HEADER_LINE = re.compile(r"^(?:import\s|set_option\s|open\s|universe\s|--|\s*$)")
# A sourced declaration: its head up to the last `:=`, then only a placeholder proof. Anchoring on the placeholder
# (rather than taking the first top-level `:=`) keeps `let x := …` inside a statement's type in the head.
_SORRIED = re.compile(r"^(?P<head>.*:=)\s*(?:by\b)?\s*(?:sorry\b)?\s*$", re.S)


@dataclass(frozen=True)
class Problem:
    """One formal problem of a benchmark task.

    Attributes:
        task: the task it belongs to (`minif2f-test`, …); empty when loaded outside a task.
        id: the identifier within the task (the source's name: file stem or the record's `name`).
        name: the Lean name of the theorem to prove (what `#print axioms` needs).
        statement: the declaration up to and including its `:=`, verbatim from the source.
        header: everything Lean elaborates before the statement: the imports, options and `open`s, followed by
            `preamble` when the source defines things for the statement.
        declaration: the declaration verbatim, with the source's placeholder proof (`by sorry`, or a bare `by`).
        informal: the informal statement, when the source has one.
        known_wrong: the statement is known to be mis-formalised (false, vacuous or trivial; see the task).
        source: where it was read from (`path`, `path:line` or `path#record`).
        preamble: the problem-specific tail of `header` (definitions, abbrevs, helper lemmas, `variable`s); empty
            for most problems. `header` minus `preamble` is shared by every problem of a source.
        extra_axioms: axioms the preamble itself declares; a proof may depend on them (MathOlympiadBench
            `Imo1994P5` declares `sol_prop`).
        split: the source's split (`test`, `valid`), when it has one.
    """

    task: str
    id: str
    name: str
    statement: str
    header: str
    declaration: str
    informal: str | None = None
    known_wrong: bool = False
    source: str = ""
    preamble: str = ""
    extra_axioms: tuple[str, ...] = ()
    split: str = ""

    @property
    def sha256(self) -> str:
        """sha256 of `header + statement`: what a proof is checked against (run records carry it)."""
        return hashlib.sha256((self.header + self.statement).encode()).hexdigest()


def _only_comments(text: str) -> bool:
    return not _mask(text).strip()


def _axioms(preamble: str) -> tuple[str, ...]:
    return tuple(re.findall(rf"^(?:private\s+)?axiom\s+({DECL_NAME})", preamble, re.M))


def split_header(text: str) -> tuple[str, str]:
    """Split a Lean text into (shared header, rest): the header is the leading run of import / `set_option` /
    `open` / `universe` lines, blank lines and line comments.

    Examples:
        >>> split_header("import Mathlib\\n\\nopen Real\\n\\ntheorem t : 1 = 1 := by sorry")
        ('import Mathlib\\n\\nopen Real\\n\\n', 'theorem t : 1 = 1 := by sorry')
    """
    lines = text.splitlines(keepends=True)
    cut = 0
    for line in lines:
        if not _HEADER_LINE.match(line):
            break
        cut += len(line)
    return text[:cut], text[cut:]


def _main_theorem(text: str, where: str) -> str:
    names = _theorem_names(text)
    if not names:
        raise UsageError(f"{where}: no theorem or lemma found")
    return names[-1]


def _theorem_names(text: str) -> list[str]:
    return [m.group("name") for m in _THEOREM.finditer(_mask(text))]


def problem_from_parts(
    header: str,
    body: str,
    *,
    id: str,
    source: str,
    name: str | None = None,
    informal: str | None = None,
    split: str = "",
) -> Problem:
    """Build a Problem from a shared header and the text after it (preamble, if any, then the declaration).

    Args:
        header: the imports/options/opens shared by the source's problems.
        body: what follows the header: optional definitions or comments, then the theorem with its placeholder.
        id: the problem's id.
        source: where it came from (for messages and records).
        name: the theorem to prove; default: the last theorem or lemma in `body`.
        informal: the informal statement, if known.
        split: the source's split name.

    Returns:
        The Problem; `statement` is the declaration up to the `:=` before its placeholder.

    Raises:
        UsageError: no theorem in the text, or its proof is more than a `sorry` placeholder.
    """
    name = name or _main_theorem(body, source)
    before, _ = split_file(body, name)
    declaration = body[len(before) :]  # verbatim to the end, trailing newline or not
    preamble = "" if _only_comments(before) else before
    sorried = _SORRIED.match(declaration.strip())
    if sorried is None:
        raise UsageError(f"{source}: the statement of {name} is not followed by a `sorry` placeholder only")
    if header and not header.endswith("\n"):
        header += "\n"
    return Problem(
        task="",
        id=id,
        name=name,
        statement=sorried.group("head"),
        header=header + preamble,
        declaration=declaration,
        informal=informal,
        source=source,
        preamble=preamble,
        extra_axioms=_axioms(preamble),
        split=split,
    )


def load_lean_dir(directory: Path, *, split: str = "", pattern: str = "*.lean") -> list[Problem]:
    """Load a folder of one-theorem `.lean` files, sorted by file name; the id is the file stem.

    The theorem is the one named like the file, else the file's last theorem. `header + declaration` equals the
    file's text.

    Raises:
        UsageError: the folder is missing or empty, or a file does not hold one sorry'd theorem.
    """
    if not directory.is_dir():
        raise UsageError(f"no such folder: {directory}")
    files = sorted(directory.glob(pattern))
    if not files:
        raise UsageError(f"no {pattern} files in {directory}")
    problems = []
    for path in files:
        text = read_text(path)
        name = path.stem if path.stem in _theorem_names(text) else None
        before, rest = split_header(text)
        problems.append(problem_from_parts(before, rest, id=path.stem, source=str(path), name=name, split=split))
    return problems


def read_text(path: Path) -> str:
    """A statement file's text; one that cannot be read or is not UTF-8 (Lean reads only UTF-8) is bad input."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _records(path: Path) -> Iterable[tuple[int, Mapping[str, object]]]:
    for lineno, line in enumerate(read_text(path).split("\n"), 1):
        if line.strip():
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{lineno}: not JSON ({exc.msg})") from None


def load_jsonl(path: Path, *, split: str | None = None, id_key: str = "name") -> list[Problem]:
    """Load JSONL statement records (DeepSeek-Prover / Goedel-Prover / MathOlympiadBench layout), in file order.

    Each record needs `formal_statement` and an id (`id_key`). The header is the record's `header` when present,
    else the leading imports/options/opens of `formal_statement` (Goedel's records hold the whole file). Text
    between the header and the theorem is the problem's preamble unless it is only comments (Goedel's informal
    docstring). `informal_prefix`, when present, becomes `informal`.

    Args:
        path: the `.jsonl` file.
        split: keep only records whose `split` field equals this (None: all).
        id_key: the field holding the problem id.

    Raises:
        UsageError: missing file, bad JSON, a record without the needed fields, or a duplicate id.
    """
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    problems: list[Problem] = []
    seen: set[str] = set()
    for lineno, record in _records(path):
        if split is not None and record.get("split") != split:
            continue
        pid, formal = record.get(id_key), record.get("formal_statement")
        if not isinstance(pid, str) or not isinstance(formal, str):
            raise UsageError(f"{path}:{lineno}: a record needs string fields {id_key!r} and 'formal_statement'")
        if pid in seen:
            raise UsageError(f"{path}:{lineno}: duplicate id {pid!r}")
        seen.add(pid)
        header = record.get("header")
        if isinstance(header, str):
            body = formal
        else:
            header, body = split_header(formal)
        informal = record.get("informal_prefix")
        problems.append(
            problem_from_parts(
                header,
                body,
                id=pid,
                source=f"{path}:{lineno}",
                informal=informal.strip() if isinstance(informal, str) and informal.strip() else None,
                split=str(record.get("split", "")),
            )
        )
    return problems


def load_lean_file(path: Path, *, split: str = "") -> list[Problem]:
    """Load a `.lean` file of many theorems sharing one header (Seed-Prover `imo_all.lean` layout).

    The header is everything before the first theorem; each theorem runs to the next one. The id is the theorem
    name; `source` is `path:line`.

    Raises:
        UsageError: missing file, no theorem, a duplicate name, or a theorem with a real proof.
    """
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    text = read_text(path)
    starts = list(_THEOREM.finditer(_mask(text)))
    if not starts:
        raise UsageError(f"{path}: no theorem or lemma found")
    header = text[: starts[0].start()]
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, match in enumerate(starts):
        name = match.group("name")
        if name in seen:
            raise UsageError(f"{path}: duplicate theorem {name!r}")
        seen.add(name)
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        line = text.count("\n", 0, match.start()) + 1
        problems.append(
            problem_from_parts(
                header, text[match.start() : end], id=name, name=name, source=f"{path}:{line}", split=split
            )
        )
    return problems
