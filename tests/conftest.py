"""Shared test set-up: Qt runs offscreen; hypothesis has no deadlines (CI is a busy machine)."""

from __future__ import annotations

import os

from hypothesis import settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

settings.register_profile("qtws", deadline=None)
settings.load_profile("qtws")
