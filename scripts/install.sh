#!/usr/bin/env bash
# Creates .venv and installs prover with the Hugging Face backend and the test tools.
# Uses uv (about 10x faster than pip); where pip is configured with a local wheel folder holding the
# CPU build of torch (offline CI machines), that exact wheel is used instead of a CUDA download.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-hf,dev}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check uv

uv_args=(-q -p "$VENV/bin/python")
torch_pin=()
wheels=$("$PY" -m pip config get global.find-links 2>/dev/null || true)
if [ -n "$wheels" ] && [ -d "$wheels" ]; then
    uv_args+=(--find-links "$wheels")
    cpu_wheel=$(ls "$wheels" | grep -E '^torch-[0-9.]+\+cpu-' | head -n 1 || true)
    if [ -n "$cpu_wheel" ]; then
        # uv does not read pip.conf: name the local +cpu build exactly or it may pick a CUDA torch.
        version=$(echo "$cpu_wheel" | cut -d- -f2)
        torch_pin=("torch==$version")
    fi
fi
"$VENV/bin/uv" pip install "${uv_args[@]}" "${torch_pin[@]}" -e ".[$EXTRAS]"
echo "installed into $VENV: run 'make test', or '$VENV/bin/prover doctor' to see what Lean needs"
