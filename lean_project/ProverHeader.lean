import Mathlib
import Aesop

/-!
# ProverHeader

What a prover header can import in one line: `import ProverHeader` (built by `lake build`).

An `open` or a `set_option` written here would NOT reach a file that imports this module: both are scoped to
the text of the module they appear in. Keep them in the text header the prover sends before every statement
(prover.config.DEFAULT_HEADER has the same lines after `import Mathlib`), for example:

    import ProverHeader

    set_option maxHeartbeats 0

    open BigOperators Real Nat Topology Rat
-/
