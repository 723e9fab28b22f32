"""`prover doctor`: on a machine without Lean it names what is missing and the fix; with --repl-cmd pointing at the
FAKE REPL (tests/fake_repl.py) only that command is checked, and it passes."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from pathlib import Path

import pytest

from prover.config import DEFAULT_HEADER, REPL_BINARY, LeanConfig
from prover.lean.doctor import PINNED_TOOLCHAIN, Check, DoctorReport, elan_toolchain_dir, run_doctor

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fake_repl.py"
SCENARIO = ROOT / "tests" / "scenarios" / "provable.json"


def fake_cmd(*args: str | Path) -> str:
    return shlex.join([sys.executable, str(FAKE), *map(str, args)])


def doctor(config: LeanConfig, header: str = DEFAULT_HEADER) -> DoctorReport:
    return asyncio.run(run_doctor(config, header))


def by_name(report: DoctorReport) -> dict[str, Check]:
    return {c.name: c for c in report.checks}


@pytest.fixture
def no_lean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH without lake or lean, and an empty ELAN_HOME, whatever this machine has."""
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    monkeypatch.setenv("ELAN_HOME", str(tmp_path / "elan"))
    return tmp_path


def test_missing_lake_is_reported_with_the_fix(no_lean: Path) -> None:
    report = doctor(LeanConfig(project_dir=ROOT))
    checks = by_name(report)
    assert not report.ok
    assert not checks["lake on PATH"].ok and checks["lake on PATH"].fix == "make lean"
    assert not checks["lean on PATH"].ok
    assert checks["REPL answers"].skipped and checks["header import"].skipped  # nothing to start
    text = report.render()
    assert "FAIL  lake on PATH" in text and "fix: make lean" in text
    assert "skip" in text and "problems" in text


def test_with_repl_cmd_the_fake_repl_is_all_of_lean(no_lean: Path) -> None:
    report = doctor(LeanConfig(project_dir=ROOT, repl_command=fake_cmd("--scenario", SCENARIO)))
    assert report.ok, report.render()
    assert [c.name for c in report.checks] == ["REPL command", "REPL answers", "header import", "tactic heartbeats"]
    assert "import Mathlib" in by_name(report)["header import"].detail
    text = report.render()
    assert "FAIL" not in text and "Everything Lean needs is here." in text
    assert f"REPL command: {report.repl_command}" in text


def test_a_repl_cmd_that_does_not_exist(tmp_path: Path) -> None:
    report = doctor(LeanConfig(project_dir=tmp_path, repl_command="no-such-program-xyz --flag"))
    checks = by_name(report)
    assert not report.ok and not checks["REPL command"].ok and "--repl-cmd" in checks["REPL command"].fix
    assert checks["REPL answers"].skipped and len(report.problems) == 1


def test_a_relative_repl_cmd_is_found_in_the_project(tmp_path: Path) -> None:
    script = tmp_path / "repl.sh"
    script.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE))}\n", encoding="utf-8")
    script.chmod(0o755)
    report = doctor(LeanConfig(project_dir=tmp_path, repl_command="./repl.sh"))
    assert report.ok, report.render()


def test_a_repl_that_dies_at_once(tmp_path: Path) -> None:
    report = doctor(LeanConfig(project_dir=ROOT, repl_command=fake_cmd("--fault-at", "1:exit1")))
    checks = by_name(report)
    assert not checks["REPL answers"].ok and "ReplStartError" in checks["REPL answers"].detail
    assert "injected failure" in checks["REPL answers"].detail  # the stderr tail is shown
    assert checks["header import"].skipped


