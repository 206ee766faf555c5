"""Interoperability tests: qtws against WebSocket servers from other projects."""
