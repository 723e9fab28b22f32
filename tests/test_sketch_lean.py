"""Sketch elaboration against the FAKE REPL: holes with proof states and positions, stitching, the final verifier."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fake_repl import fake_command
from prover.config import LeanConfig
from prover.lean.pool import ReplPool
from prover.lean.sketch import LeanSketchChecker
from prover.lean.statement import Statement
from prover.lean.verifier import Verdict, verify_proof
from search.config import SearchConfig
from search.outcomes import ProofFinished
from search.proof_testing import ScriptedProofPolicy, fixed_bodies
from search.proofs import ProofRequest, split_steps
from search.protocols import Candidate
from search.scheduler import run_routes
from search.sketch import SketchConfig, SketchRoute, stitch

ROOT = Path(__file__).resolve().parent.parent
HEADER = "import Mathlib"
SK = "theorem sk (x y : ℕ) (h₀ : x + y = 5) (h₁ : x = 2) : y = 3 := by sorry"
CONTEXT = "x y : ℕ\nh₀ : x + y = 5\nh₁ : x = 2"
NESTED = "have h₂ : 2 + y = 5 := by sorry\nhave h₃ : y = 3 := by\n  have h₄ : y + 2 = 5 := by sorry\n  omega\nexact h₃"


def config() -> LeanConfig:
    return LeanConfig(project_dir=ROOT, repl_command=fake_command("--scenario", "sketch"), workers=1)


class FixedPolicy:
    """Proposes the same tactics everywhere (the fake's table decides what works)."""

    async def propose(self, requests, sampling):  # type: ignore[no-untyped-def]
        return [[Candidate("omega", -0.1), Candidate("exact h₃", -0.2)] for _ in requests]


def test_a_nested_sketch_gives_one_hole_per_sorry_with_its_context() -> None:
    async def go() -> None:
        async with ReplPool(config(), HEADER) as pool:
            checker = LeanSketchChecker(pool, Statement.parse(SK))
            elaboration = await checker.elaborate(NESTED)
            assert elaboration.accepted, elaboration.reason
            holes = elaboration.holes
            assert [(h.line, h.column) for h in holes] == [(0, 26), (2, 28)]
            assert holes[0].goal == f"{CONTEXT}\n⊢ 2 + y = 5"
            assert holes[1].goal == f"{CONTEXT}\nh₂ : 2 + y = 5\n⊢ y + 2 = 5"  # the nested have sees h₂
            assert holes[1].env is not None
            assert isinstance(await holes[1].env.run_tac(holes[1].state, "omega"), ProofFinished)
            stitched = stitch(NESTED, holes, [["omega"], ["omega"]])
            assert "sorry" not in stitched
            verdict = await verify_proof(Statement.parse(SK), split_steps(stitched), header=HEADER, config=config(), original=SK)
            assert verdict.verdict is Verdict.VERIFIED, verdict

            bad = await checker.elaborate("have h₂ : 2 + y = 5 := by sorry\nbogus_tactic")
            assert not bad.accepted and "bogus_tactic" in bad.reason and bad.messages

    asyncio.run(go())


def test_the_route_on_lean_proves_rejects_and_reports_why() -> None:
    unprovable = "have h₂ : 2 + y = 5 := by sorry\nhave h₅ : y = 4 := by sorry\nomega"

    async def go(statement_text: str, bodies: list[str | None]) -> tuple[object, SketchRoute]:
        statement = Statement.parse(statement_text)
        async with ReplPool(config(), HEADER) as pool:
            route = SketchRoute(
                planner=ScriptedProofPolicy(fixed_bodies(bodies)),
                checker=LeanSketchChecker(pool, statement),
                policy=FixedPolicy(),
                request=ProofRequest(statement.name, HEADER, statement_text),
                search_config=SearchConfig(budget_s=10),
                config=SketchConfig(sketches=len(bodies)),
            )

            async def verify(proof: tuple[str, ...]) -> bool:
                result = await verify_proof(statement, proof, header=HEADER, config=config(), original=statement_text)
                return result.verdict is Verdict.VERIFIED

            result = await run_routes([route], deadline=time.monotonic() + 30, verify=verify)
            return result, route

    result, route = asyncio.run(go(SK, ["have h₂ : 2 + y = 5 := by sorry\nbogus_tactic", unprovable, NESTED]))
    assert result.proved and result.kind == "sketch"  # type: ignore[attr-defined]
    assert [r.status for r in route.records] == ["not_elaborated", "hole_failed", "proved"]
    assert route.stats()["holes_proved"] >= 3
    # A closing step the final verifier refuses after every hole is proved (here: an axiom outside the whitelist).
    text = SK.replace("theorem sk", "theorem sk_axiom")
    result, route = asyncio.run(go(text, [NESTED]))
    assert not result.proved  # type: ignore[attr-defined]
    assert [(r.status, r.reason) for r in route.records] == [("rejected", "the stitched proof failed the verifier")]


# ---- from the CLI: a planner behind an OpenAI-compatible server, the portfolio proving the holes ----------------

from tests.test_chat_models import chat_server  # noqa: E402,F401  (fixture)
from tests.test_cli import repl_cmd, run_cli  # noqa: E402

DEEPSEEK_OUTPUT = (
    "### Detailed Proof and Analysis\nx = 2, so y = 3.\n\n### Lean 4 Proof with `have` Statements\n```lean4\n"
    f"import Mathlib\n\ntheorem sk (x y : ℕ) (h₀ : x + y = 5) (h₁ : x = 2) : y = 3 := by\n"
    + "\n".join(f"  {line}" for line in NESTED.splitlines())
    + "\n```\n\n### Complete Lean 4 Proof\n```lean4\ntheorem sk (x y : ℕ) (h₀ : x + y = 5) (h₁ : x = 2) : y = 3 := by\n"
    "  linarith\n```"
)


def test_prove_with_a_planner_from_the_cli(chat_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url, server = chat_server
    server.replies = [DEEPSEEK_OUTPUT]
    args = ["prove", SK, "--repl-cmd", repl_cmd("sketch.json"), "--json", "--budget", "60", "--tactic-timeout", "2",
            "--cache", str(tmp_path / "proofs.db"), "--planner", "deepseek-ai/DeepSeek-Prover-V2-7B",
            "--planner-generator", "openai", "--planner-args", f"base_url={url},backoff=0.01", "--sketches", "1"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout)
    assert out["status"] == "proved" and out["route"] == "sketch" and out["verdict"] == "verified"
    assert out["proof"].startswith("have h₂ : 2 + y = 5 := by omega\nhave h₃ : y = 3 := by\n  have h₄")
    sketch = out["sketch"]
    assert sketch["sketches_tried"] == 1 and sketch["holes_proved"] == 2 and sketch["cache_hits"] == 0
    assert sketch["sketches"][0]["holes"][1]["goal"].endswith("⊢ y + 2 = 5")
    # The DeepSeek sketch block was asked for with the model's own CoT prompt.
    assert "detailed proof plan" in server.bodies[0]["messages"][-1]["content"]
    bad = run_cli("prove", SK, "--planner-generator", "openai", "--no-cache")
    assert bad.returncode == 2 and "need --planner" in bad.stderr
