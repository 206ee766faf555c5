"""The qtws chat demo: an embedded ``websockets`` chat server and PyQt6 chat windows.

Run it with ``python3 .ci/dev.py demo [options]`` (or ``python -m demo_app``); see
:mod:`demo_app.app` for the options and :mod:`demo_app.protocol` for the JSON protocol.
"""
