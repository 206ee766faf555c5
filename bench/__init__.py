"""Benchmarks for qtws, side by side in one run with PyQt6's QWebSocket, picows, aiohttp,
``websockets``, websocket-client and ``wsproto``.  Run ``python3 .ci/dev.py bench`` (or
``python -m bench --help``; ``--profile SCENARIO`` shows where qtws's time goes).

* :mod:`bench.codec`: the sans-IO core on the same bytes (no sockets): frames/s, parsing cost
  per frame as the buffer grows, masking throughput.
* :mod:`bench.e2e`: real loopback sockets against a peer running in a child process
  (:mod:`bench.server`): receive and send rates, round-trip latency, large messages,
  compression, and a GUI timer's gaps while a flood arrives; the clients are in
  :mod:`bench.clients`.
* :mod:`bench.report`: the Markdown/JSON output with ratios (> 1 always means qtws is faster).
"""
