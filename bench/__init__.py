"""Benchmarks for qtws, side by side in one run with PyQt6's QWebSocket, ``websockets`` and
``wsproto``.  Run ``python3 .ci/dev.py bench`` (or ``python -m bench --help``).

* :mod:`bench.codec`: the sans-IO core on the same bytes (no sockets): frames/s, parsing cost
  per frame as the buffer grows, masking throughput.
* :mod:`bench.e2e`: real loopback sockets against a ``websockets`` echo server running in a
  child process (:mod:`bench.server`): message throughput, round-trip latency, large messages.
* :mod:`bench.report`: the Markdown/JSON output with ratios (> 1 always means qtws is faster).
"""
