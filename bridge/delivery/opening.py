"""Opening a store from its URL: the connector for the scheme, the path or DSN, retention.

    store = open_store("sqlite:///data/bridge.db", SystemClock())
    await store.open()          # creates the database and applies pending migrations

A new database is one more branch here, a connector module and an SQL folder (store.py).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from bridge.delivery.clock import Clock, SystemClock
from bridge.delivery.connectors import Connector
from bridge.delivery.errors import StoreError
from bridge.delivery.store import Store

DEFAULT_RETENTION_S = 3 * 86400.0
RETENTION_ENV = "BRIDGE_RETENTION"


def open_store(url: str, clock: Clock | None = None, *, retention_s: float | None = None) -> Store:
    """A store for `url` (`sqlite:///relative/path`, `sqlite:////abs/path`, `postgresql://...`).

    Not yet connected: `await store.open()` (or `async with`). Notifications and finished jobs
    are kept `retention_s`, by default BRIDGE_RETENTION (a duration like `3d`) or 3 days.
    """
    clock = clock or SystemClock()
    if retention_s is None:
        retention_s = retention_from_env()
    connector: Connector
    if url.startswith("sqlite://"):
        from bridge.delivery.connectors.sqlite import SqliteConnector

        connector = SqliteConnector(sqlite_path(url))
    elif url.startswith(("postgresql://", "postgres://")):
        try:
            from bridge.delivery.connectors.postgres import PostgresConnector
        except ImportError as exc:  # asyncpg is not installed
            raise StoreError(f"PostgreSQL store is not available: {exc}") from None
        check_postgres_url(url)
        connector = PostgresConnector(url)
    else:
        scheme = url.split(":", 1)[0]
        raise StoreError(f"unsupported database URL {scheme!r}: use sqlite:/// or postgresql://")
    return Store(connector, clock, retention_s=retention_s)


def retention_from_env() -> float:
    from bridge.settings import SettingsError, retention_setting

    try:
        seconds = retention_setting(os.environ)
    except SettingsError as exc:
        raise StoreError(str(exc)) from None
    return DEFAULT_RETENTION_S if seconds is None else seconds


def check_postgres_url(url: str) -> None:
    """Refuse a URL the driver would fail on with a traceback (a port that is not a number, an
    unclosed IPv6 bracket). The URL is never echoed: it may hold a password."""
    try:
        urlsplit(url)
    except ValueError as exc:  # asyncpg's urlparse raises the same out of connect()
        raise StoreError(
            f"the database URL cannot be read: {exc} (postgresql://user@[::1]:5432/database)"
        ) from None
    netloc = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    hosts = netloc.rsplit("@", 1)[-1]
    for host in hosts.split(","):
        port = host.rsplit("]", 1)[-1] if host.startswith("[") else host
        if ":" not in port:
            continue
        number = port.rsplit(":", 1)[1]
        if not (number.isascii() and number.isdigit() and 0 < int(number) < 65536):
            raise StoreError(
                f"the port {number!r} in the database URL is not a number from 1 to 65535 "
                "(postgresql://user@host:5432/database)"
            )


def sqlite_path(url: str) -> str:
    """`sqlite:///data/bridge.db` is relative, `sqlite:////var/lib/bridge.db` absolute."""
    path = url.removeprefix("sqlite://")
    if path.startswith("/"):
        path = path[1:]
    if not path:
        raise StoreError("sqlite URL has no path: use sqlite:///data/bridge.db")
    return path
