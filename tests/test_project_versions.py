"""Versions read from files only (DESIGN contract 1): lean-toolchain, lake-manifest.json or the lakefile, .git."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import prover
from prover.config import REPL_BINARY
from prover.lean import project
from prover.lean.project import git_hash, lakefile_pins, lean_version, mathlib_rev, read_versions, repl_rev

ROOT = Path(__file__).resolve().parent.parent
SHA_A = "f897ebcf72cd16f89ab4577d0c826cd14afaafc7"
SHA_B = "8fff855e0cb3fbbb6d4c8a8e5a3e0ae1f4c5d6e7"


@pytest.fixture
def lean_project(tmp_path: Path) -> Path:
    """A copy of this repository's Lean project files (no manifest, no .lake)."""
    for name in ("lean-toolchain", "lakefile.lean"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def manifest(rev: str, input_rev: str, name: str = "mathlib") -> dict[str, object]:
    """A lake-manifest.json (format 1.1.0) entry as lake writes it."""
    return {
        "url": f"https://github.com/leanprover-community/{name}", "type": "git", "subDir": None, "scope": "",
        "rev": rev, "name": name, "manifestFile": "lake-manifest.json", "inputRev": input_rev, "inherited": False,
        "configFile": "lakefile.lean",
    }


def write_manifest(path: Path, *packages: dict[str, object]) -> None:
    data = {"version": "1.1.0", "packagesDir": ".lake/packages", "packages": list(packages), "name": "prover", "lakeDir": ".lake"}
    (path / "lake-manifest.json").write_text(json.dumps(data), encoding="utf-8")


def test_the_repository_pins_lean_mathlib_and_the_repl_together() -> None:
    assert (ROOT / "lean-toolchain").read_text(encoding="utf-8").strip() == "leanprover/lean4:v4.24.0"
    versions = read_versions(ROOT)
    assert (versions.lean, versions.mathlib, versions.repl) == ("v4.24.0", "v4.24.0", "v4.24.0")
    assert versions.prover == prover.__version__


def test_the_repl_requirement_is_named_as_the_binary_path_expects() -> None:
    # lake checks a dependency out under .lake/packages/<require name>; REPL_BINARY assumes `REPL`.
    assert REPL_BINARY.parts[:3] == (".lake", "packages", "REPL")
    text = (ROOT / "lakefile.lean").read_text(encoding="utf-8")
    assert 'require REPL from git "https://github.com/leanprover-community/repl" @ "v4.24.0"' in text
    assert (ROOT / "lean_project" / "ProverHeader.lean").is_file()


def test_without_a_manifest_the_lakefile_pins_are_used(lean_project: Path) -> None:
    assert lakefile_pins(lean_project) == {"mathlib": "v4.24.0", "repl": "v4.24.0"}
    assert mathlib_rev(lean_project) == "v4.24.0" and repl_rev(lean_project) == "v4.24.0"


def test_a_manifest_pinned_to_a_tag_gives_the_same_value(lean_project: Path) -> None:
    write_manifest(lean_project, manifest(SHA_A, "v4.24.0"), manifest(SHA_B, "v4.24.0", "REPL"))
    assert mathlib_rev(lean_project) == "v4.24.0" and repl_rev(lean_project) == "v4.24.0"


def test_a_branch_pin_gives_the_commit_lake_checked_out(lean_project: Path) -> None:
    write_manifest(lean_project, manifest(SHA_A, "master"))
    assert mathlib_rev(lean_project) == SHA_A
    assert repl_rev(lean_project) == "v4.24.0"  # not in the manifest: the lakefile's pin


def test_an_unreadable_manifest_falls_back_to_the_lakefile(lean_project: Path) -> None:
    (lean_project / "lake-manifest.json").write_text("{not json", encoding="utf-8")
    assert mathlib_rev(lean_project) == "v4.24.0"


def test_toolchain_forms(tmp_path: Path) -> None:
    assert lean_version(tmp_path) == ""
    (tmp_path / "lean-toolchain").write_text("leanprover/lean4:v4.24.0\n", encoding="utf-8")
    assert lean_version(tmp_path) == "v4.24.0"
    (tmp_path / "lean-toolchain").write_text("leanprover/lean4-nightly:nightly-2025-10-01\n", encoding="utf-8")
    assert lean_version(tmp_path) == "leanprover/lean4-nightly:nightly-2025-10-01"


def test_other_lakefile_forms(tmp_path: Path) -> None:
    (tmp_path / "lakefile.lean").write_text(
        'import Lake\nopen Lake DSL\npackage p\nrequire "leanprover-community" / "mathlib" @ git "v4.24.0"\n'
        'require aesop from git "https://github.com/leanprover-community/aesop"\n', encoding="utf-8")
    assert lakefile_pins(tmp_path) == {"mathlib": "v4.24.0", "aesop": ""}
    (tmp_path / "lakefile.lean").unlink()
    (tmp_path / "lakefile.toml").write_text(
        'name = "p"\n\n[[require]]\nname = "mathlib"\ngit = "https://github.com/leanprover-community/mathlib4"\n'
        'rev = "v4.24.0"\n\n[[lean_lib]]\nname = "P"\n', encoding="utf-8")
    assert lakefile_pins(tmp_path) == {"mathlib": "v4.24.0"}
    assert lakefile_pins(tmp_path / "missing") == {}


def test_nothing_is_run(lean_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("read_versions must not run a program")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setenv("PATH", "")
    assert read_versions(lean_project).lean == "v4.24.0"


# --------------------------------------------------------------------------------------------- git hash


def make_git(path: Path, head: str) -> Path:
    git = path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text(head + "\n", encoding="utf-8")
    return git


def test_git_hash_of_a_branch_a_packed_ref_and_a_detached_head(tmp_path: Path) -> None:
    git = make_git(tmp_path, "ref: refs/heads/main")
    assert git_hash(tmp_path) == ""  # an unborn branch
    (git / "packed-refs").write_text(f"# pack-refs with: peeled fully-peeled sorted\n{SHA_B} refs/heads/main\n", encoding="utf-8")
    assert git_hash(tmp_path) == SHA_B
    (git / "refs" / "heads" / "main").write_text(SHA_A + "\n", encoding="utf-8")
    assert git_hash(tmp_path) == SHA_A  # a loose ref wins over the packed one
    (git / "HEAD").write_text(SHA_B + "\n", encoding="utf-8")
    assert git_hash(tmp_path) == SHA_B


def test_git_hash_of_a_worktree(tmp_path: Path) -> None:
    main = tmp_path / "main"
    git = make_git(main, "ref: refs/heads/main")
    (git / "refs" / "heads" / "feature").write_text(SHA_B + "\n", encoding="utf-8")
    worktree_git = git / "worktrees" / "wt"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/feature\n", encoding="utf-8")
    (worktree_git / "commondir").write_text("../..\n", encoding="utf-8")
    wt = tmp_path / "wt"
    wt.mkdir()
    (wt / ".git").write_text(f"gitdir: {worktree_git}\n", encoding="utf-8")
    assert git_hash(wt) == SHA_B


def test_no_checkout_no_hash(tmp_path: Path) -> None:
    assert git_hash(tmp_path) == ""


def test_read_versions_takes_the_hash_of_the_code_that_runs(lean_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_git(lean_project, SHA_A)
    monkeypatch.setattr(project, "package_checkout", lambda: lean_project)
    assert read_versions(lean_project).git_hash == SHA_A
