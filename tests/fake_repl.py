#!/usr/bin/env python3
"""A FAKE Lean REPL, for tests only: it speaks the real REPL's wire protocol but knows no Lean.

    python tests/fake_repl.py [--transcript X.in | --scenario S.json] [--fault-at N:KIND]... [--header-delay S]
                              [--log FILE] [--wrap]

Framing is the real one (leanprover-community/repl, REPL/Main.lean `getLines` and `loop`, tag v4.24.0):
- a request is every line up to the first whitespace-only line, each line right-trimmed (its newline included) and
  the lines concatenated; the terminating blank line stays at the end of the query;
- EOF before any line: exit 0; a query starting with `#` or `--` is skipped without a reply;
- a query that is not JSON, or matches no request shape, kills the process: `uncaught exception: {"message": ...}`
  on stderr and exit 1 (nothing in `loop`/`main` catches `parse`'s IO.userError);
- each response is pretty-printed JSON over several lines, then a blank line, then a flush.

Modes:
- `--transcript X.in`: the i-th answered request gets the i-th response of X.expected.out, verbatim.
- `--scenario S.json`: a tiny simulated Lean: statements elaborate to `sorry` proof states, tactics step through a
  table keyed by state text, command-mode proofs are replayed through the same table, `#print axioms NAME` answers
  like Lean v4.24.0. The file (examples in tests/scenarios/):

    {"statements": {"NAME": {"goals": ["x : ℕ\n⊢ x + 0 = x"]}            or {"error": "..."} or {"sorries": 2}},
     "tactics": {"<goals joined by blank lines>": {"<tactic>":
         {"goals": [...]}                                        a new state; [] closes the proof
       | {"error": "linarith failed"}                            {"message": "Lean error:\n..."}, no state
       | {"error_with_state": "...", "goals": []}                an error message and a state (contract 3)
       | {"goals": [], "proof_status": "Incomplete: contains metavariable(s)"}
       | {"fault": KIND, ...}}},                                 a fault, then the rest of the entry
     "axioms": {"NAME": ["propext", "sorryAx"]},                 default [propext, Classical.choice, Quot.sound]
     "verify_fails": ["NAME"]}                                   command mode rejects NAME whatever the tactics

  A command text is split into commands, and names resolved, as Lean does (tests/fake_lean.py: `namespace`/`end`
  scopes kept per env, `_root_`, `#print axioms` under `pp.fullNames`, the verifier's `type_of%` guard; a
  `theorem … := sorry` or `theorem t : True := trivial` outside the scenario elaborates).
  Unknown tactics answer `Lean error:\n<input>:1:1: unknown tactic`; `sorry` is built in (it closes the first goal
  and reports a sorry, as the real REPL does).

Faults (`--fault-at N:KIND`, N counting every query read by this process, 1-based; or `{"fault": KIND}` in a
scenario's tactic table): hang, exit137, exit139, exit1, garbage, stderr_flood, huge, slow:SECONDS.
`--wrap` runs the fake as a child of itself and waits for it, the way `lake env repl` does.

Standalone on purpose (standard library only): it starts fast and never imports the code it tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_lean  # noqa: E402  (Lean's lexing and name resolution, for the scenario mode)

SORRY_WARNING = "declaration uses 'sorry'"  # v4.24.0 spelling (v4.28+ uses backticks)
UNKNOWN_TACTIC = "Lean error:\n<input>:1:1: unknown tactic"  # test/unknown_tactic.expected.out
DEFAULT_AXIOMS = ["propext", "Classical.choice", "Quot.sound"]
HUGE_BYTES = 10 * 1024 * 1024
FLOOD_BYTES = 8 * 1024 * 1024
_WS = " \t\r\n"  # Lean's Char.isWhitespace, what String.trim strips


class Fatal(Exception):
    """What the real REPL turns into `uncaught exception: <text>` plus exit 1."""


# --------------------------------------------------------------------------------------------- framing


def read_query(stdin: Any) -> str:
    """REPL/Main.lean `getLines`: lines up to a whitespace-only one, right-trimmed and concatenated."""
    parts: list[str] = []
    while True:
        line: str = stdin.readline().decode("utf-8", errors="replace")
        if not line.strip(_WS):
            return "".join(parts) + line
        parts.append(line.rstrip(_WS))


def pretty(obj: Any) -> str:
    """Multi-line JSON like Lean's width-80 `Json.pretty` output: one top-level key per line, never a blank line."""
    if not isinstance(obj, dict) or not obj:
        return json.dumps(obj, ensure_ascii=False)
    items = [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in obj.items()]
    return "{" + ",\n ".join(items) + "}"


