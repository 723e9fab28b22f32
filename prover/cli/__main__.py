"""`python -m prover.cli`."""

import sys

from prover.cli import main

sys.exit(main())
