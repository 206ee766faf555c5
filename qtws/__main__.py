"""``python -m qtws URL``: the terminal client (see :mod:`qtws.cli`)."""

from .cli import main

raise SystemExit(main())
