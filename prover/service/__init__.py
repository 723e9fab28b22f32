"""Checking proofs at scale: the batch checker (`prover check`), the HTTP server (`prover serve`) and a reward
function for RL trainers, all on the strict verifier (prover/lean/verifier.py) and warm REPL pools."""
