"""The store protocol: everything the receiver, the workers, the CLI and the admin API ask of it.

Stores are interchangeable (SQLite embedded, PostgreSQL for replicas); callers only see this
protocol, the values in `model.py` and `StoreUnavailable`. Usage:

    store = open_store("sqlite:///data/bridge.db", SystemClock())
    await store.open()          # creates the database and applies pending migrations
    ...
    await store.close()

(or `async with open_store(url, clock) as store:`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Protocol

from bridge.delivery.clock import Clock, ManualClock, SystemClock
from bridge.delivery.model import (
    Accepted,
    ActionState,
    AlertKind,
    Batch,
    Claim,
    ClaimPolicy,
    DeliveryRow,
    Episode,
    JobDetail,
    LogFilter,
    NotificationRow,
    ObjectVersion,
    Outcome,
    RuleStats,
    SourceState,
    StoredNotification,
)
from bridge.events import Notification
from bridge.plan import PlannedJob

__all__ = [
    "Clock",
    "ManualClock",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SystemClock",
    "open_store",
]


class StoreError(Exception):
    """Base of the store's own exceptions; driver errors never leave a store."""


class StoreUnavailable(StoreError):
    """The store cannot durably write (or read) now: the receiver answers 503, workers back off."""


class Store(Protocol):
    clock: Clock
    retention_s: float  # how long notifications and finished jobs are kept
    migrations_applied: list[str]  # by the last open(), for `bridge db upgrade`

    async def open(self) -> None:
        """Connect, create the database if needed and apply pending migrations."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Store: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def upgrade(self) -> list[str]:
        """Apply pending migrations; returns the names of those applied."""
        ...

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called (in the event loop) after a commit that may have made jobs due."""
        ...

    # -- the receiver -------------------------------------------------------------------------
    async def accept(
        self,
        notifications: Sequence[Notification],
        jobs: Sequence[PlannedJob],
        *,
        request_id: str | None,
    ) -> Accepted:
        """Store new notifications and their jobs durably; redeliveries create no jobs.

        A notification about an object (see `records.object_key`) is a redelivery only if it
        repeats the latest one accepted for that object; one without an object, if its key is
        stored. Within one call, the notifications count in order (two identical ones: the
        second is a redelivery).

        Returns only after the commit (group commit: concurrent calls share one transaction).
        """
        ...

    async def enqueue(self, jobs: Sequence[PlannedJob], *, request_id: str | None = None) -> int:
        """Create jobs without dedupe (replay); returns the number created."""
        ...

    async def latest_modified(
        self, object_id: str, language: str | None, slot: str | None
    ) -> str | None:
        """The greatest `last_modified` of the latest notification accepted for this object
        (id, language, delivery slot) over all webhooks, within retention; None if none has one.

        A polled source (Sync API) uses it to skip changes a webhook already delivered.
        """
        ...

    # -- the workers --------------------------------------------------------------------------
    async def claim(self, action: str, policy: ClaimPolicy, *, worker_id: str) -> Claim:
        """Claim due batches of one action under a lease, honouring ordering and debounce."""
        ...

    async def record(self, batch: Batch, outcome: Outcome) -> Episode:
        """Record one attempt of a batch; returns the action's failure episode afterwards."""
        ...

    async def release(self, batch: Batch) -> None:
        """Give a claimed batch back unattempted (graceful stop)."""
        ...

    async def raise_alert(self, action: str, kind: AlertKind, jobs: Sequence[PlannedJob]) -> bool:
        """Enqueue alert jobs unless this episode already had a `kind` alert; True if enqueued."""
        ...

    async def prune(self, *, before: float) -> int:
        """Delete finished jobs and unreferenced notifications older than `before`.

        Never deletes pending, running, retrying or dead jobs, nor the notifications they need.
        """
        ...

    # -- the CLI and the admin API ------------------------------------------------------------
    async def action_states(self) -> list[ActionState]: ...

    async def deliveries(
        self,
        *,
        action: str | None = None,
        filter: LogFilter = "all",
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryRow]: ...

    async def job(self, job_id: int) -> JobDetail | None: ...

    async def retry_job(self, job_id: int) -> bool: ...

    async def reset_action(self, name: str) -> bool: ...

    async def set_enabled(self, name: str, enabled: bool) -> None: ...

    async def notifications(self, *, limit: int = 50, offset: int = 0) -> list[NotificationRow]: ...

    async def stored_notifications(
        self, *, since: float, after_seq: int = 0, limit: int = 500
    ) -> list[StoredNotification]: ...

    async def count_notifications(self, *, since: float) -> int: ...

    async def rule_stats(self) -> dict[str, RuleStats]: ...

    async def rule_matches(self, rule: str, *, limit: int = 50) -> list[DeliveryRow]: ...

    async def probe_write(self) -> None:
        """Commit a write that changes nothing; StoreUnavailable when the store refuses writes
        (read-only file or database, full disk, no write lock), as /readyz must know."""
        ...

    # -- polled sources (bridge/sources) ------------------------------------------------------
    async def claim_source(self, name: str, *, owner: str, lease_s: float) -> SourceState | None:
        """Take or renew the lease on source `name` for `lease_s`; its saved state, or None
        while another owner's lease runs (that replica polls, this one waits)."""
        ...

    async def save_source(
        self, name: str, *, owner: str, scope: str, token: str | None, lease_s: float
    ) -> bool:
        """Save the position and renew the lease; False if `owner` no longer holds it."""
        ...

    async def release_source(self, name: str, *, owner: str) -> None:
        """Give the lease up (a clean stop), so another replica takes over at once."""
        ...

    async def object_versions(
        self, object_id: str, language: str | None, slot: str | None
    ) -> list[ObjectVersion]:
        """Each webhook's latest notification about this object (id, language, slot) within
        retention: a polled source skips the deltas a webhook already delivered."""
        ...


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
    if url.startswith("sqlite://"):
        from bridge.delivery.sqlite import SqliteStore

        return SqliteStore(sqlite_path(url), clock, retention_s=retention_s)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from bridge.delivery.postgres import PostgresStore
        except ImportError as exc:  # the PostgreSQL store is its own piece of work
            raise StoreError(f"PostgreSQL store is not available: {exc}") from None
        check_postgres_url(url)
        store: Store = PostgresStore(url, clock, retention_s=retention_s)
        return store
    scheme = url.split(":", 1)[0]
    raise StoreError(f"unsupported database URL {scheme!r}: use sqlite:/// or postgresql://")


def retention_from_env() -> float:
    from bridge.settings import SettingsError, retention_setting

    try:
        seconds = retention_setting(os.environ)
    except SettingsError as exc:
        raise StoreError(str(exc)) from None
    return DEFAULT_RETENTION_S if seconds is None else seconds


def check_postgres_url(url: str) -> None:
    """Refuse a URL the driver would fail on with a traceback (a port that is not a number)."""
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
