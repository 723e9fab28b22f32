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
     (any entry may also say "needs": ["double", "open Nat"]   names / `open`s the tactic uses (see below),
                                "heartbeats": N                  what it costs (see below),
                                "kernel_seconds": S              kernel time of the proof it closes (see below))
     "axioms": {"NAME": ["propext", "sorryAx"]},                 default [propext, Classical.choice, Quot.sound]
     "verify_fails": ["NAME"]}                                   command mode rejects NAME whatever the tactics

  A command text is split into commands, and names resolved, as Lean does (tests/fake_lean.py: `namespace`/`end`
  scopes kept per env, `_root_`, `#print axioms` under `pp.fullNames`, the verifier's `type_of%` guard; a
  `theorem … := sorry` or `theorem t : True := trivial` outside the scenario elaborates).
  Unknown tactics answer `Lean error:\n<input>:1:1: unknown tactic`; `sorry` is built in (it closes the first goal
  and reports a sorry, as the real REPL does). A statement may list "aux": ["t.match_1"], auxiliary definitions
  its own elaboration creates.

Rules copied from the real REPL v4.24.0 and Lean (notes/real-repl-behaviour.md F1, F2, F5):
- F1, environments: every command's `def`/`abbrev`/`lemma`/`theorem` names, `open`s and `set_option maxHeartbeats`
  go into the env it produces, and later commands on that env see them. The proof states of a command's sorries
  get the env from BEFORE that command (REPL/Main.lean:312 `sorries trees initialCmdState.env`; REPL/Frontend.lean
  :54-57 `initialCmdState = cmdStateBefore` for a command sent with `env`; REPL/Snapshots.lean:202 replaces the
  whole Environment), and tactic states keep their parent's. A tactic whose "needs" are missing there fails:
  an unknown name is `unknown identifier`, an auxiliary `….match_N` is `unknown constant` (repl #66), a missing
  `open X` is a parse error (the scoped notation lives in the Environment). In command mode the needs are checked
  against the env as the command builds it, so a preamble in the same command counts.
- F2, heartbeats: in tactic mode every tactic gets Lean's default 200000 whatever the header sets (the proof
  snapshot's Core.Context is built without the options: REPL/Snapshots.lean:205, repl #69); in command mode the
  limit is the env's `set_option maxHeartbeats` (0: none). A tactic whose "heartbeats" exceed the limit fails with
  Lean's `(deterministic) timeout` message.
- F5, kernel time: a tactic step that leaves no goals runs `getProofStatus`, which type-checks the whole proof in
  the kernel before answering (REPL/Main.lean:182-225, `addDecl`); a command-mode proof pays the same when its
  declaration is added. "kernel_seconds" is that time, slept in both modes.
  and reports a sorry, as the real REPL does). Command-mode proofs also know `have NAME : TYPE := by sorry` (or
  `:= sorry`, or `:= by` and a deeper block, nested haves included): the `have`'s goal is the main goal's context
  and `⊢ TYPE`, and the main goal gains `NAME : TYPE` as its last hypothesis; every `sorry` of a command becomes a
  `sorries` entry with its own proof state and position (see `ScenarioRepl.check_proof`). A `· tactics` block
  focuses the main goal and must close it, as Lean's `·` does.

