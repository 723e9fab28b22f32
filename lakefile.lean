import Lake
open Lake DSL

/-
The Lean side of the prover. Three pins move together (shared DESIGN.md, "Pinned versions"):
`lean-toolchain` = leanprover/lean4:v4.24.0, Mathlib tag v4.24.0, REPL tag v4.24.0 (REPL tags are named after
their toolchain). Get everything with `make lean` (scripts/get-lean.sh): elan, `lake exe cache get`,
`lake build`, `lake build @REPL/repl`.
-/
package prover

require mathlib from git "https://github.com/leanprover-community/mathlib4" @ "v4.24.0"

-- The REPL's own lakefile names its package `REPL` and its executable `repl` (leanprover-community/repl
-- lakefile.toml: `name = "REPL"`, `[[lean_exe]] name = "repl"`, `root = "REPL.Main"`). Lake checks out a
-- dependency under `.lake/packages/<require name>`, and `lake build @REPL/repl` (Lake README, "Specifying
-- Targets": `@a/b` is target `b` of package `a`) writes `.lake/packages/REPL/.lake/build/bin/repl`, the path
-- in prover.config.REPL_BINARY. The require name must stay `REPL` for that path to hold.
require REPL from git "https://github.com/leanprover-community/repl" @ "v4.24.0"

/-
The header module (lean_project/ProverHeader.lean): `import ProverHeader` brings in Mathlib and Aesop in one
line. `open` and `set_option` do not carry across an import, so they stay in the text header the prover sends.
-/
@[default_target]
lean_lib ProverHeader where
  srcDir := "lean_project"
