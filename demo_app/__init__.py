"""The qtws chat demo: an embedded ``websockets`` chat server and Qt chat windows (PyQt6 or PySide6:
:mod:`demo_app.qt`).

Run it with ``python3 .ci/dev.py demo [options]`` (or ``python -m demo_app``); see
:mod:`demo_app.app` for the options and :mod:`demo_app.protocol` for the JSON protocol.
"""
