"""BRIDGE_* environment settings, read once at start-up into a frozen value.

Bad values stop the process with one line naming the variable, the value's problem and what is
expected, so a typo in a deployment manifest is found at once rather than at the first request.
The two settings that hold secrets, BRIDGE_ADMIN_TOKEN and BRIDGE_DB (its password), may instead
name a file with BRIDGE_ADMIN_TOKEN_FILE and BRIDGE_DB_FILE (Docker and Kubernetes secrets).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bridge.secretfiles import read_secret_file

LogFormat = Literal["json", "text"]
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
DEFAULT_CONFIG = "rules.yaml"
DEFAULT_DB = "sqlite:///data/bridge.db"
DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8080
DEFAULT_LOG_LEVEL = "info"
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# Webhook bodies held at once by all connections together (bridge/receiver/body.py BodyBudget):
# 51 bodies of the largest size, far above Kontent.ai's own concurrency.
DEFAULT_MAX_PENDING_BODY_BYTES = 256 * 1024 * 1024
# Slow or stalled clients (bridge/receiver/protocol.py): a request's headers must arrive within
# the first, its body within the second; the bound on open connections defaults to one derived
# from the process's file descriptor limit (None here).
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0


class SettingsError(ValueError):
    """One bad environment variable; the message is the whole one-line error."""


@dataclass(frozen=True, slots=True)
class Settings:
    config: Path = Path(DEFAULT_CONFIG)
    db: str = DEFAULT_DB
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    admin_token: str | None = None
    log_format: LogFormat = "json"
    log_level: str = DEFAULT_LOG_LEVEL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_pending_body_bytes: int = DEFAULT_MAX_PENDING_BODY_BYTES
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    max_connections: int | None = None
    public_url: str | None = None  # BRIDGE_PUBLIC_URL: the dashboard's address behind a proxy

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every BRIDGE_* variable; raise SettingsError on the first bad one."""
        env = os.environ if env is None else env
        # The store reads BRIDGE_RETENTION itself; checked here too so that `bridge serve`
        # names the variable at once instead of failing to open the store.
        retention_setting(env)

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        return cls(
            config=Path(get("BRIDGE_CONFIG") or DEFAULT_CONFIG),
            db=database_url(env),
            host=get("BRIDGE_HOST") or DEFAULT_HOST,
            port=_port("BRIDGE_PORT", get("BRIDGE_PORT") or str(DEFAULT_PORT)),
            admin_token=secret_setting(env, "BRIDGE_ADMIN_TOKEN"),
            log_format=_log_format(get("BRIDGE_LOG_FORMAT")),
            log_level=_choice(
                "BRIDGE_LOG_LEVEL", get("BRIDGE_LOG_LEVEL") or DEFAULT_LOG_LEVEL, LOG_LEVELS
            ),
            max_body_bytes=_positive_int(
                "BRIDGE_MAX_BODY_BYTES", get("BRIDGE_MAX_BODY_BYTES") or str(DEFAULT_MAX_BODY_BYTES)
            ),
            max_pending_body_bytes=_positive_int(
                "BRIDGE_MAX_PENDING_BODY_BYTES",
                get("BRIDGE_MAX_PENDING_BODY_BYTES") or str(DEFAULT_MAX_PENDING_BODY_BYTES),
            ),
            header_timeout_s=_seconds("BRIDGE_HEADER_TIMEOUT_S", get("BRIDGE_HEADER_TIMEOUT_S"))
            or DEFAULT_HEADER_TIMEOUT_S,
            body_timeout_s=_seconds("BRIDGE_BODY_TIMEOUT_S", get("BRIDGE_BODY_TIMEOUT_S"))
            or DEFAULT_BODY_TIMEOUT_S,
            max_connections=_optional_count(
                "BRIDGE_MAX_CONNECTIONS", get("BRIDGE_MAX_CONNECTIONS")
            ),
            public_url=public_url_setting(get("BRIDGE_PUBLIC_URL")),
        )

    def with_overrides(
        self, *, config: str | None = None, host: str | None = None, port: int | None = None
    ) -> Settings:
        """Command-line options win over the environment."""
        return replace(
            self,
            config=Path(config) if config else self.config,
            host=host or self.host,
            port=self.port if port is None else port,
        )


