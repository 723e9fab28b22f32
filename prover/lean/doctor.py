"""`prover doctor`: is everything Lean needs here, and if not, which command fixes it.

Without `--repl-cmd` the checks are: `lake` and `lean` (on PATH, or in elan's bin folder, where `make lean` leaves
them), the toolchain against the pin, Mathlib built, the
REPL binary present, the REPL answering a trivial command, and the header's import (timed). With `--repl-cmd` that
command is the whole of Lean, so only what it needs is checked: that its program exists, that it answers, and the
header's import. Every failed check carries the command that fixes it; checks that cannot run because an earlier
one failed are reported as skipped. A last line states the heartbeat limit every tactic gets in tactic mode.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from prover.config import (
    DEFAULT_HEADER,
    REPL_BINARY,
    TACTIC_MODE_HEARTBEATS,
    LeanConfig,
    elan_bin_dir,
    find_lean_program,
    path_fix,
)
from prover.errors import ReplError, UsageError
from prover.lean.process import ReplProcess
from prover.lean.protocol import CommandResponse, ErrorResponse

PINNED_TOOLCHAIN = "leanprover/lean4:v4.24.0"  # shared DESIGN.md, "Pinned versions"; = lean-toolchain
TRIVIAL_COMMAND = "example : 1 = 1 := rfl"
MATHLIB_DIR = Path(".lake/packages/mathlib")
ANSWER_TIMEOUT = 120.0
SLOW_IMPORT_SECONDS = 120.0
GET_LEAN = "make lean"


@dataclass(frozen=True)
class Check:
    """One line of the report. `fix` is the command that resolves a failure ('' when there is none to give)."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class DoctorReport:
    """All checks, in order; `ok` when every one passed."""

    checks: tuple[Check, ...]
    project_dir: Path
    repl_command: str | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def problems(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok and not c.skipped)

    def render(self) -> str:
        """The report as the CLI prints it: one line per check, the fix under each failure, a summary."""
        lean = f"REPL command: {self.repl_command}" if self.repl_command else "REPL: the project's, under `lake env`"
        lines = [f"prover doctor: Lean project {self.project_dir} ({lean})"]
        width = max(len(c.name) for c in self.checks) if self.checks else 0
        for c in self.checks:
            tag = "skip" if c.skipped else "ok" if c.ok else "FAIL"
            lines.append(f"  {tag:<5} {c.name:<{width}}  {c.detail}".rstrip())
            if c.fix and not c.ok and not c.skipped:
                lines.append(f"  {'':<5} {'':<{width}}  fix: {c.fix}")
        if self.ok:
            lines.append("Everything Lean needs is here.")
        else:
            n = len(self.problems)
            lines.append(f"{n} problem{'s' if n != 1 else ''}: run the fix commands in {self.project_dir}, then `prover doctor` again.")
        return "\n".join(lines)


async def run_doctor(config: LeanConfig, header: str = DEFAULT_HEADER) -> DoctorReport:
    """Run every check that applies to `config` (see the module docstring)."""
    project = config.project_dir
    checks: list[Check] = []
    if config.repl_command is None:
        lake, binary = _on_path("lake"), _repl_binary(project)  # the default command finds lake the same way
        checks += [lake, _on_path("lean"), await _toolchain(project), _mathlib(project), binary]
        needed: tuple[Check, ...] = (lake, binary)  # the default command is `lake env <REPL binary>`
        fix = GET_LEAN
    else:
        needed = (_repl_program(config),)
        checks += needed
        fix = "check --repl-cmd (it must speak the Lean REPL protocol on stdin/stdout)"
    blocked = next((c.name for c in needed if not c.ok), None)
    if blocked is not None:
        checks += [
            Check("REPL answers", False, f"skipped: needs {blocked}", skipped=True),
            Check("header import", False, f"skipped: needs {blocked}", skipped=True),
        ]
    else:
        answers = await _repl_answers(config, fix)
        checks.append(answers)
        if answers.ok:
            checks.append(await _header_import(config, header, fix))
        else:
            checks.append(Check("header import", False, "skipped: needs the REPL to answer", skipped=True))
    checks.append(_heartbeats(header))
    return DoctorReport(tuple(checks), project, config.repl_command)


