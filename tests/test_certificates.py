"""Certificates: which store is trusted (Config.trust), with trustme CAs and real TLS servers."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

import qtws
from qtws import dial
from tests.servers import Tls, ws_server


def cfg(**kw: Any) -> qtws.Config:
    base: dict[str, Any] = {"ping_interval": None, "proxy": None, "open_timeout": 5}
    base.update(kw)
    return qtws.Config(**base)


def attempt(qtbot: QtBot, url: str, config: qtws.Config) -> list[Any]:
    """Open, and close once opened: the errors (empty when the connection opened)."""
    ws = qtws.WebSocket(url, config=config)
    errors: list[Any] = []
    ws.error.connect(errors.append)
    ws.opened.connect(ws.close)
    with qtbot.waitSignal(ws.closed, timeout=5000):
        ws.open()
    return errors


@pytest.fixture
def fresh_system_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Forget the process-wide trust="system" context (it is built once per process)."""
    monkeypatch.setattr(dial, "_ssl_system", None)
    monkeypatch.setattr(dial, "_warm_started", set(dial._warm_started) - {"ssl-system"})
    yield
    dial._ssl_system = None


def company_ca(tmp_path: Path) -> tuple[Tls, str]:
    """A trustme CA playing the company CA installed in the system store: its PEM file."""
    tls = Tls()
    pem = tmp_path / "company-ca.pem"
    tls.ca.cert_pem.write_to_path(str(pem))
    return tls, str(pem)


def test_default_trust_rejects_an_unknown_ca(qtbot: QtBot) -> None:
    tls = Tls()
    with ws_server(ssl_context=tls.server) as srv:
        errors = attempt(qtbot, srv.url, cfg())
    assert isinstance(errors[0], ssl.SSLCertVerificationError)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the OS verifies there")
def test_system_trust_uses_the_system_store(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_system_context: None
) -> None:
    tls, pem = company_ca(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", pem)  # OpenSSL's system store, as the OS sets it up
    with ws_server(ssl_context=tls.server) as srv:
        assert attempt(qtbot, srv.url, cfg(trust="system")) == []


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the OS verifies there")
def test_system_trust_falls_back_to_the_distribution_bundle(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_system_context: None
) -> None:
    """A Python whose OpenSSL looks in the wrong place (no default paths): the usual bundle
    files of Linux distributions are tried."""
    tls, pem = company_ca(tmp_path)
    empty = ssl.DefaultVerifyPaths(None, None, "", "", "", "")  # type: ignore[call-arg]
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: empty)
    monkeypatch.setattr(dial, "_CA_FILES", (str(tmp_path / "absent.pem"), pem))
    with ws_server(ssl_context=tls.server) as srv:
        assert attempt(qtbot, srv.url, cfg(trust="system")) == []


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the OS verifies there")
def test_system_trust_still_verifies(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_system_context: None
) -> None:
    _, pem = company_ca(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", pem)
    other = Tls()  # a server whose CA is not in the store
    with ws_server(ssl_context=other.server) as srv:
        errors = attempt(qtbot, srv.url, cfg(trust="system"))
    assert isinstance(errors[0], ssl.SSLCertVerificationError)


def test_system_context_checks_hostnames() -> None:
    ctx = dial._make_system_context()
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"trust": "os"}, ValueError, "trust must be None or 'system'"),
        ({"trust": "system", "ssl_context": ssl.create_default_context()}, ValueError, "not both"),
    ],
)
def test_invalid_trust(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        qtws.Config(**kwargs)


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_system_trust_without_truststore_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "truststore" else real(name, *a),
    )
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'qtws\[truststore\]'"):
        qtws.Config(trust="system")
