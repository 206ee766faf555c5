"""``python -m dashboard_app``: the live dashboard (``python3 .ci/dev.py demo --dashboard``)."""

from __future__ import annotations

import sys

from .app import main

if __name__ == "__main__":
    sys.exit(main())
