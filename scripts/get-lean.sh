#!/usr/bin/env bash
# Gets Lean, Mathlib and the Lean REPL the standard way, for a user with internet access (`make lean`):
#   1. elan, the Lean toolchain manager (installed into $ELAN_HOME, default ~/.elan, if `elan` is missing);
#   2. the toolchain named in lean-toolchain (downloaded by elan; Lean itself is never built here);
#   3. Mathlib's prebuilt .olean files (`lake exe cache get`; this also clones Mathlib and the REPL);
#   4. the project's header module (`lake build`) and the REPL binary (`lake build @REPL/repl`).
# Safe to run again: each step is skipped or is a no-op when its result is already there.
# Needs: curl (only to install elan), git, about 6 GB of disk for Mathlib.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
REPL_BIN=.lake/packages/REPL/.lake/build/bin/repl   # = prover.config.REPL_BINARY
MATHLIB_BUILD=.lake/packages/mathlib/.lake/build
ELAN_HOME=${ELAN_HOME:-$HOME/.elan}
export ELAN_HOME
CALLER_PATH=$PATH
export PATH="$ELAN_HOME/bin:$PATH"

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nget-lean: %s\n' "$*" >&2; exit 1; }

[ -f lean-toolchain ] || die "no lean-toolchain in $ROOT: run this script from a checkout of the project"
TOOLCHAIN=$(tr -d '[:space:]' < lean-toolchain)
[ -n "$TOOLCHAIN" ] || die "lean-toolchain is empty"
command -v git >/dev/null 2>&1 || die "git is needed (lake clones Mathlib and the REPL with it): install git first"

# 1. elan
if command -v elan >/dev/null 2>&1; then
    say "elan found: $(command -v elan)"
else
    command -v curl >/dev/null 2>&1 || die "curl is needed to install elan (or install elan yourself: https://github.com/leanprover/elan)"
    say "installing elan into $ELAN_HOME (no toolchain yet; your shell profile is left alone)"
    installer=$(mktemp)
    trap 'rm -f "$installer"' EXIT
    curl -sSfL https://raw.githubusercontent.com/leanprover/elan/master/elan-init.sh -o "$installer" \
        || die "could not download the elan installer"
    sh "$installer" -y --default-toolchain none --no-modify-path || die "the elan installer failed"
    command -v elan >/dev/null 2>&1 || die "elan was installed but is not on PATH (expected $ELAN_HOME/bin/elan)"
    echo "add elan to your PATH for later shells: export PATH=\"$ELAN_HOME/bin:\$PATH\""
fi

# 2. the pinned toolchain (a no-op when it is installed already)
say "toolchain $TOOLCHAIN"
elan toolchain install "$TOOLCHAIN" || die "elan could not install $TOOLCHAIN"

# lake must come from that toolchain: elan's `lake` follows lean-toolchain in this directory.
lake_version=$(lake --version) || die "lake does not run (check that $ELAN_HOME/bin comes first on PATH)"
echo "$lake_version"
case "$lake_version" in
    *"version ${TOOLCHAIN##*:v})"*) ;;
    *) echo "warning: this lake does not report Lean ${TOOLCHAIN##*:} ($TOOLCHAIN); if the build fails, put $ELAN_HOME/bin first on PATH" >&2 ;;
esac

# 3. Mathlib: clone the dependencies (first run: writes lake-manifest.json) and fetch the prebuilt oleans.
say "Mathlib: lake exe cache get (downloads about 5 GB the first time)"
lake exe cache get || die "'lake exe cache get' failed: check the network, then run 'make lean' again"
[ -d "$MATHLIB_BUILD" ] || die "Mathlib's build folder $MATHLIB_BUILD is missing after 'lake exe cache get'"

# 4. The header module (imports Mathlib: a few seconds with the cache, hours without it) and the REPL.
say "building the header module (lake build)"
lake build || die "'lake build' failed"
say "building the REPL (lake build @REPL/repl)"
lake build @REPL/repl || die "'lake build @REPL/repl' failed"
[ -x "$REPL_BIN" ] || die "the REPL binary is not at $REPL_BIN after the build"

say "Lean is ready: $ROOT/$REPL_BIN (run under 'lake env' from $ROOT)"
if ! PATH=$CALLER_PATH command -v lake >/dev/null 2>&1; then
    # The prover finds lake in $ELAN_HOME/bin by itself (prover.config.find_lean_program); this is for your shell.
    echo "lake is not on your PATH; the prover uses $ELAN_HOME/bin/lake. For your shell, add to your profile:"
    echo "    export PATH=\"$ELAN_HOME/bin:\$PATH\""
fi
if [ -x .venv/bin/prover ]; then
    echo "check it end to end: .venv/bin/prover doctor"
else
    echo "check it end to end: prover doctor (after 'make install')"
fi
