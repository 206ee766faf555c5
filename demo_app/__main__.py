"""``python -m demo_app``: the qtws chat demo (``python3 .ci/dev.py demo`` runs this)."""

from __future__ import annotations

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
