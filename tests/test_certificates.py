"""Certificates: which store is trusted (Config.trust), certificate_error decisions and pinning,
with trustme CAs and real TLS servers."""

from __future__ import annotations

import hashlib
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from pytestqt.qtbot import QtBot
from websockets.datastructures import Headers
from websockets.http11 import Response

import qtws
from qtws import dial
from qtws._qt import QEventLoop, QTimer
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


# ---------------------------------------------------------------------- certificate decisions
def leaf_der(cert: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


class Device:
    """A TLS server with a certificate no trust store knows (a device's own CA)."""

    def __init__(self, *names: str, common_name: str | None = "device.local") -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert(
            *(names or ("localhost", "127.0.0.1")), common_name=common_name
        )
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(self.context)
        self.der = leaf_der(self.cert)
        self.fingerprint = hashlib.sha256(self.der).hexdigest()


def run_with_decisions(
    qtbot: QtBot, url: str, config: qtws.Config, decide: Any = None
) -> tuple[list[Any], list[Any], list[Any]]:
    """Open (and close once opened): the errors, the offered certificates, the messages."""
    ws = qtws.WebSocket(url, config=config)
    errors: list[Any] = []
    offered: list[Any] = []
    got: list[Any] = []
    ws.error.connect(errors.append)
    if decide is not None:
        ws.certificate_error.connect(lambda cert: (offered.append(cert), decide(ws, cert)))
    ws.message.connect(got.append)
    ws.message.connect(lambda m: ws.close())
    ws.opened.connect(lambda: ws.send("trusted ✓"))
    with qtbot.waitSignal(ws.closed, timeout=8000):
        ws.open()
    return errors, offered, got


def test_untrusted_certificate_is_rejected_by_default(qtbot: QtBot) -> None:
    device = Device()
    with ws_server(ssl_context=device.context) as srv:
        errors, _, got = run_with_decisions(qtbot, srv.url, cfg())
    assert got == [] and isinstance(errors[0], ssl.SSLCertVerificationError)


def test_certificate_error_offers_the_certificate_and_rejects_unless_accepted(
    qtbot: QtBot,
) -> None:
    device = Device()
    with ws_server(ssl_context=device.context) as srv:
        errors, offered, got = run_with_decisions(qtbot, srv.url, cfg(), lambda ws, c: None)
    assert got == [] and isinstance(errors[0], ssl.SSLCertVerificationError)
    [cert] = offered
    assert isinstance(cert, qtws.UntrustedCertificate) and not cert.accepted
    assert cert.der == device.der and cert.fingerprint == device.fingerprint
    assert (cert.host, cert.port) == ("localhost", srv.port)
    parsed = x509.load_der_x509_certificate(device.der)
    assert cert.subject.replace(", ", ",") == parsed.subject.rfc4514_string()
    assert cert.issuer.replace(", ", ",") == parsed.issuer.rfc4514_string()
    assert cert.subject.startswith("CN=device.local, ")
    assert cert.not_after == parsed.not_valid_after_utc
    assert cert.not_before == parsed.not_valid_before_utc
    assert cert.error is errors[0] and "local issuer" in cert.error.verify_message
    assert device.fingerprint in repr(cert)
    with pytest.raises(qtws.InvalidState, match="only inside a certificate_error slot"):
        cert.accept()  # too late: the slot has returned


def test_accepting_in_the_slot_goes_on_pinned_to_that_certificate(qtbot: QtBot) -> None:
    device = Device()
    with ws_server(ssl_context=device.context) as srv:
        errors, offered, got = run_with_decisions(
            qtbot, srv.url, cfg(), lambda ws, cert: cert.accept()
        )
    assert errors == [] and got == ["trusted ✓"]
    assert offered[0].accepted


def test_accepting_from_a_nested_event_loop_in_the_slot(qtbot: QtBot) -> None:
    """A slot that opens a modal dialog: the decision comes from inside its event loop."""

    def modal(ws: qtws.WebSocket, cert: qtws.UntrustedCertificate) -> None:
        loop = QEventLoop()
        QTimer.singleShot(0, lambda: (cert.accept(), loop.quit()))
        loop.exec()

    device = Device()
    with ws_server(ssl_context=device.context) as srv:
        errors, _, got = run_with_decisions(qtbot, srv.url, cfg(), modal)
    assert errors == [] and got == ["trusted ✓"]


def test_closing_from_the_slot_ends_the_attempt(qtbot: QtBot) -> None:
    device = Device()
    with ws_server(ssl_context=device.context) as srv:
        _, offered, got = run_with_decisions(qtbot, srv.url, cfg(), lambda ws, cert: ws.close())
    assert len(offered) == 1 and got == []


def test_hostname_mismatch_is_offered_with_its_reason(qtbot: QtBot) -> None:
    device = Device("other.example")
    client = ssl.create_default_context()
    device.ca.configure_trust(client)  # the CA is trusted; the name is wrong
    with ws_server(ssl_context=device.context) as srv:
        errors, offered, _ = run_with_decisions(
            qtbot, srv.url, cfg(ssl_context=client), lambda ws, c: None
        )
    assert "Hostname mismatch" in offered[0].error.verify_message
    assert isinstance(errors[0], ssl.SSLCertVerificationError)


@pytest.mark.parametrize(
    "spelling",
    [str.lower, lambda fp: ":".join(fp[i : i + 2] for i in range(0, 64, 2)).upper()],
    ids=["hex", "colons"],
)
def test_pinned_certificate_is_accepted_without_any_slot(qtbot: QtBot, spelling: Any) -> None:
    device = Device()
    config = cfg(pinned_certificates=(spelling(device.fingerprint),))
    assert config.pinned_certificates == (device.fingerprint,)
    with ws_server(ssl_context=device.context) as srv:
        errors, _, got = run_with_decisions(qtbot, srv.url, config)
    assert errors == [] and got == ["trusted ✓"]


def test_changed_certificate_fails_the_pin_clearly(qtbot: QtBot) -> None:
    old, new = Device(), Device()
    with ws_server(ssl_context=new.context) as srv:
        errors, _, got = run_with_decisions(
            qtbot, srv.url, cfg(pinned_certificates=(old.fingerprint,))
        )
    assert got == []
    [error] = errors
    assert isinstance(error, qtws.PinMismatchError)
    assert isinstance(error, ssl.SSLCertVerificationError)
    assert str(error) == (
        f"the certificate of localhost:{srv.port} does not match pinned_certificates "
        f"(its SHA-256 fingerprint is {new.fingerprint})"
    )


def test_changed_certificate_is_offered_and_may_be_accepted(qtbot: QtBot) -> None:
    old, new = Device(), Device()
    with ws_server(ssl_context=new.context) as srv:
        errors, offered, got = run_with_decisions(
            qtbot,
            srv.url,
            cfg(pinned_certificates=(old.fingerprint,)),
            lambda ws, cert: cert.accept(),
        )
    assert errors == [] and got == ["trusted ✓"]
    assert offered[0].fingerprint == new.fingerprint
    assert isinstance(offered[0].error, qtws.PinMismatchError)


def test_pins_are_for_the_urls_host_only(qtbot: QtBot) -> None:
    """A redirect to another host (127.0.0.1 instead of localhost) is verified as usual."""
    device = Device()
    port: list[int] = []

    def to_other_host(conn: Any, request: Any) -> Response | None:
        if request.path == "/old":
            location = f"wss://127.0.0.1:{port[0]}/new"
            return Response(302, "Found", Headers([("Location", location)]), b"")
        return None

    config = cfg(pinned_certificates=(device.fingerprint,))
    with ws_server(ssl_context=device.context, process_request=to_other_host) as srv:
        port.append(srv.port)
        errors, _, got = run_with_decisions(qtbot, srv.url + "old", config)
        direct, _, _ = run_with_decisions(qtbot, srv.url + "new", config)
    assert got == [] and isinstance(errors[0], ssl.SSLCertVerificationError)
    assert not isinstance(errors[0], qtws.PinMismatchError)  # CA verification failed
    assert direct == []  # the pinned host itself is fine


@pytest.mark.parametrize(
    "pins,exc,match",
    [
        ("ab" * 32, TypeError, "not one string"),
        (("ab" * 31,), ValueError, "not a SHA-256 fingerprint"),
        (("zz" * 32,), ValueError, "not a SHA-256 fingerprint"),
        ((5,), TypeError, "is a str"),
    ],
)
def test_invalid_pins(pins: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        qtws.Config(pinned_certificates=pins)


def test_pins_and_ssl_context_conflict() -> None:
    with pytest.raises(ValueError, match="not both"):
        qtws.Config(pinned_certificates=("ab" * 32,), ssl_context=ssl.create_default_context())


@pytest.mark.parametrize(
    "der", [b"", b"\x30", b"\x30\x85\xff\xff\xff\xff\xff", b"\x30\x03\x30\x01\x00", b"junk" * 50]
)
def test_malformed_certificates_describe_as_empty(der: bytes) -> None:
    cert = qtws.UntrustedCertificate("h", 1, der, ssl.SSLCertVerificationError("x"))
    assert (cert.subject, cert.issuer, cert.not_before, cert.not_after) == ("", "", None, None)
    assert cert.fingerprint == hashlib.sha256(der).hexdigest()
