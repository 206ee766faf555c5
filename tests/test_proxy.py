"""Proxy settings (qtws.proxy): environment rules, loopback bypass, URL parsing, secrets."""

from __future__ import annotations

import logging

import pytest

from qtws.core import parse_uri
from qtws.proxy import ProxySpec, parse_proxy, proxy_for

_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _VARS:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)


def test_environment_proxy_per_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://plain.example:3128")
    monkeypatch.setenv("https_proxy", "http://secure.example:3129")
    assert proxy_for(parse_uri("ws://feed.example.org/"), "auto") == ProxySpec(
        "plain.example", 3128
    )
    assert proxy_for(parse_uri("wss://feed.example.org/"), "auto") == ProxySpec(
        "secure.example", 3129
    )
    monkeypatch.delenv("https_proxy")
    monkeypatch.setenv("all_proxy", "http://all.example")
    assert proxy_for(parse_uri("wss://feed.example.org/"), "auto") == ProxySpec("all.example", 8080)


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:9/",
        "ws://127.9.9.9/",
        "ws://localhost:8765/",
        "ws://[::1]:80/",
        "ws://app.localhost/",
    ],
)
def test_environment_proxy_never_applies_to_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    assert proxy_for(parse_uri(url), "auto") is None
    # An explicit proxy is the application's choice: it applies to loopback too.
    assert proxy_for(parse_uri(url), "http://proxy.example:3128") == ProxySpec(
        "proxy.example", 3128
    )


def test_no_proxy_with_and_without_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "internal.example,other.example:8080")
    assert proxy_for(parse_uri("ws://internal.example/"), "auto") is None
    assert proxy_for(parse_uri("ws://other.example:8080/"), "auto") is None
    assert proxy_for(parse_uri("ws://feed.example.org/"), "auto") is not None
    assert proxy_for(parse_uri("ws://feed.example.org/"), None) is None


def test_credentials_become_basic_auth_and_stay_out_of_reprs() -> None:
    spec = parse_proxy("http://us%40r:s3cret@proxy.example:3128")
    assert spec.auth == "Basic dXNAcjpzM2NyZXQ="  # base64("us@r:s3cret")
    assert "s3cret" not in repr(spec) and "dXNA" not in repr(spec)


def test_bad_proxy_urls_are_rejected_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported proxy URL") as info:
        parse_proxy("ftp://user:s3cret@proxy.example:21")
    assert "s3cret" not in str(info.value) and "***" in str(info.value)
    with pytest.raises(ValueError, match="invalid proxy URL") as info:
        parse_proxy("http://user:s3cret@proxy.example:99999")
    assert "s3cret" not in str(info.value)


def test_unusable_environment_proxy_warns_without_the_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("all_proxy", "gopher://user:s3cret@proxy.example:1080")
    with caplog.at_level(logging.WARNING, logger="qtws"):
        assert proxy_for(parse_uri("ws://feed.example.org/"), "auto") is None
    assert "ignoring the proxy" in caplog.text
    assert "s3cret" not in caplog.text
