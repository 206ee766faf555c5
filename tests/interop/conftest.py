"""Interop fixtures: one child process per server for the session, tests generated per server.

A test marked ``@pytest.mark.interop("feature")`` runs once for every server that offers the
feature (``servers.offered``); its ``server`` argument is a running :class:`ServerProcess`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.servers import SERVERS, Server, ServerProcess, offered, unavailable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "interop(feature): one test per server offering it")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("interop")
    if marker is None or "server" not in metafunc.fixturenames:
        return
    feature: str = marker.args[0]
    chosen = [s for s in SERVERS if offered(s, feature) != marker.kwargs.get("declined", False)]
    metafunc.parametrize("server", chosen, ids=[s.name for s in chosen], indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Label each interop test with its results-table cell (read by ``table.py``)."""
    for item in items:
        marker = item.get_closest_marker("interop")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None or "server" not in callspec.params:
            continue
        if not marker.kwargs.get("declined", False):
            item.user_properties.append(("cell", (callspec.params["server"].name, marker.args[0])))


class Running:
    """Starts each server the first time a test needs it; stops them all at the end."""

    def __init__(self) -> None:
        self.procs: dict[str, ServerProcess] = {}

    def get(self, server: Server) -> ServerProcess:
        if server.name not in self.procs:
            self.procs[server.name] = ServerProcess(server)
        return self.procs[server.name]

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


@pytest.fixture(scope="session")
def running() -> Iterator[Running]:
    r = Running()
    yield r
    r.stop()


@pytest.fixture
def server(request: pytest.FixtureRequest, running: Running) -> ServerProcess:
    spec: Server = request.param
    reason = unavailable(spec)
    if reason is not None:
        pytest.skip(reason)
    return running.get(spec)
