"""Tactic generators (the search's Policy) behind one registry, with prompt adapters for public tactic models.

Backends, imported only when built (torch never loads for `portfolio`):

| name | what |
|---|---|
| `portfolio` | no model: fixed automation tactics with fixed priors (the default) |
| `hf` | transformers `generate`, causal or seq2seq (ByT5), sampling or beam, CPU or GPU |
| `vllm` | the vLLM engine (offline `LLM`, or `AsyncLLMEngine`), one shared engine per model |
| `openai` | any OpenAI-compatible `/v1/completions` server (`vllm serve`, sglang) |

Examples:
    >>> gen = build_generator()                        # portfolio
    >>> gen.name
    'portfolio'
    >>> [name for name, _ in list_generators()]
    ['portfolio', 'hf', 'vllm', 'openai']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from prover.errors import UsageError
from prover.models.base import Completion, TacticGenerator, resolve_model
from prover.models.prompts import PromptFormat, format_for_model, get_prompt_format, list_prompt_formats
from prover.models.registry import Registry

__all__ = [
    "Completion",
    "GENERATORS",
    "PromptFormat",
    "TacticGenerator",
    "build_generator",
    "format_for_model",
    "get_prompt_format",
    "list_generators",
    "list_prompt_formats",
    "resolve_generator",
    "resolve_model",
]


class _Builder(Protocol):
    def build(
        self, model: str | None, prompt_format: str | None, options: Mapping[str, str] | None, allow_download: bool
    ) -> TacticGenerator: ...


GENERATORS: Registry[_Builder] = Registry("generator")
GENERATORS.register(
    "portfolio", "prover.models.portfolio:PortfolioGenerator", "no model: fixed automation tactics with fixed priors (default)"
)
GENERATORS.register(
    "hf", "prover.models.hf:HFGenerator", "transformers generate (causal or ByT5 seq2seq), sampling or beam, CPU/GPU"
)
GENERATORS.register(
    "vllm", "prover.models.vllm_backend:VLLMGenerator", "vLLM engine (offline LLM or AsyncLLMEngine) shared per model, n samples"
)
GENERATORS.register(
    "openai", "prover.models.openai_backend:OpenAIGenerator", "OpenAI-compatible /v1/completions server (vllm serve, sglang)"
)

DEFAULT_GENERATOR = "portfolio"


def list_generators() -> list[tuple[str, str]]:
    """(name, one-line description) of every generator, for `prover models`."""
    return GENERATORS.items()


def resolve_generator(generator: str | None, model: str | None) -> tuple[str, str | None]:
    """(generator, model) as `build_generator` reads them: no generator means the portfolio without a model, the
    generator named by `model` when it names one (`--model vllm`), else `hf` for that model."""
    if generator is not None:
        return generator, model
    if model is None:
        return DEFAULT_GENERATOR, None
    if model in GENERATORS:
        return model, None
    return "hf", model


def build_generator(
    generator: str | None = None,
    model: str | None = None,
    *,
    prompt_format: str | None = None,
    options: Mapping[str, str] | None = None,
    allow_download: bool = False,
) -> TacticGenerator:
    """Build a tactic generator.

    Args:
        generator: a registered backend name; None picks `portfolio` without a model, `hf` with one (or the
            backend itself when `model` is a backend name, e.g. `--model portfolio`).
        model: a local model directory or a hub name (for `openai`: the served model name).
        prompt_format: a prompt format name (see `list_prompt_formats()`); None chooses by model name.
        options: backend options as strings (`--model-args k=v`); unknown keys raise UsageError.
        allow_download: may the backend fetch weights from the hub? Without it nothing touches the network
            (except `openai`, whose server the user names).

    Returns:
        A ready generator; call `await gen.close()` when done.

    Raises:
        UsageError: unknown generator, prompt format or option (with a did-you-mean hint).
        ModelNotFoundError: the model's weights are not available locally (`fix` holds the download command).
        EnvironmentProblem: the backend's packages are not installed.
    """
    generator, model = resolve_generator(generator, model)
    if prompt_format is not None:
        get_prompt_format(prompt_format)  # an unknown name fails here, before any weights load
    builder = GENERATORS.get(generator)
    try:
        return builder.build(model, prompt_format, options, allow_download)
    except ImportError as exc:
        raise UsageError(f"generator '{generator}' cannot be imported: {exc}") from exc