# ------------------------------------------------------------------------------------------- the checks


def _on_path(program: str) -> Check:
    found = find_lean_program(program)
    if found is None:
        return Check(f"{program} on PATH", False, f"not found on PATH nor in {elan_bin_dir()} (Lean is installed with elan)", GET_LEAN)
    path, on_path = found
    if on_path:
        return Check(f"{program} on PATH", True, path)
    # Right after `make lean` on a machine that had no elan (it installs with --no-modify-path): usable as it is.
    return Check(f"{program} on PATH", True, f"{path} (not on PATH; the prover uses it from there; for your shell: {path_fix()})")


def _heartbeats(header: str) -> Check:
    """Not a check but a fact of REPL v4.24.0 a user should know (notes/real-repl-behaviour.md F2)."""
    from prover.lean.env import header_max_heartbeats  # here: env imports the pool, which the doctor does not need
    from prover.lean.statement import split_header

    limit = header_max_heartbeats(split_header(header)[1])
    shown = "none" if limit == 0 else str(limit)
    return Check(
        "tactic heartbeats",
        True,
        f"{TACTIC_MODE_HEARTBEATS} per tactic in tactic mode whatever the header sets (repl #69); the final check uses "
        f"the header's ({shown}); a step that runs out is re-run in command mode",
    )


def _elan_home() -> Path:
    return Path(os.environ.get("ELAN_HOME") or Path.home() / ".elan")


def elan_toolchain_dir(toolchain: str, elan_home: Path) -> Path:
    """Where elan installs a toolchain: `leanprover/lean4:v4.24.0` → toolchains/leanprover--lean4---v4.24.0."""
    return elan_home / "toolchains" / toolchain.replace("/", "--").replace(":", "---")


async def _toolchain(project: Path) -> Check:
    name = "Lean toolchain"
    try:
        pinned = (project / "lean-toolchain").read_text(encoding="utf-8").strip()
    except OSError:
        return Check(name, False, f"no lean-toolchain in {project}", "point --lean-project at the prover's Lean project")
    if pinned != PINNED_TOOLCHAIN:
        return Check(name, False, f"lean-toolchain says {pinned}, the prover is pinned to {PINNED_TOOLCHAIN}",
                     f"echo {PINNED_TOOLCHAIN} > lean-toolchain")
    elan_home = _elan_home()
    if (elan_home / "toolchains").is_dir():
        if elan_toolchain_dir(pinned, elan_home).is_dir():
            return Check(name, True, f"{pinned} (installed by elan)")
        return Check(name, False, f"{pinned} is not installed in {elan_home}", f"elan toolchain install {pinned}")
    found = find_lean_program("lean")
    lean = None if found is None else found[0]
    if lean is None:
        return Check(name, False, f"{pinned}: no Lean installed", GET_LEAN)
    if Path(lean).resolve().is_relative_to(elan_home.resolve()):
        # elan's proxy with no toolchain installed yet: running it would start a download.
        return Check(name, False, f"{pinned} is not installed in {elan_home}", f"elan toolchain install {pinned}")
    # A Lean that elan does not manage: ask it (`lean --version` starts no download and no build).
    version = await _run_quietly([lean, "--version"], project)
    wanted = pinned.rsplit(":v", 1)[-1]
    if version is not None and f"version {wanted}" in version:
        return Check(name, True, version.strip().splitlines()[0])
    seen = version.strip().splitlines()[0] if version else "no answer"
    return Check(name, False, f"{lean} is not Lean {wanted} ({seen})", f"install elan and run {GET_LEAN}")


def _mathlib(project: Path) -> Check:
    name = "Mathlib built"
    package = project / MATHLIB_DIR
    if not package.is_dir():
        return Check(name, False, f"Mathlib is not downloaded ({package} is missing)", GET_LEAN)
    build = package / ".lake" / "build"
    oleans = [build / "lib" / "lean" / "Mathlib.olean", build / "lib" / "Mathlib.olean"]
    if not build.is_dir() or not any(p.is_file() for p in oleans):
        return Check(name, False, f"no Mathlib build in {build}", "lake exe cache get")
    return Check(name, True, str(build))


