"""Tiny randomly initialised models, built offline (shared notes, packages.md §1): no weights to ship, ~1 s each.

- a causal Llama (2 layers, hidden 128, head_dim 64 so vLLM's CPU attention accepts it) with a byte-level BPE
  tokenizer trained here on a few tactic strings;
- a ByT5-style T5 with `ByT5Tokenizer` (no vocab file), its lm_head scaled down so random logits are not all EOS.

Each builder writes once per process (cached); the fixtures hand the directories to tests. The benchmark imports
the builders too.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

TRAINING_TEXT = [
    "intro h",
    "exact h",
    "simp",
    "rw [Nat.add_comm]",
    "omega",
    "linarith",
    "norm_num",
    "nlinarith [sq_nonneg (a - b)]",
    "n : ℕ\n⊢ n + 0 = n",
    "[GOAL]x : ℝ\n⊢ 0 ≤ x ^ 2[PROOFSTEP]positivity",
]


# Logit scale of EOS on dimension 0 of the final hidden state: with it a sample ends after a few tokens (about one
# step in five), as a real tactic model's do, so samples that hit a 12-16 token limit are the exception.
EOS_STRENGTH_LLAMA = 0.5
EOS_STRENGTH_BYT5 = 8.0


def _favour_eos(embedding: Any, residual_writers: list[Any], head: Any, eos_id: int, strength: float) -> None:
    """Give EOS a steady share of the probability at every step of a random model.

    Dimension 0 of every input embedding is set to 1 and no layer writes to it, so the residual stream carries a
    constant there; the EOS row of the output head reads only that dimension. Every other logit stays random.
    """
    import torch

    with torch.no_grad():
        embedding[:, 0] = 1.0
        for weight in residual_writers:
            weight[0, :] = 0.0
        head[eos_id, :] = 0.0
        head[eos_id, 0] = strength


def _t5_out_weights(layer: Any) -> list[Any]:
    """The output projections of one T5 decoder sub-layer (attention `o`, feed-forward `wo`)."""
    for name in ("SelfAttention", "EncDecAttention"):
        if hasattr(layer, name):
            return [getattr(layer, name).o.weight]
    return [layer.DenseReluDense.wo.weight]


def _scratch(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache(maxsize=None)
def tiny_causal_dir() -> Path:
    """A directory holding a tiny random Llama and its tokenizer (`save_pretrained` layout)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<pad>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(TRAINING_TEXT, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    lm = LlamaForCausalLM(config)
    layers = lm.model.layers
    _favour_eos(
        lm.model.embed_tokens.weight,
        [w for layer in layers for w in (layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight)],
        lm.lm_head.weight,
        tok.eos_token_id,
        EOS_STRENGTH_LLAMA,
    )
    out = _scratch("tiny-llama-")
    lm.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@functools.lru_cache(maxsize=None)
def tiny_byt5_dir() -> Path:
    """A directory holding a tiny random ByT5-style T5 (`ByT5Tokenizer`, vocab 384)."""
    import torch
    from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(
        T5Config(
            vocab_size=384,
            d_model=64,
            d_kv=16,
            d_ff=128,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=2,
            feed_forward_proj="gated-gelu",
            tie_word_embeddings=False,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=1,
        )
    )
    with torch.no_grad():
        t5.lm_head.weight.mul_(0.02)  # random T5 logits put almost all mass on EOS/pad: flatten them
    blocks = t5.decoder.block
    _favour_eos(
        t5.shared.weight,
        [w for block in blocks for layer in block.layer for w in _t5_out_weights(layer)],
        t5.lm_head.weight,
        1,
        EOS_STRENGTH_BYT5,
    )
    out = _scratch("tiny-byt5-")
    t5.save_pretrained(out)
    ByT5Tokenizer().save_pretrained(out)
    return out


# A DeepSeek-style template (`<s>` + `User:`/`Assistant:` turns; the system text goes first), written in Jinja the
# way real tokenizer configs ship it, so that `apply_chat_template` renders the conversation, not our code.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n\n{% else %}Assistant: {{ m['content'] }}{{ eos_token }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


@functools.lru_cache(maxsize=None)
def tiny_chat_dir() -> Path:
    """The tiny Llama with a chat template in its tokenizer config (a whole-proof model's shape)."""
    from transformers import AutoTokenizer

    out = _scratch("tiny-chat-")
    shutil.copytree(tiny_causal_dir(), out, dirs_exist_ok=True)
    tok = AutoTokenizer.from_pretrained(out)
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def chat_dir() -> Path:
    return tiny_chat_dir()


@pytest.fixture(scope="module")
def causal_dir() -> Path:
    return tiny_causal_dir()


@pytest.fixture(scope="module")
def byt5_dir() -> Path:
    return tiny_byt5_dir()