def test_a_header_that_does_not_import(tmp_path: Path) -> None:
    # A stand-in REPL whose every `import` fails, as a Lean without Mathlib's oleans answers.
    stub = tmp_path / "stub_repl.py"
    stub.write_text(
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    if not line.strip(): continue\n"
        "    cmd = json.loads(line)['cmd']\n"
        "    msgs = [{'severity': 'error', 'pos': {'line': 1, 'column': 0}, 'endPos': None,\n"
        "             'data': \"unknown module prefix 'Mathlib'\\n\\nNo directory 'Mathlib' in the search path\"}]\n"
        "    print(json.dumps({'env': 0, 'messages': msgs} if 'import' in cmd else {'env': 0}) + '\\n', flush=True)\n",
        encoding="utf-8",
    )
    report = doctor(LeanConfig(project_dir=tmp_path, repl_command=shlex.join([sys.executable, "-u", str(stub)])))
    checks = by_name(report)
    assert checks["REPL answers"].ok
    assert not checks["header import"].ok and "unknown module prefix 'Mathlib'" in checks["header import"].detail


def test_the_trivial_command_must_check(tmp_path: Path) -> None:
    path = tmp_path / "t.in"
    path.write_text("", encoding="utf-8")
    (tmp_path / "t.expected.out").write_text('{"message": "Unknown environment."}\n\n', encoding="utf-8")
    report = doctor(LeanConfig(project_dir=ROOT, repl_command=fake_cmd("--transcript", path)))
    assert not by_name(report)["REPL answers"].ok


# ------------------------------------------------------------------------------------ the project checks


def make_project(path: Path, toolchain: str = PINNED_TOOLCHAIN) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "lean-toolchain").write_text(toolchain + "\n", encoding="utf-8")
    return path


def test_toolchain_against_the_pin(no_lean: Path) -> None:
    elan = no_lean / "elan"
    (elan / "toolchains").mkdir(parents=True)
    project = make_project(no_lean / "project")
    toolchain = by_name(doctor(LeanConfig(project_dir=project)))["Lean toolchain"]
    assert not toolchain.ok and toolchain.fix == f"elan toolchain install {PINNED_TOOLCHAIN}"
    elan_toolchain_dir(PINNED_TOOLCHAIN, elan).mkdir()
    assert elan_toolchain_dir(PINNED_TOOLCHAIN, elan).name == "leanprover--lean4---v4.24.0"
    assert by_name(doctor(LeanConfig(project_dir=project)))["Lean toolchain"].ok
    other = make_project(no_lean / "other", "leanprover/lean4:v4.9.0")
    toolchain = by_name(doctor(LeanConfig(project_dir=other)))["Lean toolchain"]
    assert not toolchain.ok and "v4.9.0" in toolchain.detail and PINNED_TOOLCHAIN in toolchain.fix
    missing = by_name(doctor(LeanConfig(project_dir=no_lean / "nowhere")))["Lean toolchain"]
    assert not missing.ok


def test_mathlib_and_the_repl_binary(no_lean: Path) -> None:
    project = make_project(no_lean / "project")
    checks = by_name(doctor(LeanConfig(project_dir=project)))
    assert checks["Mathlib built"].fix == "make lean" and checks["REPL binary"].fix == "lake build @REPL/repl"
    build = project / ".lake" / "packages" / "mathlib" / ".lake" / "build"
    build.mkdir(parents=True)
    assert by_name(doctor(LeanConfig(project_dir=project)))["Mathlib built"].fix == "lake exe cache get"
    (build / "lib" / "lean").mkdir(parents=True)
    (build / "lib" / "lean" / "Mathlib.olean").write_bytes(b"")
    binary = project / REPL_BINARY
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o755)
    checks = by_name(doctor(LeanConfig(project_dir=project)))
    assert checks["Mathlib built"].ok and checks["REPL binary"].ok
    assert checks["REPL answers"].skipped  # lake is still missing


def test_a_lean_outside_elan_is_asked_its_version(no_lean: Path) -> None:
    fake_lean = no_lean / "bin" / "lean"
    fake_lean.write_text("#!/bin/sh\necho 'Lean (version 4.24.0, x86_64-unknown-linux-gnu, Release)'\n", encoding="utf-8")
    fake_lean.chmod(0o755)
    project = make_project(no_lean / "project")
    checks = by_name(doctor(LeanConfig(project_dir=project)))
    assert checks["lean on PATH"].ok and checks["Lean toolchain"].ok, checks["Lean toolchain"]
    fake_lean.write_text("#!/bin/sh\necho 'Lean (version 4.9.0, Release)'\n", encoding="utf-8")
    assert not by_name(doctor(LeanConfig(project_dir=project)))["Lean toolchain"].ok


