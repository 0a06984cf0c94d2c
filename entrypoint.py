#!/usr/bin/env python3
"""imap-gate's entry point, for the Docker action and for ``python entrypoint.py``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imap_gate.cli import main

if __name__ == "__main__":
    sys.exit(main())
