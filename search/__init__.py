"""Best-first proof search: pure, no Lean, no torch, no subprocess."""
