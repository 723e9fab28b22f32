# Sourced by install.sh and vllm-env.sh: creates the venv "$VENV" with uv in it, and sets
#   uv_args   -q, the venv's python, and pip's local wheel folder (--find-links) when one is configured;
#   torch_pin torch==<version> of the local +cpu torch wheel, when that folder holds one.
# uv does not read pip.conf: without naming the local +cpu build exactly it may pick a CUDA torch.
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check uv

uv_args=(-q -p "$VENV/bin/python")
torch_pin=()
wheels=$("$PY" -m pip config get global.find-links 2>/dev/null || true)
if [ -n "$wheels" ] && [ -d "$wheels" ]; then
    uv_args+=(--find-links "$wheels")
    cpu_wheel=$(ls "$wheels" | grep -E '^torch-[0-9.]+\+cpu-' | head -n 1 || true)
    if [ -n "$cpu_wheel" ]; then
        torch_pin=("torch==$(echo "$cpu_wheel" | cut -d- -f2)")
    fi
fi
