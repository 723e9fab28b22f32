"""A whole-proof model as the search's `ProofPolicy`: a chat model behind a `ProofFormat`.

Each request becomes the format's conversation (first prompt plus one repair turn per earlier attempt); each reply
is reduced by the format's extraction rule and spliced onto the original statement (`extract_body`), so every
sample is a body to check or a rejection with its reason. Faults of the model server raise (`ModelError`), which
ends the whole-proof route while the tactic route goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prover.models.chat import ChatCompletion, ChatModel
from prover.models.proof_prompts import ProofFormat, extract_body
from search.banned import BannedTokens
from search.proofs import ProofRequest, ProofSample
from search.protocols import Sampling


class ChatProofPolicy:
    """`ProofPolicy` over a `ChatModel` (see the module docstring). `tokens` counts generated tokens."""

    def __init__(self, chat: ChatModel, fmt: ProofFormat, banned: BannedTokens = BannedTokens()) -> None:
        self.chat = chat
        self.format = fmt
        self.banned = banned
        self.calls = 0
        self.tokens = 0

    async def generate(self, requests: Sequence[ProofRequest], sampling: Sampling) -> list[list[ProofSample]]:
        self.calls += 1
        conversations = [self.format.conversation(r) for r in requests]
        replies = await self.chat.chat(conversations, sampling)
        return [[self._sample(r, c) for c in outs] for r, outs in zip(requests, replies)]

    def _sample(self, request: ProofRequest, completion: ChatCompletion) -> ProofSample:
        self.tokens += completion.tokens
        extracted = extract_body(self.format, completion.text, request.statement, truncated=completion.truncated,
                                 banned=self.banned)
        return ProofSample(completion.text, extracted.body, extracted.reason, completion.tokens, completion.truncated)

    async def close(self) -> None:
        await self.chat.close()

    def describe(self) -> dict[str, Any]:
        return {**self.chat.describe(), "proof_format": self.format.name}
