"""A Lean reward for RL trainers: 1.0 for a completion whose proof the strict verifier accepts, else 0.0.

TRL's `GRPOTrainer(reward_funcs=[...])` calls each reward function as `f(prompts=..., completions=..., **columns)`
where the dataset's other columns arrive as keyword lists aligned with `completions`; a completion is a string
(standard format) or a list of messages whose last `content` is the text (conversational format); the function
returns one float per completion (TRL docs, "Reward Functions" / GRPOTrainer "Using a custom reward function",
v0.20). The trainer logs the function under its `__name__`.

    from prover.service.reward import LeanReward
    reward = LeanReward(repl_cmd=None, workers=8)            # local warm workers (this machine's Lean)
    reward = LeanReward(server="http://127.0.0.1:8000")      # or a running `prover serve`
    trainer = GRPOTrainer(model=..., reward_funcs=[reward], train_dataset=ds)   # ds has a `statement` column

The proof is the last ```lean block of the completion (else the whole text): a whole file (with the theorem) or
just the tactics. With a `statement` column (and optionally `header`) the proof must prove exactly that statement
(the reward-hacking guard of `prover check --statements`): a proof of an easier theorem earns 0.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from typing import Any

from prover.config import DEFAULT_HEADER, LeanConfig
from prover.service.checker import Checker, CheckPolicy, CheckResult
from prover.service.inputs import from_record, theorem_names

_FENCE = re.compile(r"```(?:lean4?|Lean4?)?[ \t]*\n(?P<code>.*?)```", re.S)


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or the last message's `content` of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return str(completion)


def extract_proof(text: str) -> str:
    """The Lean code of a completion: its last fenced Lean block, else the text itself."""
    blocks = _FENCE.findall(text)
    return blocks[-1] if blocks else text


def proof_records(
    completions: Sequence[Any], statements: Sequence[str] | None, headers: Sequence[str] | None
) -> list[dict[str, str]]:
    """One /check record per completion (the JSONL schema of `prover check`)."""
    records = []
    for i, completion in enumerate(completions):
        code = extract_proof(completion_text(completion))
        record: dict[str, str] = {"id": str(i)}
        header = headers[i] if headers is not None else DEFAULT_HEADER
        if statements is not None:
            record["expected_statement"] = statements[i]
            record["expected_header"] = header
        if theorem_names(code) or statements is None:
            record["code"] = code
        else:  # only tactics: put them under the expected statement
            record.update(statement=statements[i], header=header, proof=code)
        records.append(record)
    return records


class LeanReward:
    """A callable reward function backed by local warm workers or by a `prover serve` URL.

    Args:
        server: base URL of a running `prover serve` (then nothing of Lean is needed here); None: check locally.
        token: the server's bearer token, if it requires one.
        repl_cmd / project_dir / workers / timeout: the local checker's Lean settings (see `prover check`).
        policy: the local checker's policy (banned tokens, allowed axioms); `timeout` overrides its timeout.
        statement_key / header_key: the dataset columns holding the statement to prove and its header.
    """

    __name__ = "lean_reward"

    def __init__(
        self,
        *,
        server: str | None = None,
        token: str | None = None,
        repl_cmd: str | None = None,
        project_dir: str | None = None,
        workers: int = 1,
        timeout: float = 60.0,
        policy: CheckPolicy | None = None,
        statement_key: str = "statement",
        header_key: str = "header",
        request_timeout: float = 3600.0,
    ) -> None:
        self.server = server.rstrip("/") if server else None
        self.token = token
        self.statement_key, self.header_key = statement_key, header_key
        self.request_timeout = request_timeout
        self._checker: Checker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        if self.server is None:
            config = LeanConfig(repl_command=repl_cmd, workers=workers, verify_timeout=timeout)
            if project_dir is not None:
                from pathlib import Path

                config = config.with_(project_dir=Path(project_dir))
            base = policy or CheckPolicy()
            self._checker = Checker(config, CheckPolicy(base.banned, base.allowed_axioms, None, timeout, base.fresh))

    def __call__(self, completions: Sequence[Any], prompts: Sequence[Any] | None = None, **kwargs: Any) -> list[float]:
        """One reward per completion: 1.0 verified, 0.0 anything else (rejected, error, timeout)."""
        return [1.0 if r.verified else 0.0 for r in self.check(completions, **kwargs)]

    def check(self, completions: Sequence[Any], **kwargs: Any) -> list[CheckResult]:
        """The verdicts behind the rewards (for logging why a completion earned 0)."""
        statements = kwargs.get(self.statement_key)
        headers = kwargs.get(self.header_key)
        records = proof_records(completions, statements, headers)
        if not records:
            return []
        if self.server is not None:
            return self._post(records)
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(self._check_local(records), loop)
        return future.result(self.request_timeout)

    async def _check_local(self, records: list[dict[str, str]]) -> list[CheckResult]:
        assert self._checker is not None
        items = [from_record(r, r["id"]) for r in records]
        return list(await asyncio.gather(*(self._checker.check(item) for item in items)))

    def _post(self, records: list[dict[str, str]]) -> list[CheckResult]:
        import httpx

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        resp = httpx.post(f"{self.server}/check", json={"proofs": records}, headers=headers, timeout=self.request_timeout)
        resp.raise_for_status()
        return [CheckResult.from_json(r) for r in resp.json()["results"]]

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        # The trainer calls from synchronous code; the warm pools live on one event loop in a daemon thread.
        if self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="lean-reward", daemon=True)
            thread.start()
            self._loop, self._thread = loop, thread
        return self._loop

    def close(self) -> None:
        """Close the local workers (the server backend holds nothing)."""
        if self._loop is not None and self._checker is not None:
            asyncio.run_coroutine_threadsafe(self._checker.close(), self._loop).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop = None
