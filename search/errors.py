"""The one exception family of the project.

Outcomes of Lean or of a model are values (`search.outcomes`); only infrastructure faults and bad input raise,
and every such exception derives from `ProverError`. `search/` is the lowest layer, so the base lives here and
`prover.errors` extends it.
"""

from __future__ import annotations


class ProverError(Exception):
    """Base of every exception the project raises on purpose.

    `exit_code` is what the CLI exits with when the error reaches it: 2 for bad input or usage, 3 for a
    missing or broken environment (Lean, REPL, model), 1 otherwise.
    """

    exit_code: int = 1


class UsageError(ProverError):
    """Bad input or usage: the user can fix it by changing what they passed."""

    exit_code = 2


class SearchError(ProverError):
    """A fault of the search machinery itself (not a failed proof, which is a value)."""


class CacheError(ProverError):
    """The proof cache cannot be read or written (corrupt, locked past the timeout, wrong schema)."""

    exit_code = 3
