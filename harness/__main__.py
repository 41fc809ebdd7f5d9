"""`python -m harness [overrides]`: one cell, or a Hydra multirun sweep (`+sweep=NAME`, or
comma-separated values with `-m`). Config lives in conf/; every field is an override."""

from __future__ import annotations

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
