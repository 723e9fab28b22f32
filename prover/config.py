"""Typed configuration of the Lean side. Run-level settings of the search live in `search.config`.

One object is built (by the CLI or by a caller) and passed down; nothing reads module globals.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from prover.errors import UsageError

# The header a worker imports once when the user gives none: byte for byte what every yangky11 MiniF2F file starts
# with (@5746b7d: six lines, the last one blank), so a bare statement and a MiniF2F problem share warm workers and
# proof-cache keys (notes/real-repl-behaviour.md F10).
DEFAULT_HEADER = "import Mathlib\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"

# What every tactic gets in tactic mode, whatever the header sets: the REPL's proof snapshots take Lean's default
# `maxHeartbeats` (REPL/Snapshots.lean:205 stores `readThe Core.Context`, which `ContextInfo.runCoreM` builds without
# the options; repl #69, fixed only in the untagged c813d97). Command mode (the final check) honours the header.
TACTIC_MODE_HEARTBEATS = 200_000

# Where `lake build` puts the REPL binary when the REPL is a dependency named `REPL` of the Lean project.
REPL_BINARY = Path(".lake/packages/REPL/.lake/build/bin/repl")


def elan_bin_dir() -> Path:
    """Where elan puts its `lake`/`lean` proxies: `$ELAN_HOME/bin`, default `~/.elan/bin`."""
    return Path(os.environ.get("ELAN_HOME") or Path.home() / ".elan") / "bin"


def find_lean_program(name: str) -> tuple[str, bool] | None:
    """`lake` or `lean`: (its path, whether it is on PATH), looking on PATH first, then in elan's bin folder.

    `make lean` installs elan with `--no-modify-path`, so right after it the programs are in `~/.elan/bin` but not
    on the user's PATH (notes/real-repl-behaviour.md F3); the prover finds and uses them there.
    """
    found = shutil.which(name)
    if found:
        return found, True
    candidate = elan_bin_dir() / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate), False
    return None


def path_fix() -> str:
    """The shell line that puts elan's programs on PATH for later shells."""
    bin_dir = elan_bin_dir()
    home = str(Path.home())
    shown = "$HOME" + str(bin_dir)[len(home):] if str(bin_dir).startswith(home + os.sep) else str(bin_dir)
    return f'export PATH="{shown}:$PATH"'


def default_project_dir() -> Path:
    """The Lean project: `$PROVER_LEAN_PROJECT`, else the checkout this package runs from, else the cwd."""
    env = os.environ.get("PROVER_LEAN_PROJECT")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "lakefile.lean").is_file():
        return checkout
    return Path.cwd()


@dataclass(frozen=True)
class LeanConfig:
    """How to start and police Lean REPL processes.

    Args:
        project_dir: the Lean project (holds `lean-toolchain`, the lakefile and `.lake/`); the REPL runs there.
        repl_command: an argv string (split with `shlex`, run without a shell, cwd = `project_dir`). Any program
            that speaks the REPL protocol works. None means the project's REPL binary under `lake env`.
        tactic_timeout: wall-clock seconds for one tactic request.
        command_timeout: wall-clock seconds for a command request (the header import, a statement).
        verify_timeout: wall-clock seconds for the final whole-proof check.
        workers: REPL processes kept warm per header.
        max_rss_mb: recycle a process whose resident memory exceeds this (None: no ceiling).
        memory_limit_mb: hard address-space limit (RLIMIT_AS) per process (None: none; Lean maps its .olean
            files, so keep this well above the RSS ceiling).
        max_proof_states: recycle a process after it has created this many proof states.
        lean_num_threads: `LEAN_NUM_THREADS` for each process (None: Lean's default).
        acquire_timeout: seconds to wait for a free pooled worker.
        timeout_rechecks: per problem, how many tactics that timed out are re-run once in command mode under
            `verify_timeout` (the closing step's kernel check of the whole proof counts against the tactic timeout in
            tactic mode, REPL/Main.lean:182-225; notes/real-repl-behaviour.md F5). A tactic that really loops costs
            that much more, hence a small number.
        max_response_mb: the largest answer accepted from a REPL (an infotree or a trace can reach tens of MB; a
            process that writes more without ending its answer is killed: "response too large").
    """

    project_dir: Path = field(default_factory=default_project_dir)
    repl_command: str | None = None
    tactic_timeout: float = 10.0
    command_timeout: float = 300.0
    verify_timeout: float = 300.0
    workers: int = 1
    max_rss_mb: int | None = 12_000
    memory_limit_mb: int | None = None
    max_proof_states: int = 20_000
    lean_num_threads: int | None = 1
    acquire_timeout: float = 600.0
    max_response_mb: int = 512
    timeout_rechecks: int = 1

    def repl_argv(self) -> list[str]:
        """The argv that starts one REPL process."""
        if self.repl_command is not None:
            try:
                argv = shlex.split(self.repl_command)
            except ValueError as exc:  # an unbalanced quote
                raise UsageError(f"--repl-cmd {self.repl_command!r} is not a valid command line: {exc}") from None
            if not argv:
                raise UsageError("--repl-cmd is empty")
            return argv
        found = find_lean_program("lake")
        return [found[0] if found else "lake", "env", str(REPL_BINARY)]

    def repl_environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a REPL process: `base` (default this process's), with elan's bin folder on PATH when
        the default command runs elan's `lake` from there (so that `lean` and `git` resolve for it as in a shell
        where elan is set up)."""
        env = dict(os.environ if base is None else base)
        if self.repl_command is None:
            found = find_lean_program("lake")
            if found is not None and not found[1]:
                env["PATH"] = os.pathsep.join([str(Path(found[0]).parent), env.get("PATH", "")]).rstrip(os.pathsep)
        return env

    def with_(self, **changes: object) -> LeanConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]  # dataclasses.replace is untyped on **kwargs