def test_elans_proxy_without_a_toolchain_is_not_run(no_lean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shims = no_lean / "elan" / "bin"
    shims.mkdir(parents=True)
    marker = no_lean / "ran"
    (shims / "lean").write_text(f"#!/bin/sh\ntouch {shlex.quote(str(marker))}\n", encoding="utf-8")
    (shims / "lean").chmod(0o755)
    monkeypatch.setenv("PATH", str(shims))
    toolchain = by_name(doctor(LeanConfig(project_dir=make_project(no_lean / "project"))))["Lean toolchain"]
    assert not toolchain.ok and toolchain.fix == f"elan toolchain install {PINNED_TOOLCHAIN}"
    assert not marker.exists()  # running elan's proxy would have started a download


def test_render_lists_every_check_once() -> None:
    report = DoctorReport((Check("a", True, "fine"), Check("bb", False, "broken", "fix-it"), Check("c", False, "x", skipped=True)), Path("/p"))
    lines = report.render().splitlines()
    assert lines[1].split() == ["ok", "a", "fine"]
    assert lines[2].split()[:2] == ["FAIL", "bb"] and lines[3].strip() == "fix: fix-it"
    assert lines[4].split()[:2] == ["skip", "c"]
    assert lines[-1].startswith("1 problem:")
    assert not report.ok and report.problems == (report.checks[1],)
    assert os.sep in lines[0]


def _stand_in(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_lake_in_elans_folder_but_not_on_path_is_used_by_doctor_and_the_default_command(no_lean: Path) -> None:
    """Right after `make lean` on a machine that had no elan: lake is in $ELAN_HOME/bin, PATH does not have it
    (notes F3). Doctor must not send the user back to `make lean`, and the default REPL command must work."""
    elan_bin = no_lean / "elan" / "bin"
    # A stand-in `lake`: `lake env PROGRAM` runs the fake REPL (PROGRAM is the project's REPL binary path);
    # it also checks that elan's folder was put on PATH for it, as elan's own proxies expect.
    fake = shlex.join([sys.executable, str(FAKE), "--scenario", str(SCENARIO)])
    _stand_in(elan_bin / "lake", f'case ":$PATH:" in *":{elan_bin}:"*) ;; *) echo "elan bin not on PATH" >&2; exit 9;; esac\nexec {fake}')
    _stand_in(elan_bin / "lean", "echo 'Lean (version 4.24.0)'")
    project = no_lean / "project"
    project.mkdir()
    (project / "lean-toolchain").write_text(PINNED_TOOLCHAIN + "\n", encoding="utf-8")
    _stand_in(project / REPL_BINARY, "exit 1")
    elan_toolchain_dir(PINNED_TOOLCHAIN, no_lean / "elan").mkdir(parents=True)
    olean = project / ".lake/packages/mathlib/.lake/build/lib/lean/Mathlib.olean"
    olean.parent.mkdir(parents=True)
    olean.write_bytes(b"")
    config = LeanConfig(project_dir=project)
    assert config.repl_argv() == [str(elan_bin / "lake"), "env", str(REPL_BINARY)]
    report = doctor(config)
    checks = by_name(report)
    assert checks["lake on PATH"].ok and "export PATH=" in checks["lake on PATH"].detail
    assert checks["lean on PATH"].ok
    assert checks["REPL answers"].ok, report.render()
    assert checks["header import"].ok, report.render()
    assert report.ok and "make lean" not in report.render(), report.render()


def test_doctor_states_the_tactic_mode_heartbeat_limit(no_lean: Path) -> None:
    report = doctor(LeanConfig(project_dir=ROOT, repl_command=fake_cmd("--scenario", SCENARIO)))
    detail = by_name(report)["tactic heartbeats"].detail
    assert "200000 per tactic" in detail and "header's (none)" in detail  # DEFAULT_HEADER: maxHeartbeats 0