def _repl_binary(project: Path) -> Check:
    binary = project / REPL_BINARY
    if binary.is_file() and os.access(binary, os.X_OK):
        return Check("REPL binary", True, str(binary))
    return Check("REPL binary", False, f"{binary} is missing", "lake build @REPL/repl")


def _repl_program(config: LeanConfig) -> Check:
    name = "REPL command"
    try:
        argv = config.repl_argv()
    except UsageError as exc:
        return Check(name, False, str(exc), "give --repl-cmd a program and its arguments")
    program = argv[0]
    if os.sep in program:
        path = Path(program) if Path(program).is_absolute() else config.project_dir / program
        found = str(path) if path.is_file() and os.access(path, os.X_OK) else None
    else:
        found = shutil.which(program)
    if found is None:
        return Check(name, False, f"{program!r} is not an executable program (looked on PATH and in {config.project_dir})",
                     "check --repl-cmd")
    return Check(name, True, f"{found} {' '.join(argv[1:])}".strip())


async def _repl_answers(config: LeanConfig, fix: str) -> Check:
    name = "REPL answers"
    try:
        seconds, reply = await _timed_command(config, TRIVIAL_COMMAND, min(config.command_timeout, ANSWER_TIMEOUT))
    except ReplError as exc:
        return Check(name, False, _failure(exc), fix)
    if isinstance(reply, ErrorResponse):
        return Check(name, False, f"{TRIVIAL_COMMAND!r} failed: {reply.message}", fix)
    errors = [m.data for m in reply.messages if m.severity == "error"]
    if errors:
        return Check(name, False, f"{TRIVIAL_COMMAND!r} failed: {errors[0]}", fix)
    return Check(name, True, f"{TRIVIAL_COMMAND!r} checked in {seconds:.1f} s")


async def _header_import(config: LeanConfig, header: str, fix: str) -> Check:
    name = "header import"
    first = next((line for line in header.splitlines() if line.strip()), "(empty header)")
    try:
        seconds, reply = await _timed_command(config, header, config.command_timeout)
    except ReplError as exc:
        return Check(name, False, f"{first}: {_failure(exc)}", fix)
    if isinstance(reply, ErrorResponse):
        return Check(name, False, f"{first}: {reply.message}", fix)
    errors = [m.data for m in reply.messages if m.severity == "error"]
    if errors:
        missing = any(k in e for e in errors for k in ("unknown module", "unknown package", "object file", ".olean"))
        detail = f"{first}: {errors[0].splitlines()[0]}"
        return Check(name, False, detail, "lake exe cache get && lake build" if missing and config.repl_command is None else fix)
    detail = f"{first}: {seconds:.1f} s"
    if seconds > SLOW_IMPORT_SECONDS:
        detail += " (slow: keep the Lean project on a local SSD; lean4 issue #8092)"
    return Check(name, True, detail)


# ------------------------------------------------------------------------------------------------ helpers


async def _timed_command(config: LeanConfig, cmd: str, timeout: float) -> tuple[float, CommandResponse | ErrorResponse]:
    """Run one env-less command in a fresh REPL process; (seconds it took, the reply)."""
    process = ReplProcess.from_config(config, name="doctor")
    try:
        await process.start()
        started = time.monotonic()
        reply = await process.command(cmd, env=None, timeout=timeout)
        return time.monotonic() - started, reply
    finally:
        await process.close()


def _failure(exc: ReplError) -> str:
    tail = exc.stderr_tail.strip().splitlines()[-1:] if exc.stderr_tail else []
    return f"{type(exc).__name__}: {exc}" + (f" (stderr: {tail[0][:200]})" if tail else "")


async def _run_quietly(argv: list[str], cwd: Path, timeout: float = 30.0) -> str | None:
    """stdout of a short command, or None when it fails or takes too long."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, start_new_session=True
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out.decode("utf-8", errors="replace") if proc.returncode == 0 else None

