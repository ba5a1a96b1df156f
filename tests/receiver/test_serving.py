"""How `bridge serve` sizes and configures uvicorn: the settings, the connection bound, the
descriptor limit and the protocol class it passes."""

from __future__ import annotations

import resource

import pytest

from bridge import logthrottle
from bridge.receiver.protocol import GuardedHttpProtocol
from bridge.receiver.serving import connection_bound, raise_fd_limit, uvicorn_config
from bridge.settings import Settings, SettingsError


def test_connection_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "BRIDGE_HEADER_TIMEOUT_S": "2.5",
            "BRIDGE_BODY_TIMEOUT_S": "45",
            "BRIDGE_MAX_CONNECTIONS": "300",
        }
    )
    assert (settings.header_timeout_s, settings.body_timeout_s) == (2.5, 45.0)
    assert settings.max_connections == 300
    defaults = Settings.from_env({})
    assert (defaults.header_timeout_s, defaults.body_timeout_s) == (10.0, 30.0)
    assert defaults.max_connections is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BRIDGE_HEADER_TIMEOUT_S", "soon", "BRIDGE_HEADER_TIMEOUT_S='soon' is not a number"),
        ("BRIDGE_BODY_TIMEOUT_S", "0", "must be greater than 0 and less than 86400"),
        ("BRIDGE_BODY_TIMEOUT_S", "nan", "must be greater than 0 and less than 86400"),
        ("BRIDGE_MAX_CONNECTIONS", "-1", "BRIDGE_MAX_CONNECTIONS='-1' must be greater than 0"),
        ("BRIDGE_MAX_CONNECTIONS", "1.5", "is not a whole number"),
    ],
)
def test_bad_connection_settings_are_one_line(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("configured", "fd_limit", "bound"),
    [
        (None, 1024, 768),  # a quarter kept for the store, logs and action clients
        (None, 256, 192),
        (None, 100, 36),  # at least 64 kept
        (None, 1 << 20, 4096),  # the automatic bound stops at 4,096
        (500, 1024, 500),
        (5000, 1024, 768),  # never at or over the descriptor limit
    ],
)
def test_connection_bound(configured: int | None, fd_limit: int, bound: int) -> None:
    assert connection_bound(configured, fd_limit) == bound


def test_soft_fd_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard != resource.RLIM_INFINITY and soft == hard and hard > 256:
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        raised = raise_fd_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == raised
        assert raised == (hard if hard != resource.RLIM_INFINITY else 1 << 20)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_uvicorn_gets_the_guarded_protocol_with_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed: list[bool] = []
    monkeypatch.setattr(logthrottle, "install", lambda: installed.append(True))  # not on pytest's
    settings = Settings(header_timeout_s=3.0, body_timeout_s=4.0, max_connections=50)
    config = uvicorn_config(object(), settings)  # type: ignore[arg-type]
    assert isinstance(config.http, type) and issubclass(config.http, GuardedHttpProtocol)
    limits = config.http.limits
    assert (limits.header_timeout_s, limits.body_timeout_s, limits.max_connections) == (3, 4, 50)
    assert installed == [True]