def write_response(obj: Any) -> None:
    write_text(pretty(obj))


def write_text(text: str) -> None:
    """`IO.println json` then `printFlush "\\n"`: the text, a newline, a blank line, a flush."""
    out = sys.stdout.buffer
    out.write(text.encode("utf-8") + b"\n\n")
    out.flush()


def die(message: str) -> None:
    sys.stderr.write("uncaught exception: " + json.dumps({"message": message}, ensure_ascii=False) + "\n")
    sys.stderr.flush()
    os._exit(1)


# ------------------------------------------------------------------------------------------ request shapes


def _is_nat(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _opt(obj: dict[str, Any], key: str, check: Any) -> bool:
    return obj.get(key) is None or check(obj[key])


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def parse_query(query: str) -> tuple[str, dict[str, Any]]:
    """REPL/Main.lean `parse`: the first request shape that decodes wins; unknown keys are ignored."""
    try:
        obj: Any = json.loads(query)
    except ValueError as e:
        raise Fatal(f"Could not parse JSON:\n{e}") from None
    if isinstance(obj, dict):
        if _is_str(obj.get("tactic")) and _is_nat(obj.get("proofState")):
            return "tactic", obj
        if _is_nat(obj.get("env")) and _is_str(obj.get("pickleTo")):
            return "pickle_env", obj
        if _is_str(obj.get("unpickleEnvFrom")):
            return "unpickle_env", obj
        if _is_nat(obj.get("proofState")) and _is_str(obj.get("pickleTo")):
            return "pickle_proof_state", obj
        if _is_str(obj.get("unpickleProofStateFrom")) and _opt(obj, "env", _is_nat):
            return "unpickle_proof_state", obj
        options_ok = (
            _opt(obj, "allTactics", _is_bool) and _opt(obj, "rootGoals", _is_bool) and _opt(obj, "infotree", _is_str)
        )
        if _is_str(obj.get("cmd")) and _opt(obj, "env", _is_nat) and options_ok:
            return "command", obj
        if _is_str(obj.get("path")) and _opt(obj, "env", _is_nat) and options_ok:
            return "file", obj
    raise Fatal("Could not parse as a valid JSON command:\nno request shape matches")


# ------------------------------------------------------------------------------------------------ faults


def run_fault(kind: str) -> str | None:
    """Perform a fault. Returns None (answer normally), "huge" (pad the answer) or "answered"."""
    if kind == "hang":
        while True:
            time.sleep(3600)
    if kind.startswith("exit"):
        code = int(kind[4:])
        if code == 1:
            die("fake REPL: injected failure")
        sys.stderr.write(f"fake REPL: injected exit {code}\n")
        sys.stderr.flush()
        os._exit(code)
    if kind == "garbage":
        write_text("this is not JSON {{{")
        return "answered"
    if kind == "stderr_flood":
        chunk = ("fake REPL stderr flood " * 40 + "\n").encode()
        written = 0
        while written < FLOOD_BYTES:
            sys.stderr.buffer.write(chunk)
            written += len(chunk)
        sys.stderr.flush()
        return None
    if kind == "huge":
        return "huge"
    if kind.startswith("slow:"):
        time.sleep(float(kind[5:]))
        return None
    raise SystemExit(f"fake REPL: unknown fault {kind!r}")


def pad(response: dict[str, Any]) -> dict[str, Any]:
    """Make a legitimate answer about 10 MB big (a trace, an infotree or the error text)."""
    filler = "x" * HUGE_BYTES
    if "proofState" in response:
        return {**response, "traces": [*response.get("traces", []), filler]}
    if "env" in response:
        return {**response, "infotree": [{"kind": "TermInfo", "node": {"expr": filler}, "children": []}]}
    return {"message": response.get("message", "") + filler}


# -------------------------------------------------------------------------------------------- transcripts


def split_responses(text: str) -> list[str]:
    return [part.strip("\n") for part in text.split("\n\n") if part.strip()]


class TranscriptRepl:
    """Answers the i-th request with the i-th recorded response."""

    def __init__(self, path: Path) -> None:
        expected = path.with_name(path.name[: -len(".in")] + ".expected.out")
        self.responses = split_responses(expected.read_text(encoding="utf-8"))
        self.answered = 0

    def answer(self, kind: str, req: dict[str, Any]) -> str | dict[str, Any]:
        if self.answered >= len(self.responses):
            sys.stderr.write("fake REPL: the transcript has no more responses\n")
            sys.stderr.flush()
            os._exit(2)
        self.answered += 1
        return self.responses[self.answered - 1]


# ----------------------------------------------------------------------------------------------- scenario


def _name_key(name: str) -> tuple[int, list[str]]:
    """Lean's `Name.lt` (used by `#print axioms`): shallower names first, then component-wise from the root."""
    parts = name.split(".")
    return len(parts), parts


def axioms_message(name: str, axioms: list[str]) -> str:
    """Lean v4.24.0 `printAxiomsOf` (src/Lean/Elab/Print.lean), with its 120-column wrapping."""
    if not axioms:
        return f"'{name}' does not depend on any axioms"
    ordered = sorted(set(axioms), key=_name_key)
    line = f"'{name}' depends on axioms: [{', '.join(ordered)}]"
    if len(line) <= 120:
        return line
    return f"'{name}' depends on axioms: [" + ",\n ".join(ordered) + "]"


_PRINT_AXIOMS = re.compile(r"^\s*#print\s+axioms\s+(\S+)\s*$")


def _pos(line: int, column: int) -> dict[str, int]:
    return {"line": line, "column": column}


def _msg(severity: str, data: str, line: int = 1, column: int = 0, end: int | None = None) -> dict[str, Any]:
    return {
        "severity": severity,
        "pos": _pos(line, column),
        "endPos": _pos(line, end if end is not None else column),
        "data": data,
    }


class ScenarioRepl:
    """A tiny simulated Lean driven by a JSON table (see the module docstring)."""

    def __init__(self, spec: dict[str, Any], header_delay: float) -> None:
        self.statements: dict[str, dict[str, Any]] = spec.get("statements", {})
        self.tactics: dict[str, dict[str, Any]] = {
            state: {tac.strip(): out for tac, out in table.items()} for state, table in spec.get("tactics", {}).items()
        }
        self.axioms: dict[str, list[str]] = spec.get("axioms", {})
        self.verify_fails = set(spec.get("verify_fails", []))
        self.header_delay = header_delay
        # REPL/Main.lean State: env ids and proof-state ids index two ever-growing arrays.
        self.envs: list[dict[str, bool]] = []  # env id -> declared theorem names -> used sorry
        self.scopes: list[fake_lean.Scope] = []  # env id -> its namespaces, opens, declared types
        self.states: list[dict[str, Any]] = []  # proof-state id -> {"goals", "sorry", "sub"}

    def new_state(self, goals: list[str], *, sorry: bool = False, sub: bool = False) -> int:
        self.states.append({"goals": list(goals), "sorry": sorry, "sub": sub})
        return len(self.states) - 1

    def new_env(self, decls: dict[str, bool], scope: fake_lean.Scope | None = None) -> int:
        self.envs.append(decls)
        self.scopes.append(scope or fake_lean.Scope())
        return len(self.envs) - 1

    def lookup(self, goals: list[str], tactic: str) -> dict[str, Any] | None:
        return self.tactics.get("\n\n".join(goals), {}).get(tactic.strip())

    # -- requests

    def answer(self, kind: str, req: dict[str, Any]) -> dict[str, Any] | str:
        if kind == "tactic":
            return self.tactic(req["tactic"], req["proofState"])
        if kind == "command":
            return self.command(req["cmd"], req.get("env"))
        return {"message": f"fake REPL: {kind} requests are not simulated"}

    def tactic(self, tactic: str, ps: int) -> dict[str, Any] | str:
        if ps >= len(self.states):
            return {"message": "Unknown proof state."}  # REPL/Main.lean runProofStep
        state = self.states[ps]
        goals = state["goals"]
        entry = self.lookup(goals, tactic)
        huge = False
        if entry is not None and "fault" in entry:
            done = run_fault(entry["fault"])
            if done == "answered":
                return "answered"
            huge = done == "huge"
            entry = {k: v for k, v in entry.items() if k != "fault"} or {"error": f"fault {entry['fault']} done"}
        response = self.step(state, tactic, entry)
        return pad(response) if huge else response

    def step(self, state: dict[str, Any], tactic: str, entry: dict[str, Any] | None) -> dict[str, Any]:
        goals = state["goals"]
        sorries: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        status: str | None = None
        used_sorry = state["sorry"]
        if entry is None:
            if tactic.strip() != "sorry" or not goals:
                return {"message": UNKNOWN_TACTIC}
            # test/tactic_mode_sorry.expected.out: the sorry's goal gets its own state (no position), recorded
            # before the step's state (createProofStepReponse records sorries first).
            sorries.append({"proofState": self.new_state(goals[:1], sorry=True, sub=True), "goal": goals[0]})
            new_goals, used_sorry = goals[1:], True
        elif "error" in entry:
            return {"message": "Lean error:\n" + entry["error"]}
        elif "error_with_state" in entry:
            # test/invalid_tactic.expected.out: Lean recovers with sorryAx, answers a state plus an error at 0:0.
            messages.append(_msg("error", entry["error_with_state"], line=0))
            new_goals, used_sorry = entry.get("goals", []), True
        else:
            new_goals = entry.get("goals", [])
            status = entry.get("proof_status")
        if status is None:
            if new_goals:
                status = "Incomplete: open goals remain"
            elif used_sorry:
                status = "Incomplete: contains sorry"
            elif state["sub"]:
                status = "Incomplete: contains metavariable(s)"  # test/name_generator: root proof unassigned
            else:
                status = "Completed"
        ps = self.new_state(new_goals, sorry=used_sorry, sub=state["sub"])
        response: dict[str, Any] = {"proofStatus": status, "proofState": ps, "goals": new_goals}
        if messages:
            response["messages"] = messages
        if sorries:
            response["sorries"] = sorries
        return response

    def command(self, cmd: str, env: int | None) -> dict[str, Any]:
        if env is None:
            # The header (an env-less command builds a fresh environment; `import Mathlib` is slow).
            if self.header_delay:
                time.sleep(self.header_delay)
            return {"env": self.new_env({})}
        if env >= len(self.envs):
            return {"message": "Unknown environment."}  # REPL/Main.lean runCommand
        decls = dict(self.envs[env])
        scope = self.scopes[env].copy()
        messages: list[dict[str, Any]] = []
        sorries: list[dict[str, Any]] = []
        # The text is split into commands, and names resolved, as Lean does (tests/fake_lean.py).
        for command in fake_lean.split_commands(cmd):
            if command.keyword == "#exit":
                break
            self.run_command(command, decls, scope, messages, sorries)
        response: dict[str, Any] = {"env": self.new_env(decls, scope)}
        if messages:
            response["messages"] = messages
        if sorries:
            response["sorries"] = sorries
        return response

    def run_command(
        self,
        command: fake_lean.Command,
        decls: dict[str, bool],
        scope: fake_lean.Scope,
        messages: list[dict[str, Any]],
        sorries: list[dict[str, Any]],
    ) -> None:
        line = command.line
        if command.keyword in ("namespace", "section", "end", "open"):
            error = scope.run_scope_command(command)
            if error:
                messages.append(_msg("error", error, line=line))
            return
        printed = _PRINT_AXIOMS.match(fake_lean.without_comments(command.text))
        if printed:
            written = printed.group(1)
            name = scope.resolve(written, decls)
            if name is None:
                messages.append(_msg("error", f"unknown constant '{written}'", line=line, column=15))
                return
            axioms = list(self.axioms.get(name, self.axioms.get(name.rsplit(".", 1)[-1], DEFAULT_AXIOMS)))
            axioms += scope.axioms.get(name, []) + (["sorryAx"] if decls[name] else [])
            shown = name if command.full_names else written  # pp.fullNames prints the resolved name in full
            messages.append(_msg("info", axioms_message(shown, axioms), line=line, end=len("#print")))
            return
        if fake_lean.is_guard(command.text):
            error = fake_lean.guard_error(command.text, scope)
            if error:
                messages.append(_msg("error", error, line=line))
            return
        decl = fake_lean.declaration(command.text)
        if decl is not None and decl.name:
            self.declaration(decl, line, decls, scope, messages, sorries)
        # anything else (`open … in`, `set_option`, a `def`): accepted silently

    def declaration(
        self,
        decl: fake_lean.Declaration,
        line: int,
        decls: dict[str, bool],
        scope: fake_lean.Scope,
        messages: list[dict[str, Any]],
        sorries: list[dict[str, Any]],
    ) -> None:
        name, full = decl.name, scope.full_name(decl.name)
        name_pos = (line, 0, len(name))
        if full in decls:
            messages.append(_msg("error", f"'{full}' has already been declared", *name_pos))
            return
        spec = self.statements.get(name)
        proof = decl.proof.strip()
        if spec is None:
            if proof == "sorry" or fake_lean.trivially_true(decl):  # the verifier's reference, or a decoy
                decls[full], scope.types[full] = proof == "sorry", decl.signature
                if proof == "sorry":
                    messages.append(_msg("warning", SORRY_WARNING, *name_pos))
                return
            messages.append(_msg("error", f"fake REPL: no statement {name!r} in the scenario", *name_pos))
            return
        if "error" in spec:
            messages.append(_msg("error", spec["error"], *name_pos))
            return
        goals = list(spec.get("goals", []))
        if proof in ("by sorry", "sorry"):
            for _ in range(int(spec.get("sorries", 1))):
                ps = self.new_state(goals)
                sorries.append(
                    {"proofState": ps, "pos": _pos(line, 0), "goal": "\n".join(goals), "endPos": _pos(line, 5)}
                )
            if sorries:
                messages.append(_msg("warning", SORRY_WARNING, *name_pos))
            decls[full], scope.types[full] = True, decl.signature
            return
        tactics = split_tactics(proof[2:] if proof.startswith("by") else "")
        error, used_sorry = self.check_proof(goals, tactics)
        if error is None and name in self.verify_fails:
            error = f"(kernel) declaration type mismatch, '{name}' does not check (fake REPL verify_fails)"
        if error is not None:
            messages.append(_msg("error", error, line, 0))
            return  # the failed declaration is not added
        if used_sorry:
            messages.append(_msg("warning", SORRY_WARNING, *name_pos))
        decls[full], scope.types[full] = used_sorry, decl.signature
        scope.axioms[full] = fake_lean.native_axioms(proof)

    def check_proof(self, goals: list[str], tactics: list[str]) -> tuple[str | None, bool]:
        """Run a command-mode tactic proof through the table: (first error or None, used sorry)."""
        if not tactics:
            return "unsolved goals\n" + "\n\n".join(goals) if goals else "expected a proof", False
        used_sorry = False
        for tactic in tactics:
            entry = self.lookup(goals, tactic)
            if entry is not None and "fault" in entry:
                if run_fault(entry["fault"]) == "answered":
                    return "garbage was answered", False
                entry = {k: v for k, v in entry.items() if k != "fault"} or None
            if entry is None:
                if tactic.strip() == "sorry" and goals:
                    goals, used_sorry = goals[1:], True
                    continue
                return f"unknown tactic {tactic.strip()!r}", used_sorry
            if "error" in entry:
                return entry["error"], used_sorry
            if "error_with_state" in entry:
                return entry["error_with_state"], used_sorry
            goals = entry.get("goals", [])
            status = entry.get("proof_status")
            if not goals and status and "metavariable" in status:
                return "don't know how to synthesize placeholder", used_sorry
        if goals:
            return "unsolved goals\n" + "\n\n".join(goals), used_sorry
        return None, used_sorry


def split_tactics(block: str) -> list[str]:
    """The tactics of a `by` block, one per line at the block's indentation; deeper lines continue a tactic."""
    lines = [line for line in block.split("\n") if line.strip()]
    if not lines:
        return []
    if block.split("\n")[0].strip():  # `by simp` on one line
        return [block.strip()]
    base = len(lines[0]) - len(lines[0].lstrip())
    tactics: list[str] = []
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if indent > base and tactics:
            tactics[-1] += "\n" + line[base:]
        else:
            tactics.append(line.strip())
    return tactics


# ------------------------------------------------------------------------------------- helpers for tests

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def fake_argv(*args: str) -> list[str]:
    """The argv that runs this fake REPL with `args`, e.g. fake_argv("--scenario", "provable")."""
    out = [sys.executable, os.path.abspath(__file__)]
    it = iter(args)
    for arg in it:
        out.append(arg)
        if arg == "--scenario":
            name = next(it)
            out.append(str(SCENARIOS / f"{name}.json") if "/" not in name and not name.endswith(".json") else name)
    return out


def fake_command(*args: str) -> str:
    """`fake_argv` as one shell-quoted string, for `LeanConfig(repl_command=...)`."""
    import shlex

    return shlex.join(fake_argv(*args))


def leftovers(pid: int) -> list[int]:
    """Processes still alive with this pid or in the process group `pid` (zombies count as gone)."""
    import psutil

    alive = []
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if proc.pid == pid or os.getpgid(proc.pid) == pid:
                alive.append(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
    return alive


# ----------------------------------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="A FAKE Lean REPL for tests.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--transcript", type=Path, help="replay X.in's recorded answers from X.expected.out")
    mode.add_argument("--scenario", type=Path, help="simulate Lean from a scenario JSON file")
    parser.add_argument("--fault-at", action="append", default=[], metavar="N:KIND", help="inject a fault at request N")
    parser.add_argument("--header-delay", type=float, default=0.0, help="seconds an env-less command takes")
    parser.add_argument("--log", type=Path, help="append every query read (JSON lines, with this pid)")
    parser.add_argument("--wrap", action="store_true", help="run as a child of this process, like `lake env repl`")
    args = parser.parse_args(argv)
    if args.wrap:
        child = [sys.executable, os.path.abspath(__file__), *(a for a in argv if a != "--wrap")]
        code = subprocess.call(child)
        return 128 - code if code < 0 else code
    faults: dict[int, str] = {}
    for item in args.fault_at:
        n, _, kind = item.partition(":")
        faults[int(n)] = kind
    repl: TranscriptRepl | ScenarioRepl
    if args.transcript is not None:
        repl = TranscriptRepl(args.transcript)
    else:
        spec = json.loads(args.scenario.read_text(encoding="utf-8")) if args.scenario else {}
        repl = ScenarioRepl(spec, args.header_delay)
    log = args.log.open("a", encoding="utf-8") if args.log else None
    stdin = sys.stdin.buffer
    count = 0
    while True:
        query = read_query(stdin)
        if query == "":
            return 0  # EOF: REPL/Main.lean loop returns, exit 0
        count += 1
        if log is not None:
            log.write(json.dumps({"pid": os.getpid(), "n": count, "query": query}, ensure_ascii=False) + "\n")
            log.flush()
        if query.startswith("#") or query.startswith("--"):
            continue  # skipped without a reply
        huge = False
        if count in faults:
            done = run_fault(faults[count])
            if done == "answered":
                continue
            huge = done == "huge"
        try:
            kind, req = parse_query(query)
        except Fatal as e:
            die(str(e))
        answer = repl.answer(kind, req)
        if answer == "answered":
            continue
        if isinstance(answer, str):
            if huge:
                answer = pretty(pad(json.loads(answer)))
            write_text(answer)
        else:
            write_response(pad(answer) if huge else answer)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        os._exit(1)
