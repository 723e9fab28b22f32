"""The `lean` tier for the verifier's Lean-level guard: what tests/fake_lean.py assumes of Lean, checked on the REAL
REPL (skipped without `lake` and a built project; tests/conftest.py gives the reason).

The guard relies on `type_of%` (src/Lean/Parser/Term.lean `typeOf`), `_root_` name resolution, universe
parameters of an `example` header, and `#print axioms` under `pp.fullNames`; none of that could be run where it
was written, so these tests are the first to see it on Lean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from prover.config import DEFAULT_HEADER, LeanConfig
from prover.lean.process import ReplProcess
from prover.lean.statement import Statement
from prover.lean.verifier import Verdict, Verification, check_in_env, verify_proof

pytestmark = pytest.mark.lean

CONFIG = LeanConfig(tactic_timeout=60.0, command_timeout=600.0, verify_timeout=600.0)
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _checks(cases: list[tuple[str, list[str], str | None]]) -> list[Verification]:
    """Each (statement, tactics, preamble command or None) through `check_in_env` on one warm process."""
    process = ReplProcess.from_config(CONFIG, name="lean-tier-verifier")
    await process.start()
    try:
        head = await process.command(DEFAULT_HEADER, env=None, timeout=600)
        assert not hasattr(head, "message"), head
        out = []
        for statement, tactics, preamble in cases:
            env = head.env  # type: ignore[union-attr]
            if preamble is not None:
                env = (await process.command(preamble, env=env, timeout=600)).env  # type: ignore[union-attr]
            out.append(await check_in_env(process, env, Statement.parse(statement), tactics, timeout=600))
        return out
    finally:
        await process.close()


def test_the_guard_on_real_lean() -> None:
    honest, smuggled, poly, namespaced = run(
        _checks(
            [
                ("theorem g1 (x : ℕ) : x + 0 = x := by sorry", ["simp"], None),
                # no text check in front: Lean itself must refuse the decoy in `namespace Foo`
                ("theorem g2 : (2 : ℕ) + 2 = 4 := by sorry",
                 ["decide (native := true)", "namespace Foo", "theorem g2 : (2 : ℕ) + 2 = 4 := by norm_num"], None),
                ("theorem g3 {α : Type*} (a : α) : a = a := by sorry", ["rfl"], None),
                ("theorem g4 : (1 : ℕ) ≤ 2 := by sorry", ["norm_num"], "namespace Olymp"),
            ]
        )
    )
    assert honest.accepted, honest
    assert smuggled.verdict is Verdict.BAD_AXIOMS and "ofReduceBool" in smuggled.details, smuggled
    assert poly.accepted, poly  # universe parameters through `type_of%`
    assert namespaced.accepted, namespaced  # the theorem is Olymp.g4, found through the reference's report


def test_a_fresh_verification_on_real_lean() -> None:
    result = run(verify_proof(Statement.parse("theorem g5 : (3 : ℕ) * 3 = 9 := by sorry"), ["norm_num"],
                              header=DEFAULT_HEADER, config=CONFIG))
    assert result.accepted and result.conclusive, result
