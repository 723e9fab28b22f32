"""The benchmark task registry: which statement sets exist, where their data is found, which statements are wrong.

A task names one list of problems from one pinned source (repository + commit, see each folder's PROVENANCE.md
under `shared/benchmarks/`). Data is looked up, in order:

1. an explicit data directory (`--data PATH`, `data_dir=`);
2. the directory in `$PROVER_DATA`;
3. `../shared/benchmarks` beside this checkout;
4. a clone of the pinned source in the cache directory (`$PROVER_CACHE_DIR`, else `$XDG_CACHE_HOME/prover`, else
   `~/.cache/prover`; under `benchmarks/`), made on demand with `git` when `download` is allowed.

A data directory holds the source folders by their shared names (`minif2f-lean4-yangky11/`, …); a directory that
is itself one source folder, or a checkout of the source repository, works too.

Task versions follow lm-eval: bump a task's `version` when its loader, its problem list or its known-wrong list
changes, so results stay comparable.

Examples:
    >>> [t.name for t in list_tasks()][:2]
    ['minif2f-test', 'minif2f-valid']
    >>> problems = load_problems("minif2f-test", limit=3)  # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from benchmarks.loaders import Problem, load_jsonl, load_lean_dir, load_lean_file
from prover.errors import EnvironmentProblem, UsageError

__all__ = [
    "DataLocation",
    "DataSource",
    "Problem",
    "Task",
    "default_cache_dir",
    "get_task",
    "list_tasks",
    "load_problems",
    "locate_data",
]

logger = logging.getLogger(__name__)

GIT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class DataSource:
    """A pinned public source of statements.

    Attributes:
        folder: the folder's name in a data directory (as under `shared/benchmarks/`).
        repo: `owner/name` on GitHub.
        commit: the full commit hash the statements were read at.
        paths: for each path the loaders use (relative to `folder`), the path inside the repository.
        url: the clone URL (default: GitHub's for `repo`).
    """

    folder: str
    repo: str
    commit: str
    paths: Mapping[str, str]
    url: str = ""

    @property
    def clone_url(self) -> str:
        return self.url or f"https://github.com/{self.repo}.git"


@dataclass(frozen=True)
class DataLocation:
    """Where a source's files were found. `repo_layout` is true for a checkout of the repository itself."""

    source: DataSource
    root: Path
    repo_layout: bool = False
    origin: str = ""  # "explicit", "PROVER_DATA", "shared", "cache" or "clone"

    def path(self, rel: str) -> Path:
        """The real path of `rel` (a key of `source.paths`)."""
        return self.root / (self.source.paths[rel] if self.repo_layout else rel)


Loader = Callable[[DataLocation], "list[Problem]"]


@dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        name: registry name (`minif2f-test`); `_` is accepted for `-`.
        version: the task's version (bump on any change to what it loads or counts).
        description: one line for `prover bench ls`.
        source: where the statements come from.
        loader: reads the problems from a located source, in the source's order.
        known_wrong: ids of mis-formalised statements (likely false, vacuous or trivial) and why; results are
            reported with and without them.
        size: how many problems the task has (checked by the tests against PROVENANCE).
        lean: the Lean toolchain the statements were written for.
        notes: caveats worth a line in a report.
    """

    name: str
    version: str
    description: str
    source: DataSource
    loader: Loader = field(repr=False)
    known_wrong: Mapping[str, str] = field(default_factory=dict)
    size: int = 0
    lean: str = ""
    notes: str = ""

    def load(
        self,
        data_dir: Path | str | None = None,
        *,
        limit: int | float | None = None,
        download: bool = True,
        cache_dir: Path | None = None,
    ) -> list[Problem]:
        """The task's problems, tagged with the task name and known-wrong flags; see `load_problems`."""
        location = locate_data(self.source, data_dir, download=download, cache_dir=cache_dir)
        problems = [replace(p, task=self.name, known_wrong=p.id in self.known_wrong) for p in self.loader(location)]
        return apply_limit(problems, limit)


def apply_limit(problems: list[Problem], limit: int | float | None) -> list[Problem]:
    """lm-eval's `--limit`: an int keeps the first N problems, a float in (0, 1) keeps that fraction (rounded up).

    For testing only: a limited run is not comparable with published numbers.
    """
    if limit is None:
        return problems
    if isinstance(limit, float) and not limit.is_integer():
        if not 0.0 < limit < 1.0:
            raise UsageError(f"--limit {limit}: a fraction must lie between 0 and 1")
        return problems[: math.ceil(len(problems) * limit)]
    if limit < 0:
        raise UsageError(f"--limit {limit}: must not be negative")
    return problems[: int(limit)]


# --- data location -------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """`$PROVER_CACHE_DIR`, else `$XDG_CACHE_HOME/prover`, else `~/.cache/prover`."""
    env = os.environ.get("PROVER_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "prover"


def _shared_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"


def _match(source: DataSource, directory: Path, origin: str) -> DataLocation | None:
    """The location of `source` in `directory`, if its files are there in any accepted layout."""
    for root in (directory / source.folder, directory):
        if all((root / rel).exists() for rel in source.paths):
            return DataLocation(source, root, False, origin)
    if all((directory / rel).exists() for rel in source.paths.values()):
        return DataLocation(source, directory, True, origin)
    return None


def _clone_dir(source: DataSource, cache_dir: Path) -> Path:
    return cache_dir / "benchmarks" / f"{source.repo.replace('/', '__')}@{source.commit[:12]}"


def locate_data(
    source: DataSource,
    data_dir: Path | str | None = None,
    *,
    download: bool = True,
    cache_dir: Path | None = None,
) -> DataLocation:
    """Find a source's files (order: explicit dir, `$PROVER_DATA`, `../shared/benchmarks`, cache, clone).

    Raises:
        UsageError: an explicit `data_dir` does not hold the source.
        EnvironmentProblem: the data is nowhere and cannot be cloned (no git, no network, or `download=False`).
    """
    if data_dir is not None:
        found = _match(source, Path(data_dir).expanduser(), "explicit")
        if found is None:
            wanted = ", ".join(sorted(source.paths))
            raise UsageError(f"--data {data_dir}: no {source.folder}/ (with {wanted}) there")
        return found
    candidates = []
    if os.environ.get("PROVER_DATA"):
        candidates.append((Path(os.environ["PROVER_DATA"]).expanduser(), "PROVER_DATA"))
    candidates.append((_shared_dir(), "shared"))
    cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
    candidates.append((_clone_dir(source, cache_dir), "cache"))
    for directory, origin in candidates:
        if directory.is_dir():
            found = _match(source, directory, origin)
            if found is not None:
                return found
            logger.debug("%s (%s) does not hold %s", directory, origin, source.folder)
    if not download:
        raise EnvironmentProblem(
            f"the {source.folder} statements are not on this machine (looked in $PROVER_DATA, {_shared_dir()}, "
            f"{_clone_dir(source, cache_dir)})",
            fix=f"pass --data PATH to a copy of {source.repo} @ {source.commit[:7]}, or allow the download",
        )
    root = clone_pinned(source.clone_url, source.commit, _clone_dir(source, cache_dir))
    found = _match(source, root, "clone")
    if found is None:
        raise EnvironmentProblem(
            f"{source.repo} @ {source.commit[:7]} was cloned to {root} but lacks {', '.join(source.paths.values())}"
        )
    return found


def clone_pinned(url: str, commit: str, dest: Path, *, git: str = "git", timeout: float = GIT_TIMEOUT_S) -> Path:
    """Check out `commit` of the repository at `url` into `dest` (once; later calls return `dest` at once).

    Fetches just that commit (`--depth 1`) and, when the server refuses to serve a commit by hash, the whole
    history. The checkout is built in a sibling temporary folder and renamed into place, so a killed clone never
    leaves a half-filled `dest`.

    Raises:
        EnvironmentProblem: git is missing, the fetch failed (no network, unknown repository or commit), or the
            checkout is not at `commit`.
    """
    if (dest / ".git").is_dir():
        return dest
    exe = shutil.which(git)
    if exe is None:
        raise EnvironmentProblem(
            f"git is needed to download {url} @ {commit[:7]} and is not installed",
            fix="install git (e.g. `apt-get install git`), or pass --data PATH to a copy of the statements",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    in_tmp = [exe, "-C", str(tmp)]
    try:
        _run_git([exe, "init", "-q", str(tmp)], url, commit, timeout)
        try:
            _run_git([*in_tmp, "fetch", "-q", "--depth", "1", url, commit], url, commit, timeout)
        except EnvironmentProblem as exc:
            logger.info("fetching %s by hash failed (%s); fetching the whole history", url, exc)
            _run_git([*in_tmp, "fetch", "-q", url, "+refs/heads/*:refs/remotes/origin/*"], url, commit, timeout)
        _run_git([*in_tmp, "-c", "advice.detachedHead=false", "checkout", "-q", commit], url, commit, timeout)
        head = _run_git([*in_tmp, "rev-parse", "HEAD"], url, commit, timeout).stdout.strip()
        if head != commit:
            raise EnvironmentProblem(f"{url}: the checkout is at {head}, not {commit}")
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / ".git").is_dir():  # not a concurrent clone that won the race
                raise
        logger.info("cloned %s @ %s into %s", url, commit[:7], dest)
        return dest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _run_git(argv: list[str], url: str, commit: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run one git command (no prompts); a failure or a timeout is an EnvironmentProblem naming the source."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(
            f"downloading {url} @ {commit[:7]} took over {timeout:.0f} s",
            fix="check the network, or pass --data PATH to a copy of the statements",
        ) from None
    if done.returncode != 0:
        raise EnvironmentProblem(
            f"could not download {url} @ {commit[:7]}: {_tail(done.stderr) or f'git exited {done.returncode}'}",
            fix="check the network, or pass --data PATH to a copy of the statements",
        )
    return done


def _tail(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else "…" + text[-n:]


# --- sources and tasks ---------------------------------------------------------------------------------------

YANGKY11 = DataSource(
    folder="minif2f-lean4-yangky11",
    repo="yangky11/miniF2F-lean4",
    commit="5746b7d6c47855ce1294bed87329618ff7f1bc31",
    paths=MappingProxyType({"Test": "MiniF2F/Test", "Valid": "MiniF2F/Valid"}),
)
DEEPSEEK = DataSource(
    folder="minif2f-deepseek-prover-v1.5",
    repo="deepseek-ai/DeepSeek-Prover-V1.5",
    commit="2c4ba9119eef74d0d611f494261b2c5bae98c69a",
    paths=MappingProxyType({"minif2f.jsonl": "datasets/minif2f.jsonl"}),
)
GOEDEL_TEST = DataSource(
    folder="minif2f-goedel-prover-v2-test",
    repo="Goedel-LM/Goedel-Prover-V2",
    commit="2e9036e118464aa96a8bebaf9f5b9d091aa3585c",
    paths=MappingProxyType({"minif2f.jsonl": "dataset/minif2f.jsonl"}),
)
MOBENCH = DataSource(
    folder="imo-matholympiadbench-goedel",
    repo="Goedel-LM/Goedel-Prover-V2",
    commit="2e9036e118464aa96a8bebaf9f5b9d091aa3585c",
    paths=MappingProxyType({"MOBench.jsonl": "dataset/MOBench.jsonl"}),
)
SEED = DataSource(
    folder="imo-seed-prover-past-imo",
    repo="ByteDance-Seed/Seed-Prover",
    commit="7d3875a2bd68538d1f98ea62f5c9a56035d33b5f",
    paths=MappingProxyType({"imo_all.lean": "SeedProver/imo_all.lean"}),
)

# Mis-formalised statements, as listed in each source folder's PROVENANCE.md (found by reading, not by Lean).
_NAT_EXP = "a literal exponent like 1/3 elaborates in ℕ, where it is 0"
_YANGKY11_TEST_WRONG = {
    "mathd_algebra_208": f"likely false: {_NAT_EXP}, so the left side is 999, not 900",
    "algebra_cubrtrp1oncubrtreq3_rcubp1onrcubeq5778": "likely false: no 0 ≤ r, and rpow of a negative base differs",
    "mathd_algebra_275": f"vacuous: {_NAT_EXP}, so the hypothesis reads 1 = 1/5",
    "mathd_algebra_314": "trivial: all-ℕ arithmetic, the goal reduces to 0 = 0",
}
_YANGKY11_VALID_WRONG = {
    "mathd_algebra_282": f"likely false: {_NAT_EXP}, so f (8^(1/3)) = f 1 and the sum is 78",
    "amc12a_2020_p13": "likely false: every 1/a is ℕ division = 0, so b = 3 cannot be derived",
}
_KIMINA = "unsolvable as stated; corrected in Kimina-Prover's rectified test set"
_DEEPSEEK_TEST_WRONG = {
    **{
        name: _KIMINA
        for name in (
            "mathd_numbertheory_618",
            "aime_1994_p3",
            "amc12a_2021_p9",
            "mathd_algebra_342",
            "mathd_numbertheory_343",
            "mathd_algebra_158",
            "induction_pord1p1on2powklt5on2",
            "induction_prod1p1onk3le3m1onn",
        )
    },
    "algebra_cubrtrp1oncubrtreq3_rcubp1onrcubeq5778": _YANGKY11_TEST_WRONG[
        "algebra_cubrtrp1oncubrtreq3_rcubp1onrcubeq5778"
    ],
    "mathd_algebra_275": _YANGKY11_TEST_WRONG["mathd_algebra_275"],
    "mathd_algebra_314": _YANGKY11_TEST_WRONG["mathd_algebra_314"],
}
_DEEPSEEK_VALID_WRONG = {
    "mathd_algebra_247": "mis-stated; fixed in DeepSeek-Prover-V2 appendix D",
    "induction_sum_odd": "mis-stated; fixed in DeepSeek-Prover-V2 appendix D",
    **_YANGKY11_VALID_WRONG,
}


def _lean_dir(rel: str, prefix: str | None = None) -> Loader:
    def load(location: DataLocation) -> list[Problem]:
        problems = load_lean_dir(location.path(rel), split=rel.lower())
        return [p for p in problems if prefix is None or p.id.startswith(prefix)]

    return load


def _imo_minif2f(location: DataLocation) -> list[Problem]:
    return _lean_dir("Test", "imo")(location) + _lean_dir("Valid", "imo")(location)


def _jsonl(rel: str, split: str | None = None) -> Loader:
    return lambda location: load_jsonl(location.path(rel), split=split)


def _lean_file(rel: str) -> Loader:
    return lambda location: load_lean_file(location.path(rel))


_MINIF2F_LEAN = "v4.24.0 (Mathlib v4.24.0)"
_DS_LEAN = "4.9.0 (DeepSeek's Mathlib fork 2f65ba7f)"
_OLD_SYNTAX = "Lean 4.9-era statements (`∑ x in s` syntax): re-check that they elaborate on the pinned Mathlib"

_TASKS: tuple[Task, ...] = (
    Task(
        "minif2f-test",
        "1.0",
        "MiniF2F test, maintained Lean 4 port (yangky11 @5746b7d): the primary run target",
        YANGKY11,
        _lean_dir("Test"),
        MappingProxyType(_YANGKY11_TEST_WRONG),
        244,
        _MINIF2F_LEAN,
    ),
    Task(
        "minif2f-valid",
        "1.0",
        "MiniF2F valid, maintained Lean 4 port (yangky11 @5746b7d)",
        YANGKY11,
        _lean_dir("Valid"),
        MappingProxyType(_YANGKY11_VALID_WRONG),
        244,
        _MINIF2F_LEAN,
    ),
    Task(
        "minif2f-deepseek-test",
        "1.0",
        "MiniF2F test as DeepSeek-Prover-V1.5 ships it (the set behind most published whole-proof numbers)",
        DEEPSEEK,
        _jsonl("minif2f.jsonl", "test"),
        MappingProxyType(_DEEPSEEK_TEST_WRONG),
        244,
        _DS_LEAN,
        _OLD_SYNTAX,
    ),
    Task(
        "minif2f-deepseek-valid",
        "1.0",
        "MiniF2F valid as DeepSeek-Prover-V1.5 ships it",
        DEEPSEEK,
        _jsonl("minif2f.jsonl", "valid"),
        MappingProxyType(_DEEPSEEK_VALID_WRONG),
        244,
        _DS_LEAN,
        _OLD_SYNTAX,
    ),
    Task(
        "minif2f-goedel-test",
        "1.0",
        "MiniF2F test with the community fixes (Goedel-Prover-V2's corrected JSONL)",
        GOEDEL_TEST,
        _jsonl("minif2f.jsonl", "test"),
        MappingProxyType({}),
        244,
        _DS_LEAN,
        _OLD_SYNTAX,
    ),
    Task(
        "imo-minif2f",
        "1.0",
        "the IMO problems of MiniF2F test + valid (imo_*, imosl_*; yangky11 @5746b7d)",
        YANGKY11,
        _imo_minif2f,
        MappingProxyType({}),
        40,
        _MINIF2F_LEAN,
    ),
    Task(
        "imo-mobench",
        "1.0",
        "MathOlympiadBench (Goedel-Prover-V2): 158 IMO, 131 IMO shortlist, 42 USAMO, 29 other olympiad problems",
        MOBENCH,
        _jsonl("MOBench.jsonl"),
        MappingProxyType({}),
        360,
        _DS_LEAN,
        _OLD_SYNTAX + "; 255 problems define things before the theorem (in `preamble`); Imo1994P5 declares "
        "`axiom sol_prop`, which its proofs may use (`extra_axioms`)",
    ),
    Task(
        "imo-seed-past",
        "1.0",
        "past IMO problems 1959-2024 as Seed-Prover states them (imo_all.lean, 155 statements)",
        SEED,
        _lean_file("imo_all.lean"),
        MappingProxyType({}),
        155,  # PROVENANCE counts 154 at column 0; imo1971_p1_algebra is indented (the paper says 155)
        "v4.14.0",
        "Lean 4.14-era statements: re-check that they elaborate on the pinned Mathlib",
    ),
)
_BY_NAME = {t.name: t for t in _TASKS}


def list_tasks() -> list[Task]:
    """Every registered task, in registry order."""
    return list(_TASKS)


def get_task(name: str) -> Task:
    """The task called `name` (`_` and `-` are interchangeable, case is ignored).

    Raises:
        UsageError: no such task; the message suggests the closest names.
    """
    key = name.strip().lower().replace("_", "-")
    task = _BY_NAME.get(key)
    if task is not None:
        return task
    close = difflib.get_close_matches(key, _BY_NAME, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UsageError(f"unknown task {name!r}{hint} (`prover bench ls` lists them)")


def load_problems(
    task_name: str,
    data_dir: Path | str | None = None,
    limit: int | float | None = None,
    *,
    download: bool = True,
    cache_dir: Path | None = None,
) -> list[Problem]:
    """Load a task's problems in the source's order.

    Args:
        task_name: a registered task (see `list_tasks`).
        data_dir: a directory holding the statement data (default: `$PROVER_DATA`, `../shared/benchmarks`, cache).
        limit: keep the first N problems (int) or a fraction (float in (0, 1)); for testing only.
        download: clone the pinned source when the data is nowhere on the machine.
        cache_dir: where clones go (default `default_cache_dir()`).

    Returns:
        Problems with `task` set and `known_wrong` flagged.

    Raises:
        UsageError: unknown task, bad limit, or `data_dir` lacking the data.
        EnvironmentProblem: the data is missing and could not be downloaded.

    Examples:
        >>> [p.id for p in load_problems("imo-minif2f", limit=2)]  # doctest: +SKIP
        ['imo_1959_p1', 'imo_1960_p2']
    """
    return get_task(task_name).load(data_dir, limit=limit, download=download, cache_dir=cache_dir)
