"""Options and helpers shared by the commands that start Lean or a model."""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from prover.config import LeanConfig, default_project_dir
from prover.errors import UsageError
from search import SearchConfig

def default_cache_path() -> Path:
    """`$PROVER_CACHE`, else `$XDG_CACHE_HOME/prover/proofs.sqlite` (default `~/.cache/prover/proofs.sqlite`)."""
    env = os.environ.get("PROVER_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "prover" / "proofs.sqlite"


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


# Options shared by the commands that start Lean or a model.
ReplCmd = Annotated[
    str | None,
    typer.Option("--repl-cmd", help="Program that speaks the REPL protocol (argv string, no shell). Default: the project's REPL under `lake env`."),
]
LeanProject = Annotated[
    Path | None, typer.Option("--lean-project", help="Lean project directory (lean-toolchain, lakefile, .lake/).")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Model name or local path (or a generator name such as `portfolio`).")
]
GeneratorOpt = Annotated[
    str | None, typer.Option("--generator", "-g", help="Tactic generator backend: portfolio, hf, vllm, openai (see `prover models`).")
]
PromptFormatOpt = Annotated[str | None, typer.Option("--prompt-format", help="Prompt adapter (default: chosen by model name).")]
ModelArgsOpt = Annotated[
    list[str] | None, typer.Option("--model-args", help="Backend option key=value (repeatable, or comma-separated).")
]
CommandTimeoutOpt = Annotated[
    float,
    typer.Option("--command-timeout", help="Seconds for one Lean command (the header import, a statement); clipped to the budget.", min=0.001),
]
VerifyTimeoutOpt = Annotated[
    float, typer.Option("--verify-timeout", help="Seconds for the final check of a proof; clipped to the budget.", min=0.001)
]
# The sketch planner (sketch-and-fill, `prover.sketching`).
PlannerOpt = Annotated[
    str | None, typer.Option("--planner", help="Chat model that writes `have … := by sorry` sketches (name or local path); holes are proved by the tactic search.")
]
PlannerGeneratorOpt = Annotated[
    str | None, typer.Option("--planner-generator", help="Planner backend: hf, vllm, openai (default hf).")
]
PlannerArgsOpt = Annotated[
    list[str] | None, typer.Option("--planner-args", help="Planner backend option key=value (repeatable, or comma-separated).")
]
PlannerPromptFormatOpt = Annotated[
    str | None, typer.Option("--planner-prompt-format", help="Planner prompt: sketch (any chat model) or deepseek-v2-sketch (default: by model name).")
]
SplitGoalsOpt = Annotated[
    bool, typer.Option("--split-goals", help="Prove goals that share no metavariable apart (AND nodes), combined with `·`.")
]
SketchesOpt = Annotated[int, typer.Option("--sketches", help="Sketches asked of the planner per round.", min=1)]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging on stderr (-vv for debug).")]

# Search and decoding options default to None so that a --preset can tell what the user set explicitly; the
# built-in defaults (SearchConfig's) are named in the help.
_D = SearchConfig()
PresetOpt = Annotated[
    str | None,
    typer.Option("--preset", help="A published set-up (model, prompt, width, decoding, α, budget); explicit flags override it. See `prover models`."),
]
BudgetOpt = Annotated[float | None, typer.Option("--budget", help=f"Wall-clock seconds per problem, everything included (default {_D.budget_s:g}).", min=0.1)]
WidthOpt = Annotated[int | None, typer.Option("--width", help=f"Tactics sampled per expansion (default {_D.width}).", min=1)]
AlphaOpt = Annotated[float | None, typer.Option("--alpha", help=f"Depth normalisation: priority = Σ log p / depth^α (default {_D.alpha:g}).", min=0.0)]
AttemptsOpt = Annotated[int | None, typer.Option("--attempts", help=f"Split the budget into this many attempts (seeds / α) (default {_D.attempts}).", min=1)]
TemperatureOpt = Annotated[float | None, typer.Option("--temperature", help=f"Sampling temperature; 0 means beam search of --width beams (default {_D.temperature:g}).", min=0.0)]
TopPOpt = Annotated[float | None, typer.Option("--top-p", help=f"Nucleus sampling mass (default {_D.top_p:g}).", min=0.0, max=1.0)]
MaxTokensOpt = Annotated[int | None, typer.Option("--max-tokens", help=f"Most tokens per tactic; longer samples are dropped (default {_D.max_tokens}).", min=1)]
# Whole-proof options (issue 11), shared by `prove` and `bench run`.
ProofModelOpt = Annotated[
    str | None, typer.Option("--proof-model", help="Whole-proof chat model (Goedel-Prover-V2, DeepSeek-Prover-V2, Kimina, any instruction model): name or local path.")
]
ProofGeneratorOpt = Annotated[str, typer.Option("--proof-generator", help="Backend of the proof model: hf, vllm, openai (/v1/chat/completions).")]
ProofModelArgsOpt = Annotated[
    list[str] | None, typer.Option("--proof-model-args", help="Proof-model backend option key=value (e.g. base_url=…, timeout=1800).")
]
ProofPromptFormatOpt = Annotated[
    str | None, typer.Option("--proof-prompt-format", help="deepseek-v2-cot, deepseek-v2, goedel-v2, kimina-preview, kimina-2025, chat (default: by model name).")
]
ProofSamplesOpt = Annotated[int, typer.Option("--proof-samples", help="Whole proofs sampled in the first round.", min=1)]
RepairRoundsOpt = Annotated[
    int | None, typer.Option("--repair-rounds", help="Compiler-feedback repair rounds R (default: the model's own; Goedel 2).", min=0)
]
ProofMaxTokensOpt = Annotated[
    int | None, typer.Option("--proof-max-tokens", help="Tokens per whole proof (default: the model's published setting).", min=1)
]
WholeOnlyOpt = Annotated[
    bool, typer.Option("--whole-only", help="Whole-proof sampling alone, every sample checked (pass@k reproduction); no tactic search.")
]


# A comma separates two options only where a new `key=` follows, so that a value may itself be a comma-separated
# list: `tactics=norm_num,linarith,temperature=1.2` is {tactics: "norm_num,linarith", temperature: "1.2"}.
_NEXT_KEY = re.compile(r",(?=\s*[A-Za-z_][\w.\-]*\s*=)")


def parse_key_values(items: list[str] | None) -> dict[str, str]:
    """`["a=1,b=2", "c=x,y"]` → `{"a": "1", "b": "2", "c": "x,y"}`; a malformed item is a usage error."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in _NEXT_KEY.split(item):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--model-args expects key=value, got {part!r}")
            out[key.strip()] = value.strip()
    return out


def search_and_model(
    preset: str | None,
    model: str | None,
    prompt_format: str | None,
    **flags: Any,
) -> tuple[SearchConfig, str | None, str | None]:
    """The SearchConfig, model and prompt format from a preset (if any) and the flags given explicitly.

    `flags` are SearchConfig fields; a None value was not given. Precedence: explicit flag, then the preset,
    then SearchConfig's default.
    """
    values: dict[str, Any] = {}
    if preset is not None:
        from prover.models.presets import get_preset

        chosen = get_preset(preset)
        values = {
            "budget_s": chosen.budget_s, "width": chosen.width, "alpha": chosen.alpha, "attempts": chosen.attempts,
            "temperature": chosen.temperature, "top_p": chosen.top_p, "max_tokens": chosen.max_tokens,
            "max_expansions": chosen.max_expansions,
        }
        model = model if model is not None else chosen.model
        prompt_format = prompt_format if prompt_format is not None else chosen.prompt_format
    values.update({k: v for k, v in flags.items() if v is not None})
    return SearchConfig(**values), model, prompt_format
def output_dir(path: Path, option: str) -> Path:
    """A folder a command writes into, created if missing; a file in its place or one it cannot create is bad input."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot create it ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path} is not writable")
    return path


