"""The tiny exec wrapper every REPL process starts through: `python -S -I launch.py PARENT_PID LIMIT -- ARGV…`.

It replaces `Popen(preexec_fn=…)`: Python code between fork and exec is unsafe in a process that runs threads (torch,
vLLM and tokenizer threads live in the prover's; a lock held by another thread at fork time hangs the child,
CPython's subprocess docs and notes/real-repl-behaviour.md F9). This script runs in a fresh, single-threaded
interpreter instead, does three things and execs the REPL command in its place (same pid, same process group):

- asks Linux to SIGKILL it when the prover dies (PR_SET_PDEATHSIG survives execve), and exits at once when the
  prover died already (the parent pid is no longer the one it was given);
- sets the hard address-space limit (RLIMIT_AS; `-` for none), which `lake` and the REPL under it inherit;
- execs the command (PATH lookup in the environment it was given); a command that cannot be run exits 127 with
  the reason on stderr.

Standard library only, and nothing of the prover package: it must start in milliseconds.
"""

from __future__ import annotations

import os
import resource
import signal
import sys

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError, ImportError):
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main(args: list[str]) -> None:
    if len(args) < 4 or args[2] != "--":
        sys.stderr.write("usage: launch.py PARENT_PID LIMIT_BYTES|- -- PROGRAM [ARGS...]\n")
        os._exit(2)
    parent, limit, argv = int(args[0]), args[1], args[3:]
    _die_with_parent(parent)
    if limit != "-":
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        sys.stderr.write(f"cannot start {argv[0]}: {e}\n")
        sys.stderr.flush()
        os._exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