def database_url(env: Mapping[str, str] | None = None) -> str:
    """BRIDGE_DB (or the file BRIDGE_DB_FILE names), checked; the default SQLite file if unset.

    The delivery commands read only this, so a bad unrelated setting does not stop them."""
    return _db_url(secret_setting(os.environ if env is None else env, "BRIDGE_DB") or DEFAULT_DB)


def retention_setting(env: Mapping[str, str]) -> float | None:
    """BRIDGE_RETENTION in seconds (how long notifications and finished jobs are kept), if set."""
    raw = (env.get("BRIDGE_RETENTION") or "").strip()
    if not raw:
        return None
    from bridge.config.durations import DurationTooLong, parse_duration

    hint = "write how long notifications and finished jobs are kept, e.g. 3d, 12h or 90m"
    try:
        seconds = parse_duration(raw)
    except DurationTooLong as exc:
        raise SettingsError(f"BRIDGE_RETENTION: {raw!r}: {exc}") from None
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise SettingsError(f"BRIDGE_RETENTION: {raw!r} is not a duration longer than 0: {hint}")
    return seconds


def secret_setting(env: Mapping[str, str], name: str) -> str | None:
    """`name`, or the content of the file `name_FILE` names (one final line break dropped)."""
    value = (env.get(name) or "").strip() or None
    file = (env.get(f"{name}_FILE") or "").strip() or None
    if file is None:
        return value
    if value is not None:
        raise SettingsError(f"{name} and {name}_FILE are both set: set only one of them")
    try:
        content = read_secret_file(file)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid UTF-8"
        raise SettingsError(f"{name}_FILE={file!r}: cannot read the file: {reason}") from None
    content = content.strip()
    if not content:
        raise SettingsError(f"{name}_FILE={file!r}: the file is empty")
    return content


def _port(name: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{name}={raw!r} is out of range (0-65535)")
    return port


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number of bytes") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than 0")
    return value


def _seconds(name: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value < 86400:
        raise SettingsError(f"{name}={raw!r} must be greater than 0 and less than 86400")
    return value


def _optional_count(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than 0")
    return value


def _choice(name: str, raw: str, choices: tuple[str, ...]) -> str:
    value = raw.lower()
    if value not in choices:
        raise SettingsError(f"{name}={raw!r} must be one of: {', '.join(choices)}")
    return value


def _log_format(raw: str | None) -> LogFormat:
    if raw is None:
        # People read a terminal; machines collect everything else.
        return "text" if sys.stderr.isatty() else "json"
    value = _choice("BRIDGE_LOG_FORMAT", raw, ("json", "text"))
    return "json" if value == "json" else "text"


def _db_url(raw: str) -> str:
    if not raw.startswith(("sqlite://", "postgresql://", "postgres://")):
        # The value may hold a password: name only what precedes the first colon.
        scheme = raw.split(":", 1)[0]
        raise SettingsError(
            f"BRIDGE_DB (scheme {scheme!r}) must start with sqlite:/// (a file) "
            "or postgresql:// (a server)"
        )
    return raw


def public_url_setting(raw: str | None) -> str | None:
    """BRIDGE_PUBLIC_URL as `scheme://host[:port]`: the address people open the dashboard at
    when a reverse proxy does not pass the Host header on (bridge/admin/origin.py)."""
    if raw is None:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or past 65535
    except ValueError:
        parts = urlsplit("")  # an unclosed IPv6 bracket, a bad port: the message below
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        raise SettingsError(
            f"BRIDGE_PUBLIC_URL={raw!r} must be the address the dashboard is opened at, "
            "such as https://bridge.example.com (http:// or https://, a host, an optional port)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(
            f"BRIDGE_PUBLIC_URL={raw!r} must not have a path: the dashboard is served at "
            "/admin of that address (a proxy may not move it under a prefix)"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"