Faults (`--fault-at N:KIND`, N counting every query read by this process, 1-based; or `{"fault": KIND}` in a
scenario's tactic table): hang, exit137, exit139, exit1, garbage, stderr_flood, huge, endless, slow:SECONDS.
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
DEFAULT_MAX_HEARTBEATS = 200_000  # Lean's `maxHeartbeats` default (in thousands of heartbeats)


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
    if kind == "endless":  # output that never ends its answer (a runaway trace printer)
        chunk = b"x" * 65536
        while True:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
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


_DECL = re.compile(r"(?:theorem|lemma)\s+([^\s:({\[⦃]+)")
_DEF_LINE = re.compile(r"^(?:noncomputable\s+)?(?:def|abbrev|theorem|lemma|structure|inductive|axiom)\s+([^\s:({\[⦃]+)")
_OPEN_LINE = re.compile(r"^open\s+([^(\n]+)$")
_SET_HEARTBEATS = re.compile(r"^set_option\s+maxHeartbeats\s+(\d+)\s*$")


_HAVE = re.compile(r"have\s+([^\s:]+)\s*:\s*(.+?)\s*:=(.*)\Z", re.S)
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


class FakeEnv:
    """What an env id stands for: declared names (theorem names map to "used sorry"), `open`ed namespaces, and
    the `maxHeartbeats` option in scope."""

    def __init__(
        self, decls: dict[str, bool] | None = None, opens: set[str] | None = None, heartbeats: int = DEFAULT_MAX_HEARTBEATS
    ) -> None:
        self.decls = dict(decls or {})
        self.opens = set(opens or ())
        self.heartbeats = heartbeats

    def copy(self) -> FakeEnv:
        return FakeEnv(self.decls, self.opens, self.heartbeats)

    def missing(self, needs: list[str]) -> str | None:
        """The error of the first need this env lacks (see the module docstring, F1), or None."""
        for need in needs:
            if need.startswith("open "):
                if need[5:].strip() not in self.opens:
                    return "<input>:1:2: unexpected token '!'; expected term"  # a scoped notation that is not active
            elif need not in self.decls:
                if re.search(r"\.match_\d+$", need):
                    return f"unknown constant '{need}'"
                return f"unknown identifier '{need}'"
        return None

    def absorb(self, text: str) -> None:
        """Record what the top-level commands in `text` declare, open and set."""
        for line in text.split("\n"):
            if m := _SET_HEARTBEATS.match(line):
                self.heartbeats = int(m.group(1))
            elif m := _OPEN_LINE.match(line):
                self.opens.update(m.group(1).split())
            elif m := _DEF_LINE.match(line):
                self.decls.setdefault(m.group(1), False)


def heartbeat_error(limit: int) -> str:
    """Lean's message when a tactic runs out of heartbeats (repl #69 quotes it from tactic mode)."""
    return (
        f"(deterministic) timeout at `whnf`, maximum number of heartbeats ({limit}) has been reached\n"
        "Use `set_option maxHeartbeats <num>` to set the limit.\n"
        "Additional diagnostic information may be available using the `set_option diagnostics true` command."
    )


def over_budget(entry: dict[str, Any], limit: int) -> bool:
    return limit != 0 and int(entry.get("heartbeats", 0)) > limit


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
        self.envs: list[FakeEnv] = []
        self.scopes: list[fake_lean.Scope] = []  # env id -> its namespaces, opens, declared types (tests/fake_lean.py)
        self.sorry_env = FakeEnv()  # the env the sorries of the command being elaborated get (F1: the one before it)
        self.states: list[dict[str, Any]] = []  # proof-state id -> {"goals", "sorry", "sub", "env"}

    def new_state(self, goals: list[str], env: FakeEnv, *, sorry: bool = False, sub: bool = False) -> int:
        self.states.append({"goals": list(goals), "sorry": sorry, "sub": sub, "env": env})
        return len(self.states) - 1

    def new_env(self, env: FakeEnv, scope: fake_lean.Scope | None = None) -> int:
        self.envs.append(env)
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
        env: FakeEnv = state["env"]
        if entry is not None:
            missing = env.missing(list(entry.get("needs", [])))
            if missing is not None:  # F1: the state's env is the one from before the statement's command
                return {"message": "Lean error:\n" + missing}
            if over_budget(entry, DEFAULT_MAX_HEARTBEATS):  # F2: tactic mode ignores the header's option
                return {"message": "Lean error:\n" + heartbeat_error(DEFAULT_MAX_HEARTBEATS)}
        if entry is None:
            if tactic.strip() != "sorry" or not goals:
                return {"message": UNKNOWN_TACTIC}
            # test/tactic_mode_sorry.expected.out: the sorry's goal gets its own state (no position), recorded
            # before the step's state (createProofStepReponse records sorries first).
            sorries.append({"proofState": self.new_state(goals[:1], env, sorry=True, sub=True), "goal": goals[0]})
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
        if not new_goals and entry is not None and entry.get("kernel_seconds"):
            time.sleep(float(entry["kernel_seconds"]))  # F5: getProofStatus's kernel check of the whole proof
        ps = self.new_state(new_goals, env, sorry=used_sorry, sub=state["sub"])
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
            fresh = FakeEnv()
            fresh.absorb(cmd)
            return {"env": self.new_env(fresh)}
        if env >= len(self.envs):
            return {"message": "Unknown environment."}  # REPL/Main.lean runCommand
        before = self.envs[env]
        building = before.copy()
        scope = self.scopes[env].copy()
        messages: list[dict[str, Any]] = []
        sorries: list[dict[str, Any]] = []
        # The text is split into commands, and names resolved, as Lean does (tests/fake_lean.py).
        for command in fake_lean.split_commands(cmd):
            if command.keyword == "#exit":
                break
            self.run_command(command, before, building, scope, messages, sorries)
        response: dict[str, Any] = {"env": self.new_env(building, scope)}
        if messages:
            response["messages"] = messages
        if sorries:
            response["sorries"] = sorries
        return response

    def run_command(
        self,
        command: fake_lean.Command,
        before: FakeEnv,
        building: FakeEnv,
        scope: fake_lean.Scope,
        messages: list[dict[str, Any]],
        sorries: list[dict[str, Any]],
    ) -> None:
        """One command of a command text: `before` is the env the text was sent on, `building` the env it makes."""
        line = command.line
        decls = building.decls
        if command.keyword in ("namespace", "section", "end", "open"):
            error = scope.run_scope_command(command)
            if error:
                messages.append(_msg("error", error, line=line))
            building.absorb(command.text)  # an `open` also activates scoped notation (F1)
            return
        printed = _PRINT_AXIOMS.match(fake_lean.without_comments(command.text))
        if printed:
            written = printed.group(1)
            name = scope.resolve(written, decls)
            if name is None:
                messages.append(_msg("error", f"unknown constant '{written}'", line=line, column=15, end=15 + len(written)))
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
            self.declaration(command, decl, before, building, scope, messages, sorries)
            return
        building.absorb(command.text)  # `set_option …`, a `def`, an `abbrev`: accepted silently

    def declaration(
        self,
        command: fake_lean.Command,
        decl: fake_lean.Declaration,
        before: FakeEnv,
        building: FakeEnv,
        scope: fake_lean.Scope,
        messages: list[dict[str, Any]],
        sorries: list[dict[str, Any]],
    ) -> None:
        """Elaborate one `theorem`/`lemma` command (see `run_command`)."""
        body = command.text
        lead = command.line - 1  # lines of the command text before this command
        decls = building.decls
        name, full = decl.name, scope.full_name(decl.name)
        match = _DECL.search(body)
        column = (match.start(1) - (body.rfind("\n", 0, match.start()) + 1)) if match else 0
        name_pos = (1 + lead, column, column + len(name))
        if full in decls:
            messages.append(_msg("error", f"'{full}' has already been declared", *name_pos))
            return
        spec = self.statements.get(name)
        if spec is None:
            proof = decl.proof.strip()
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
        for aux in spec.get("aux", []):  # made while elaborating the statement, so in `building` only
            decls.setdefault(aux, False)
        start = body.find(":=")
        proof = body[start + 2 :].strip() if start >= 0 else ""
        line_of_proof = lead + body[: max(start, 0)].count("\n") + 1
        if proof in ("by sorry", "sorry"):
            for _ in range(int(spec.get("sorries", 1))):
                ps = self.new_state(goals, before)  # F1: the env from before this command
                sorries.append(
                    {
                        "proofState": ps,
                        "pos": _pos(line_of_proof, 0),
                        "goal": "\n".join(goals),
                        "endPos": _pos(line_of_proof, 5),
                    }
                )
            if sorries:
                messages.append(_msg("warning", SORRY_WARNING, *name_pos))
            decls[full], scope.types[full] = True, decl.signature
            return
        tactics = split_tactics(proof[2:] if proof.startswith("by") else "")
        # Every `sorry` token of the command, in source order (the order check_proof meets them in).
        positions = [
            _pos(lead + n + 1, m.start())
            for n, text in enumerate(body.split("\n"))
            for m in re.finditer(r"\bsorry\b", text)
        ]
        self.sorry_env = before  # F1: the proof states of this command's sorries live in the env from before it
        error, used_sorry = self.check_proof(goals, tactics, building, sorries, positions)
        if error is None and name in self.verify_fails:
            error = f"(kernel) declaration type mismatch, '{name}' does not check (fake REPL verify_fails)"
            self.failed_tactic = -1
        if error is not None:
            messages.append(_msg("error", error, *_error_position(body, start, tactics, error, line_of_proof, self.failed_tactic)))
            return  # the failed declaration is not added
        if used_sorry:
            messages.append(_msg("warning", SORRY_WARNING, *name_pos))
        decls[full], scope.types[full] = used_sorry, decl.signature
        scope.axioms[full] = fake_lean.native_axioms(decl.proof)

    def check_proof(
        self,
        goals: list[str],
        tactics: list[str],
        env: FakeEnv,
        sorries: list[dict[str, Any]] | None = None,
        positions: list[dict[str, int]] | None = None,
    ) -> tuple[str | None, bool]:
        """Run a command-mode tactic proof through the table: (first error or None, used sorry).

        `env` is the env the command builds (needs and heartbeats are checked against it). With `sorries`, each
        `sorry` met gets an entry with a new proof state (its goal alone, in `self.sorry_env`) and the next of
        `positions`. REPL v4.24.0 collects one per `sorry` of the command with its goal and position
        (`REPL/Main.lean:312` `sorries trees initialCmdState.env none`); `test/have_by_sorry.expected.out` shows
        the shape: the sorry of `have h : x = 1 := by sorry` sits at the `sorry` token, its goal is
        `x : Int\n⊢ x = 1`, and the main goal continues as `x : Int\nh : x = 1\n⊢ x = x`. Its proof state is a
        command-mode one, like the root's (`sub` False: closing it is `Completed`).
        """
        self.failed_tactic = -1
        if not tactics:
            return "unsolved goals\n" + "\n\n".join(goals) if goals else "expected a proof", False
        used_sorry = False
        kernel = 0.0
        goals = list(goals)

        def hole(goal: str) -> None:
            if sorries is not None:
                entry: dict[str, Any] = {"proofState": self.new_state([goal], self.sorry_env), "goal": goal}
                if positions:
                    at = positions.pop(0)
                    entry.update(pos=at, endPos=_pos(at["line"], at["column"] + 5))
                sorries.append(entry)

        for index, tactic in enumerate(tactics):
            if tactic.startswith("· ") and goals and self.lookup(goals, tactic) is None:
                # Lean's `·` (cdot): the block runs on the main goal alone and must close it (`unsolved goals`).
                block = "\n".join(line[2:] for line in tactic.split("\n"))
                error, sub_sorry = self.check_proof(goals[:1], split_tactics("\n" + block), env, sorries, positions)
                if error is not None:
                    return error, used_sorry
                goals, used_sorry = goals[1:], used_sorry or sub_sorry
                continue
            have = _HAVE.match(tactic.strip())
            if have is not None and goals and self.lookup(goals, tactic) is None:
                name, typ, proof = have.group(1), " ".join(have.group(2).split()), have.group(3).strip()
                cut = goals[0].rfind("⊢")
                context = "\n".join(
                    line for line in goals[0][:cut].rstrip("\n").split("\n") if line and not line.startswith("case ")
                )
                sub_goal = f"{context}\n⊢ {typ}" if context else f"⊢ {typ}"
                if proof in ("sorry", "by sorry"):
                    hole(sub_goal)
                    used_sorry = True
                elif proof.startswith("by"):
                    error, sub_sorry = self.check_proof([sub_goal], split_tactics(proof[2:]), env, sorries, positions)
                    if error is not None:
                        return error, used_sorry
                    used_sorry = used_sorry or sub_sorry
                else:
                    return "fake REPL: only tactic proofs of a `have` are simulated", used_sorry
                goals[0] = f"{goals[0][:cut]}{name} : {typ}\n{goals[0][cut:]}"
                continue
            entry = self.lookup(goals, tactic)
            if entry is not None and "fault" in entry:
                if run_fault(entry["fault"]) == "answered":
                    return "garbage was answered", False
                entry = {k: v for k, v in entry.items() if k != "fault"} or None
            self.failed_tactic = index
            if entry is None:
                if tactic.strip() == "sorry" and goals:
                    hole(goals[0])
                    goals, used_sorry = goals[1:], True
                    continue
                if tactic.strip() == "all_goals sorry":  # a no-op without goals
                    for goal in goals:
                        hole(goal)
                    goals, used_sorry = [], used_sorry or bool(goals)
                    continue
                return f"unknown tactic {tactic.strip()!r}", used_sorry
            missing = env.missing(list(entry.get("needs", [])))
            if missing is not None:
                return missing, used_sorry
            if over_budget(entry, env.heartbeats):  # command mode honours the option in scope
                return heartbeat_error(env.heartbeats), used_sorry
            if "error" in entry:
                return entry["error"], used_sorry
            if "error_with_state" in entry:
                return entry["error_with_state"], used_sorry
            kernel += float(entry.get("kernel_seconds", 0))
            goals = entry.get("goals", [])
            status = entry.get("proof_status")
            if not goals and status and "metavariable" in status:
                return "don't know how to synthesize placeholder", used_sorry
        if goals:
            return "unsolved goals\n" + "\n\n".join(goals), used_sorry
        if kernel:
            time.sleep(kernel)  # F5: the declaration's kernel check
        return None, used_sorry


def _error_position(
    body: str, start: int, tactics: list[str], error: str, line_of_proof: int, index: int
) -> tuple[int, int, int]:
    """(line, column, end column) of a command-mode proof error. Lean reports a failing tactic's error at that
    tactic's syntax, and `unsolved goals` at the `by` block (Lean/Elab/Tactic/BuiltinTactic.lean `evalTacticSeq`,
    Lean/Elab/Term.lean `reportUnsolvedGoals`); the REPL passes Lean's positions through (REPL/JSON.lean
    `Message.of`: `pos`, `endPos`, lines 1-based, columns 0-based, counted in the command text)."""
    if error.startswith("unsolved goals") or index < 0 or start < 0:
        return line_of_proof, 0, 0
    offset = start
    for i, tactic in enumerate(tactics[: index + 1]):  # each tactic's first line, in order, after the previous one
        first = tactic.split("\n", 1)[0]
        found = body.find(first, offset)
        if found < 0:
            return line_of_proof, 0, 0
        offset = found if i == index else found + len(first)
    line = body[:offset].count("\n") + 1
    column = offset - (body.rfind("\n", 0, offset) + 1)
    return line, column, column + len(tactics[index].split(" ", 1)[0].split("\n", 1)[0])


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
    parser.add_argument("--stdout-noise", help="print this (and a blank line) on stdout first, as a `lake env` could")
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
    if args.stdout_noise:
        sys.stdout.buffer.write(args.stdout_noise.encode("utf-8") + b"\n\n")
        sys.stdout.buffer.flush()
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
