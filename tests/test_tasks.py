"""The task registry: names, counts and known-wrong lists (PROVENANCE.md), data location, the pinned-clone path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import tasks as tasks_mod
from benchmarks.tasks import DataSource, clone_pinned, get_task, list_tasks, load_problems, locate_data
from prover.errors import EnvironmentProblem, UsageError
from tests.conftest import shared_benchmarks_dir

DATA = shared_benchmarks_dir()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no statement data at {DATA}")

EXPECTED = {
    "minif2f-test": 244,
    "minif2f-valid": 244,
    "minif2f-deepseek-test": 244,
    "minif2f-deepseek-valid": 244,
    "minif2f-goedel-test": 244,
    "imo-minif2f": 40,
    "imo-mobench": 360,
    "imo-seed-past": 155,
}


def test_registry_names_and_metadata() -> None:
    assert [t.name for t in list_tasks()] == list(EXPECTED)
    for task in list_tasks():
        assert task.size == EXPECTED[task.name]
        assert task.version and task.description and task.lean
        assert len(task.source.commit) == 40 and "/" in task.source.repo


def test_get_task_accepts_underscores_and_suggests_close_names() -> None:
    assert get_task("MiniF2F_Test").name == "minif2f-test"
    with pytest.raises(UsageError, match="did you mean 'minif2f-test'"):
        get_task("minif2f-tset")
    with pytest.raises(UsageError, match="did you mean 'imo-mobench'"):
        get_task("mobench")
    with pytest.raises(UsageError, match="unknown task 'zzz'") as info:
        get_task("zzz")
    assert info.value.exit_code == 2


@needs_data
@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_task_loads_its_count_and_flags_its_known_wrong_statements(name: str) -> None:
    task = get_task(name)
    problems = load_problems(name)
    assert len(problems) == EXPECTED[name]
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.task == name for p in problems)
    flagged = {p.id for p in problems if p.known_wrong}
    assert flagged == set(task.known_wrong)  # every listed id exists in the data


def test_known_wrong_lists_follow_provenance() -> None:
    assert set(get_task("minif2f-test").known_wrong) == {
        "mathd_algebra_208",
        "algebra_cubrtrp1oncubrtreq3_rcubp1onrcubeq5778",
        "mathd_algebra_275",
        "mathd_algebra_314",
    }
    assert set(get_task("minif2f-valid").known_wrong) == {"mathd_algebra_282", "amc12a_2020_p13"}
    assert len(get_task("minif2f-deepseek-test").known_wrong) == 11  # Kimina's 8 + 3 found by reading
    assert "mathd_algebra_208" not in get_task("minif2f-deepseek-test").known_wrong  # DS uses (1 : ℝ) / 3
    assert not get_task("minif2f-goedel-test").known_wrong


@needs_data
def test_imo_minif2f_takes_the_imo_problems_of_both_splits() -> None:
    problems = load_problems("imo-minif2f")
    assert [p.split for p in problems].count("test") == 20 and [p.split for p in problems].count("valid") == 20
    assert all(p.id.startswith("imo") for p in problems)
    assert "imosl_2007_algebra_p6" in {p.id for p in problems}


@needs_data
def test_limit_is_a_count_or_a_fraction() -> None:
    assert len(load_problems("minif2f-test", limit=5)) == 5
    assert len(load_problems("minif2f-test", limit=0.1)) == 25  # ceil(24.4)
    assert len(load_problems("minif2f-test", limit=5.0)) == 5
    with pytest.raises(UsageError):
        load_problems("minif2f-test", limit=-1)
    with pytest.raises(UsageError):
        load_problems("minif2f-test", limit=1.5)


@needs_data
def test_data_is_found_in_every_accepted_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = get_task("minif2f-deepseek-test").source
    # 1. a data dir holding the source folder by its shared name (a link, not a copy)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / source.folder).symlink_to(DATA / source.folder)
    found = locate_data(source, tmp_path / "data")
    assert found.origin == "explicit" and found.path("minif2f.jsonl").is_file()
    # 2. the source folder itself
    assert locate_data(source, DATA / source.folder).root == DATA / source.folder
    # 3. a checkout of the source repository
    (tmp_path / "repo" / "datasets").mkdir(parents=True)
    (tmp_path / "repo" / "datasets" / "minif2f.jsonl").symlink_to(DATA / source.folder / "minif2f.jsonl")
    found = locate_data(source, tmp_path / "repo")
    assert found.repo_layout and len(load_problems("minif2f-deepseek-test", tmp_path / "repo")) == 244
    # 4. $PROVER_DATA, then the shared folder beside the checkout
    monkeypatch.setenv("PROVER_DATA", str(tmp_path / "data"))
    assert locate_data(source).origin == "PROVER_DATA"
    monkeypatch.setenv("PROVER_DATA", str(tmp_path / "empty"))
    assert locate_data(source).origin == "shared"
    # an explicit directory without the data is the user's mistake
    with pytest.raises(UsageError, match="--data"):
        locate_data(source, tmp_path / "repo" / "datasets" / "nothing")


def _missing_source(url: str, commit: str = "0" * 40) -> DataSource:
    return DataSource(
        folder="no-such-folder", repo="example/none", commit=commit, paths={"x.jsonl": "d/x.jsonl"}, url=url
    )


def test_missing_data_without_download_is_an_environment_problem(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="not on this machine") as info:
        locate_data(_missing_source("file:///nowhere"), download=False, cache_dir=tmp_path)
    assert "--data" in info.value.fix and info.value.exit_code == 3


def test_clone_without_git_is_an_environment_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    with pytest.raises(EnvironmentProblem, match="git is needed") as info:
        locate_data(_missing_source("https://github.com/example/none.git"), cache_dir=tmp_path)
    assert "--data" in info.value.fix


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_clone_from_an_unreachable_source_is_an_environment_problem(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="could not download") as info:
        locate_data(_missing_source(f"file://{tmp_path}/no-repo"), cache_dir=tmp_path / "cache")
    assert "network" in info.value.fix
    assert not any((tmp_path / "cache" / "benchmarks").iterdir())  # no half-made clone left behind


def _git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_pinned_clone_checks_out_the_commit_once(tmp_path: Path) -> None:
    """The clone path end to end against a local repository (file://): the pinned commit, not the branch tip."""
    upstream = tmp_path / "upstream"
    (upstream / "d").mkdir(parents=True)
    _git("init", "-q", cwd=upstream)
    record = {"name": "t1", "header": "import Mathlib\n", "formal_statement": "theorem t1 : True := by sorry"}
    (upstream / "d" / "x.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    _git("add", ".", cwd=upstream)
    _git("commit", "-q", "-m", "one", cwd=upstream)
    pinned = _git("rev-parse", "HEAD", cwd=upstream)
    (upstream / "d" / "x.jsonl").write_text("", encoding="utf-8")  # a later commit empties the file
    _git("commit", "-q", "-am", "two", cwd=upstream)

    source = _missing_source(f"file://{upstream}", pinned)
    found = locate_data(source, cache_dir=tmp_path / "cache")
    assert found.origin == "clone" and found.repo_layout
    assert found.path("x.jsonl").read_text(encoding="utf-8").startswith('{"name": "t1"')
    assert locate_data(source, cache_dir=tmp_path / "cache").origin == "cache"  # found again without git

    with pytest.raises(EnvironmentProblem):
        clone_pinned(f"file://{upstream}", "f" * 40, tmp_path / "cache" / "other")


def test_shared_dir_is_beside_the_checkout() -> None:
    assert tasks_mod._shared_dir() == Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"
