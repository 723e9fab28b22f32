"""Training on the project's own search data: `prover train sft | dpo` (TRL + PEFT) and `prover iterate`.

Nothing here imports torch, transformers or TRL until a model is trained (the `train` extra).

- `examples`: datagen records → prompt/completion examples and preference pairs, rendered by the prompt adapters;
- `trainer`: SFTTrainer / DPOTrainer runs, LoRA, merge, atomic output with a model card;
- `card`: `prover_training.json`, README.md model card, loss curve PNG;
- `iterate`: expert iteration rounds, resumable.
"""
