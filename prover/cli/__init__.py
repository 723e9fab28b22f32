"""The `prover` command line: prove | bench | datagen | cache | check+serve | doctor | models, one module per command group.

Importing this package registers every command on `app`; `main` is the console entry point.
"""

from prover.cli import prove, data, tools, bench, cache, check  # noqa: F401, I001  (each registers its commands, in help order)
from prover.cli.app import EXIT_ENVIRONMENT, EXIT_NOT_PROVED, EXIT_PROVED, EXIT_USAGE, app, main
from prover.cli.options import default_cache_path, parse_key_values

__all__ = [
    "EXIT_ENVIRONMENT", "EXIT_NOT_PROVED", "EXIT_PROVED", "EXIT_USAGE", "app", "default_cache_path", "main",
    "parse_key_values",
]