def planner_config(
    planner: str | None,
    generator: str | None,
    args: list[str] | None,
    prompt_format: str | None,
    sketches: int = 4,
) -> Any:
    """The PlannerConfig from the planner options (None without `--planner`); bad combinations are usage errors."""
    if planner is None:
        if generator or args or prompt_format:
            raise UsageError("--planner-generator, --planner-args and --planner-prompt-format need --planner NAME")
        return None
    from prover.models.chat import CHAT_GENERATORS
    from prover.models.sketch_prompts import planner_format_for
    from prover.sketching import PlannerConfig

    if generator is not None and generator not in CHAT_GENERATORS:
        raise UsageError(f"unknown planner generator '{generator}'; known: {', '.join(CHAT_GENERATORS)}")
    planner_format_for(planner, prompt_format)  # an unknown format is refused before anything starts
    return PlannerConfig(planner, generator or "hf", prompt_format, parse_key_values(args), sketches)


def lean_config(repl_cmd: str | None, lean_project: Path | None, **changes: Any) -> LeanConfig:
    """A LeanConfig from the CLI's options; a missing project directory is a usage error."""
    project = lean_project.expanduser().resolve() if lean_project is not None else default_project_dir()
    if lean_project is not None and not project.is_dir():
        raise UsageError(f"--lean-project {lean_project} is not a directory")
    config = LeanConfig(project_dir=project, repl_command=repl_cmd, **{k: v for k, v in changes.items() if v is not None})
    config.repl_argv()  # a malformed --repl-cmd is bad input, refused before anything starts
    return config


