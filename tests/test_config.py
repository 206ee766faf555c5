"""Config and ReconnectPolicy validation."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import random
from typing import Any

import pytest

import qtws


def test_defaults_match_the_contract() -> None:
    c = qtws.Config()
    assert (c.ping_interval, c.ping_timeout, c.open_timeout, c.close_timeout) == (
        20.0,
        20.0,
        10.0,
        5.0,
    )
    assert c.max_message_size == 16 * 2**20 and c.max_frame_size is None
    assert c.compression is True and c.proxy == "auto" and c.max_redirects == 5
    assert c.reconnect is None and c.outbox_limit == 1000
    assert c.user_agent is not None and c.user_agent.startswith("qtws/")


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        qtws.Config().ping_interval = 1  # type: ignore[misc]


def test_headers_mapping_and_pairs() -> None:
    assert qtws.Config(headers={"A": "1"}).headers == (("A", "1"),)
    assert qtws.Config(headers=[("A", "1"), ("A", "2")]).headers == (("A", "1"), ("A", "2"))


@pytest.mark.parametrize(
    ("headers", "exc", "message"),
    [
        ({"Authorization": "Bearer s3cret\r\n"}, ValueError, "'Authorization': its value holds"),
        (["Authorization: Bearer s3cret"], TypeError, "got a str (a 'Name: value' line?)"),
        ([("Authorization", b"Bearer s3cret")], TypeError, "str (header 'Authorization')"),
        ({b"X-Token": "s3cret"}, TypeError, "str (header a bytes)"),
        ("Authorization: Bearer s3cret", TypeError, "headers must be a mapping or"),
        ({"Bad:Name": "s3cret"}, ValueError, "invalid header name 'Bad:Name'"),
    ],
)
def test_bad_headers_are_named_and_their_values_never_shown(
    headers: object, exc: type[Exception], message: str
) -> None:
    with pytest.raises(exc) as caught:
        qtws.Config(headers=headers)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"ping_interval": -1}, ValueError),
        ({"ping_interval": 0}, ValueError),
        ({"open_timeout": float("nan")}, ValueError),
        ({"close_timeout": "5"}, TypeError),
        ({"max_message_size": 0}, ValueError),
        ({"max_frame_size": 1.5}, TypeError),
        ({"subprotocols": "chat"}, TypeError),
        ({"subprotocols": ["a b"]}, ValueError),
        ({"headers": {"Bad:Name": "x"}}, ValueError),
        ({"headers": {"X": "a\r\nInjected: 1"}}, ValueError),
        ({"headers": [("X",)]}, TypeError),
        ({"compression": 1}, TypeError),
        ({"ssl_context": "yes"}, TypeError),
        ({"proxy": "ftp://h:1"}, ValueError),
        ({"max_redirects": -1}, ValueError),
        ({"reconnect": True}, TypeError),
        ({"outbox_limit": 0}, ValueError),
    ],
)
def test_invalid_config(kwargs: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        qtws.Config(**kwargs)


def test_reconnect_delays_grow_and_cap() -> None:
    p = qtws.ReconnectPolicy(initial_delay=0.5, max_delay=4.0, multiplier=2.0, jitter=0.0)
    assert [p.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert p.delay(10_000) == 4.0


def test_reconnect_jitter_stays_in_range() -> None:
    p = qtws.ReconnectPolicy(initial_delay=1.0, max_delay=1.0, jitter=0.5)
    rng = random.Random(1)
    delays = [p.delay(1, rng) for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial_delay": -1},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"max_delay": 0.1, "initial_delay": 1},
        {"max_attempts": 0},
    ],
)
def test_invalid_policy(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        qtws.ReconnectPolicy(**kwargs)


def test_delay_attempt_starts_at_one() -> None:
    with pytest.raises(ValueError):
        qtws.ReconnectPolicy().delay(0)


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"origin": 5}, TypeError),
        ({"user_agent": b"x"}, TypeError),
        ({"user_agent": "a\r\nX: y"}, ValueError),
        ({"headers": {"Sec-WebSocket-Key": "x"}}, ValueError),
        ({"headers": {"Upgrade": "h2c"}}, ValueError),
        ({"proxy": "http://"}, ValueError),
        ({"proxy": "http://user:pw@"}, ValueError),
    ],
)
def test_more_invalid_config(kwargs: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        qtws.Config(**kwargs)


def test_overridable_headers_are_accepted() -> None:
    c = qtws.Config(headers={"Authorization": "Bearer t", "Host": "virtual.example"})
    assert ("Authorization", "Bearer t") in c.headers


@pytest.mark.parametrize(
    "name", ["ping_interval", "ping_timeout", "open_timeout", "inactivity_timeout"]
)
def test_zero_timeouts_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="None disables"):
        qtws.Config(**{name: 0})


def test_proxy_without_host_is_rejected() -> None:
    with pytest.raises(ValueError):
        qtws.Config(proxy="http://:1")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: qtws.Config(pingInterval=5), "'pingInterval'; did you mean 'ping_interval'?"),
        (lambda: qtws.Config(maxMessageSize=1), "did you mean 'max_message_size'?"),
        (lambda: qtws.Config(reconect=None), "'reconect'; did you mean 'reconnect'?"),
        (lambda: qtws.Config(xyz=1), "Config() got an unexpected keyword argument 'xyz'"),
        (lambda: qtws.ReconnectPolicy(initialDelay=1), "did you mean 'initial_delay'?"),
    ],
)
def test_a_misspelt_field_names_the_right_one(make: Any, message: str) -> None:
    # Qt developers write camelCase (pingInterval); the dataclass error alone does not help.
    with pytest.raises(TypeError) as caught:
        make()
    assert str(caught.value).endswith(message)


def test_copies_and_replace_still_work() -> None:
    config = qtws.Config(ping_interval=5, reconnect=qtws.ReconnectPolicy(max_attempts=3))
    assert dataclasses.replace(config, ping_interval=7).ping_interval == 7
    assert pickle.loads(pickle.dumps(config)) == config
    assert copy.deepcopy(config) == config
