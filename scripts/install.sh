#!/usr/bin/env bash
# Creates .venv and installs prover with the Hugging Face backend and the test tools.
# Uses uv (about 10x faster than pip); where pip is configured with a local wheel folder holding the
# CPU build of torch (offline CI machines), that exact wheel is used instead of a CUDA download.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-hf,dev}

# shellcheck source=scripts/venv-common.sh
source scripts/venv-common.sh
"$VENV/bin/uv" pip install "${uv_args[@]}" "${torch_pin[@]}" -e ".[$EXTRAS]"
echo "installed into $VENV: run 'make test', or '$VENV/bin/prover doctor' to see what Lean needs"
