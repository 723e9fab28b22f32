"""Published set-ups of public tactic provers, one `--preset NAME` each (model, prompt, decoding, search shape).

Every value comes from the authors' own code or model card (shared notes, model-formats.md finding 13 and
prover-designs.md §1/§2, benchmarks.md); the `source` of each preset says where. Decoding by beam search is written
as temperature 0 (our backends run beam search of width `width` at T=0). The search priority is
`Σ score / depth^alpha` with the prompt format's score (sum or mean token log-prob), so "sum over the path of mean
token log-probs" is `alpha=0` with a mean-scoring format.

Attempts and budget are those of one published attempt (pass@1). The BFS-Prover numbers are pass@2048 (V1) and
pass@512 (V2) over such attempts: raise `--attempts` and `--budget` together to match them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from prover.models.registry import Registry


@dataclass(frozen=True)
class Preset:
    """One published set-up; `None` fields leave the CLI default."""

    name: str
    model: str
    prompt_format: str
    width: int
    temperature: float
    top_p: float
    max_tokens: int
    alpha: float
    attempts: int
    budget_s: float
    max_expansions: int | None
    source: str

    @property
    def decoding(self) -> str:
        """'beam' (temperature 0, several candidates) or 'sample'."""
        return "beam" if self.temperature <= 0 and self.width > 1 else "sample"

    def settings(self) -> dict[str, Any]:
        """The values a preset sets (for `prover models` and result files)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("name", "source")}
        out["decoding"] = self.decoding
        return out

    def describe(self) -> str:
        """One line: the settings, then the source."""
        s = self
        cap = f", ≤{s.max_expansions} expansions" if s.max_expansions else ""
        temp = "beam search" if s.decoding == "beam" else f"T={s.temperature:g}, top_p={s.top_p:g}"
        return (
            f"{s.model} [{s.prompt_format}] width {s.width}, {temp}, max_tokens {s.max_tokens}, α={s.alpha:g}, "
            f"{s.attempts} attempt(s) × {s.budget_s:g} s{cap} — {s.source}"
        )


PRESETS: Registry[Preset] = Registry("preset")


def _add(preset: Preset) -> None:
    PRESETS.register(preset.name, preset, preset.describe())


_add(
    Preset(
        name="reprover",
        model="kaiyuy/leandojo-lean4-tacgen-byt5-small",
        prompt_format="reprover-byt5",
        width=64,
        temperature=0.0,  # HF beam search, num_beams = num_return_sequences = 64, length_penalty 0
        top_p=1.0,
        max_tokens=512,
        alpha=0.0,  # priority: cumulative (summed) log-prob
        attempts=1,
        budget_s=600.0,
        max_expansions=None,
        source="lean-dojo/ReProver@fd6d99c prover/evaluate.py (--num-sampled-tactics 64, --timeout 600, "
        "--max-oup-seq-len 512), prover/tactic_generator.py",
    )
)
_add(
    Preset(
        name="internlm2.5-step-prover",
        model="internlm/internlm2_5-step-prover",
        prompt_format="internlm2.5-step",
        width=32,
        temperature=0.0,  # "For pass@1 test, beam-search(t=0.0) is often the most performant choice"
        top_p=1.0,
        max_tokens=256,
        alpha=0.0,  # priority: sum over the path of each tactic's mean token log-prob
        attempts=1,
        budget_s=600.0,
        max_expansions=100,
        source="InternLM/InternLM-Math@a4196fa minif2f/proofsearch_internLM2.5-StepProver.py "
        "(--num-samples 32, --temperatures 0.0, max_tokens 256, timeout 600, --max-iters 100)",
    )
)
_add(
    Preset(
        name="bfs-prover-v1",
        model="ByteDance-Seed/BFS-Prover-V1-7B",
        prompt_format="bfs-prover",
        width=2,
        temperature=1.1,
        top_p=1.0,
        max_tokens=2048,  # not stated for V1; V2's Prover default (same family and prompt)
        alpha=0.5,
        attempts=1,
        budget_s=600.0,
        max_expansions=600,
        source="BFS-Prover V1 paper / HF card ByteDance-Seed/BFS-Prover-V1-7B (2048 × 2 × 600, T=1.1, α=0.5)",
    )
)
_add(
    Preset(
        name="bfs-prover-v2",
        model="ByteDance-Seed/BFS-Prover-V2-7B",
        prompt_format="bfs-prover",
        width=4,
        temperature=1.3,
        top_p=1.0,
        max_tokens=2048,
        alpha=2.0,  # depth_reward 2.0: Σ mean log-prob / depth^2
        attempts=1,
        budget_s=600.0,
        max_expansions=None,
        source="zeyu-zheng/BFS-Prover-V2@6118f5f src/search/run_local_search.sh and prover_manager.py "
        "(n_sampling_search 4, T=1.3, top_p 1.0, max_tokens 2048, depth_reward 2.0, 600 s per pass)",
    )
)
_add(
    Preset(
        name="llmstep",
        model="wellecks/llmstep-mathlib4-pythia2.8b",
        prompt_format="goal-proofstep",
        width=32,
        temperature=0.0,  # use_beam_search = temperature == 0.0
        top_p=1.0,
        max_tokens=256,
        alpha=0.0,  # priority: sum of mean token log-probs
        attempts=1,
        budget_s=600.0,
        max_expansions=100,
        source="wellecks/llmstep@03e3171 python/benchmarking/proofsearch/proofsearch.py "
        "(--num-samples 32, beam at T=0, max_tokens 256, --max-iters 100, --timeout 600)",
    )
)


def get_preset(name: str) -> Preset:
    """The preset called `name`; an unknown name raises UsageError with a did-you-mean hint."""
    return PRESETS.get(name)


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description with settings and source) of every preset."""
    return PRESETS.items()