def agent_config(
    lean: LeanConfig,
    search: SearchConfig,
    generator: str | None,
    model: str | None,
    prompt_format: str | None,
    model_args: list[str] | None,
    allow_download: bool,
    *,
    no_cache: bool,
    cache: Path | None,
    trust_cache: bool = False,
    planner: Any = None,
    split_goals: bool = False,
    preset: str | None = None,
    proof: Any = None,
) -> Any:
    """The AgentConfig `prove` and `bench run` build from their shared options (`proof`: a ProofModelConfig)."""
    from prover.agent import AgentConfig, ModelConfig
    from prover.models.proof_prompts import looks_like_whole_proof_model

    if model is not None and looks_like_whole_proof_model(model):
        raise UsageError(f"{model} is a whole-proof model, not a tactic model: pass it as --proof-model {model}")
    config = AgentConfig(
        lean=lean,
        search=search,
        model=ModelConfig(generator, model, prompt_format, parse_key_values(model_args), allow_download, preset),
        cache_path=None if no_cache else (cache or default_cache_path()),
        trust_cache=trust_cache,
        planner=planner,
        split_goals=split_goals,
    )
    return config if proof is None else replace(config, proof=proof)


def proof_config(
    model: str | None,
    generator: str,
    model_args: list[str] | None,
    prompt_format: str | None,
    samples: int,
    repair_rounds: int | None,
    max_tokens: int | None,
    whole_only: bool,
    allow_download: bool,
) -> Any:
    """The ProofModelConfig of the `--proof-*` options; bad combinations are usage errors."""
    from prover.models.chat import CHAT_GENERATORS
    from prover.models.proof_prompts import looks_like_tactic_model, proof_format_for
    from prover.strategies import ProofModelConfig

    if model is None:
        if whole_only:
            raise UsageError("--whole-only needs a whole-proof model (--proof-model NAME)")
        return ProofModelConfig()
    if looks_like_tactic_model(model):
        raise UsageError(f"{model} is a tactic model, not a whole-proof model: pass it as --model {model}")
    if generator not in CHAT_GENERATORS:
        raise UsageError(f"--proof-generator must be one of {', '.join(CHAT_GENERATORS)}, got {generator!r}")
    proof_format_for(model, prompt_format)  # an unknown format fails here, before weights load
    return ProofModelConfig(
        model=model, generator=generator, prompt_format=prompt_format, options=parse_key_values(model_args),
        samples=samples, repair_rounds=repair_rounds, max_tokens=max_tokens, whole_only=whole_only,
        allow_download=allow_download,
    )
