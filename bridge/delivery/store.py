"""The one store: every domain operation of delivery, written once over a connector.

The receiver, the workers, the CLI, the admin API and the polled sources see only this class,
the values in `model.py` and `StoreUnavailable`. What differs between databases is below it:
a connector (`connectors/sqlite.py`, `connectors/postgres.py`) runs the named queries of
`sql/<dialect>/queries.sql` (procrastinate's JobManager over its connector is the model).
Usage (`open_store` is in opening.py):

    store = open_store("sqlite:///data/bridge.db", SystemClock())
    await store.open()          # creates the database and applies pending migrations
    ...
    await store.close()

(or `async with open_store(url, clock) as store:`).

Two operations have a one-statement form where a dialect can say it in one statement: `accept`
(PostgreSQL's `accept` query: a whole request in one round trip, dedupe included: accepting.py)
and `record` (attempts that finish together are written together, on PostgreSQL in one
`record_batch` statement per action: recording.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bridge.delivery import accepting, claims, pruning, rows
from bridge.delivery.clock import Clock, ManualClock, SystemClock
from bridge.delivery.connectors import Connector, Tx
from bridge.delivery.errors import StoreError, StoreUnavailable
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
    SeriesBucket,
    SourceLease,
    SourceState,
    StoredNotification,
)
from bridge.delivery.policy import next_alerted
from bridge.delivery.recording import AttemptRecorder
from bridge.events import Notification
from bridge.plan import PlannedJob

__all__ = [
    "Clock",
    "ManualClock",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SystemClock",
]


class Store:
    def __init__(
        self, connector: Connector, clock: Clock, *, retention_s: float = 3 * 86400
    ) -> None:
        self.connector = connector
        self.clock = clock
        self.retention_s = retention_s  # how long notifications and finished jobs are kept
        self.migrations_applied: list[str] = []  # by the last open(), for `bridge db upgrade`
        # set_enabled calls made through this store: a fifo sequence in this process then reads
        # the flag again before its next call instead of waiting for its periodic re-read.
        self.enabled_changes = 0
        self._listeners: list[Callable[[], None]] = []
        self._recorder = AttemptRecorder(connector)
        connector.listen(self._notify)

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, create the database if needed and apply pending migrations."""
        await self.connector.open()
        try:
            self.migrations_applied = await self.upgrade()
        except BaseException:
            await self.connector.close()
            raise

    async def close(self) -> None:
        await self.connector.close()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def upgrade(self) -> list[str]:
        """Apply pending migrations; returns the names of those applied."""
        return await self.connector.migrate(self.clock.now())

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Called (in the event loop) after a commit that may have made jobs due, by this
        process or (PostgreSQL) another replica."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()

    async def _write_and_notify(self, op: Callable[[Tx], Awaitable[bool]]) -> bool:
        """A write that may make jobs due: other processes are notified in its transaction,
        this one's listeners after its commit."""

        async def with_notify(tx: Tx) -> bool:
            changed = await op(tx)
            if changed:
                await tx.notify()
            return changed

        changed = await self.connector.write(with_notify)
        if changed:
            self._notify()
        return changed

    # -- the receiver --------------------------------------------------------------------------
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
        second is a redelivery). Returns only after the commit.
        """
        accepted = await accepting.accept(
            self.connector, notifications, jobs, now=self.clock.now(), request_id=request_id
        )
        if accepted.jobs:
            self._notify()
        return accepted

    async def enqueue(self, jobs: Sequence[PlannedJob], *, request_id: str | None = None) -> int:
        """Create the jobs of stored notifications without dedupe (a replay); the number
        created. A job whose notification is no longer stored (pruned since the replay read
        it) is not created, nor counted; the others' notifications stay stored while they are
        (pruning.py)."""
        return await self._insert(jobs, request_id, of_stored=True)

    async def enqueue_follow_ups(self, jobs: Sequence[PlannedJob]) -> int:
        """Create jobs whose keys are their own and name no stored notification (follow-ups:
        `translate:<item>:...`); the number created."""
        return await self._insert(jobs, None, of_stored=False)

    async def _insert(
        self, jobs: Sequence[PlannedJob], request_id: str | None, *, of_stored: bool
    ) -> int:
        now = self.clock.now()
        created = await self.connector.write(
            lambda tx: accepting.insert_jobs(tx, jobs, now, request_id, of_stored=of_stored)
        )
        if created:
            self._notify()
        return created

    # -- the workers ---------------------------------------------------------------------------
    async def claim(self, action: str, policy: ClaimPolicy, *, worker_id: str) -> Claim:
        """Claim due batches of one action under a lease, honouring ordering and debounce."""
        now = self.clock.now()
        return await self.connector.write(
            lambda tx: claims.claim(tx, action, policy, worker_id, now)
        )

    async def record(self, batch: Batch, outcome: Outcome) -> Episode:
        """Record one attempt of a batch; returns the action's failure episode afterwards.

        Attempts that finish together are written together (recording.py)."""
        return await self._recorder.record(batch, outcome)

    async def release(self, *batches: Batch) -> None:
        """Give claimed batches back unattempted (graceful stop, the rest of a fifo claim)."""

        async def op(tx: Tx) -> bool:
            for worker in {batch.claimed_by for batch in batches}:
                ids = [i for batch in batches if batch.claimed_by == worker for i in batch.job_ids]
                await tx.execute("release_jobs", ids=ids, worker=worker)
            return True

        if not batches:
            return

        await self._write_and_notify(op)

    async def raise_alert(self, action: str, kind: AlertKind, jobs: Sequence[PlannedJob]) -> bool:
        """Enqueue alert jobs unless this episode already had a `kind` alert; True if enqueued."""
        now = self.clock.now()

        async def op(tx: Tx) -> bool:
            # Locked (waiting, not skipping), so two replicas never both raise one alert.
            locked = rows.episode(action, await tx.fetch_one("lock_episode", action=action))
            new = next_alerted(locked.alerted, kind)
            if new is None:
                return False
            await tx.execute("set_alerted", action=action, alerted=",".join(sorted(new)))
            await accepting.insert_jobs(tx, jobs, now, None)
            return True

        raised = await self.connector.write(op)
        if raised and jobs:
            self._notify()
        return raised

    async def prune(self, *, before: float) -> int:
        """Delete finished jobs and unreferenced notifications older than `before`.

        Never deletes pending, running, retrying or dead jobs, nor the notifications they need,
        nor one whose jobs a replay is creating meanwhile (pruning.py).
        """
        return await self.connector.write(lambda tx: pruning.prune(tx, before))

    # -- the CLI and the admin API -------------------------------------------------------------
    async def action_states(self, known: Sequence[str] = ()) -> list[ActionState]:
        now = self.clock.now()

        async def op(tx: Tx) -> list[ActionState]:
            counts = {row["action"]: row for row in await tx.fetch("action_counts")}
            actions = {row["name"]: row for row in await tx.fetch("actions")}
            names = sorted(set(counts) | set(actions) | set(known))
            return [rows.action_state(n, actions.get(n), counts.get(n), now) for n in names]

        return await self.connector.read(op)

    async def deliveries(
        self,
        *,
        action: str | None = None,
        filter: LogFilter = "all",
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryRow]:
        since = self.clock.now() - self.retention_s
        values: dict[str, Any] = {"action": action, "filter": filter, "limit": limit}
        values |= {"offset": offset, "since": since}
        found = await self.connector.read(lambda tx: tx.fetch("deliveries", **values))
        return [rows.delivery_row(row) for row in found]

    async def job(self, job_id: int) -> JobDetail | None:
        async def op(tx: Tx) -> JobDetail | None:
            row = await tx.fetch_one("job", id=job_id)
            if row is None:
                return None
            key = row["notification_key"]
            raw = await tx.fetch_value("job_notification_raw", key=key) if key else None
            return rows.job_detail(row, raw, await tx.fetch("job_attempts", id=job_id))

        return await self.connector.read(op)

    async def retry_job(self, job_id: int) -> bool:
        now = self.clock.now()

        async def op(tx: Tx) -> bool:
            row = await tx.fetch_one("job_batch", id=job_id)
            return row is not None and await _restart(tx, row, now)

        return await self._write_and_notify(op)

    async def reset_action(self, name: str) -> bool:
        now = self.clock.now()

        async def op(tx: Tx) -> bool:
            row = await tx.fetch_one("oldest_failed_job", action=name)
            return row is not None and await _restart(tx, row, now)

        return await self._write_and_notify(op)

    async def set_enabled(self, name: str, enabled: bool) -> None:
        async def op(tx: Tx) -> bool:
            await tx.execute("set_enabled", action=name, enabled=enabled)
            return True

        await self._write_and_notify(op)
        self.enabled_changes += 1

    async def is_enabled(self, name: str) -> bool:
        """Whether the store lets the action deliver (`bridge disable` parks it)."""
        found = await self.connector.read(lambda tx: tx.fetch_value("action_enabled", action=name))
        return found is None or bool(found)

    async def notifications(self, *, limit: int = 50, offset: int = 0) -> list[NotificationRow]:
        found = await self.connector.read(
            lambda tx: tx.fetch("notifications", limit=limit, offset=offset)
        )
        return [rows.notification_row(row) for row in found]

    async def stored_notifications(
        self, *, since: float, after_seq: int = 0, limit: int = 500
    ) -> list[StoredNotification]:
        values = {"since": since, "after_seq": after_seq, "limit": limit}
        found = await self.connector.read(lambda tx: tx.fetch("stored_notifications", **values))
        return [rows.stored_notification(row) for row in found]

    async def count_notifications(self, *, since: float) -> int:
        count = await self.connector.read(
            lambda tx: tx.fetch_value("count_notifications", since=since)
        )
        return int(count)

    async def rule_stats(self) -> dict[str, RuleStats]:
        found = await self.connector.read(lambda tx: tx.fetch("rule_stats"))
        return {
            row["rule"]: RuleStats(int(row["matched"]), row["last_matched_at"]) for row in found
        }

    async def batch_jobs(self, batch_id: str, *, limit: int = 50) -> tuple[int, list[DeliveryRow]]:
        """How many jobs went out in the call `batch_id` (a row's delivery_id), and the first
        `limit` of them, oldest first."""

        async def op(tx: Tx) -> tuple[int, list[DeliveryRow]]:
            size = await tx.fetch_value("batch_size", batch_id=batch_id)
            found = await tx.fetch("batch_jobs", batch_id=batch_id, limit=limit)
            return int(size or 0), [rows.delivery_row(row) for row in found]

        return await self.connector.read(op)

    async def rule_matches(self, rule: str, *, limit: int = 50) -> list[DeliveryRow]:
        found = await self.connector.read(
            lambda tx: tx.fetch("rule_matches", rule=rule, limit=limit)
        )
        return [rows.delivery_row(row) for row in found]

    async def probe_write(self) -> None:
        """Commit a write that changes nothing; StoreUnavailable when the store refuses writes
        (read-only file or database, full disk, no write lock), as /readyz must know."""
        await self.connector.write(lambda tx: tx.execute("probe_write"))

    # -- polled sources (bridge/sources) -------------------------------------------------------
    async def claim_source(self, name: str, *, owner: str, lease_s: float) -> SourceState | None:
        """Take or renew the lease on source `name` for `lease_s`; its saved state, or None
        while another owner's lease runs (that replica polls, this one waits)."""
        now = self.clock.now()
        values = {"source": name, "owner": owner, "expires_at": now + lease_s, "now": now}
        row = await self.connector.write(lambda tx: tx.fetch_one("claim_source", **values))
        return None if row is None else SourceState(scope=row["scope"], token=row["token"])

    async def save_source(
        self, name: str, *, owner: str, scope: str, token: str | None, lease_s: float
    ) -> bool:
        """Save the position and renew the lease; False if `owner` no longer holds it."""
        now = self.clock.now()
        values: dict[str, object] = {"source": name, "owner": owner, "scope": scope}
        values |= {"token": token, "expires_at": now + lease_s, "now": now}
        count = await self.connector.write(lambda tx: tx.execute("save_source", **values))
        return count > 0

    async def release_source(self, name: str, *, owner: str) -> None:
        """Give the lease up (a clean stop), so another replica takes over at once."""
        values = {"source": name, "owner": owner}
        await self.connector.write(lambda tx: tx.execute("release_source", **values))

    async def source_leases(self) -> dict[str, SourceLease]:
        """The sources whose lease some replica holds now, by name."""
        now = self.clock.now()
        found = await self.connector.read(lambda tx: tx.fetch("source_leases", now=now))
        return {
            row["name"]: SourceLease(row["owner"], float(row["lease_expires_at"])) for row in found
        }

    async def object_versions(
        self, object_id: str, language: str | None, slot: str | None
    ) -> list[ObjectVersion]:
        """Each webhook's latest notification about this object (id, language, slot) within
        retention: a polled source skips the deltas a webhook already delivered."""
        values = {"object_id": object_id, "language": language or "", "slot": slot or ""}
        found = await self.connector.read(lambda tx: tx.fetch("object_versions", **values))
        return [ObjectVersion(r["webhook"], r["last_modified"], r["received_at"]) for r in found]

    # -- issue 12: operator views (search, activity, bulk retry) -------------------------------
    async def search_deliveries(
        self, search: Any, *, limit: int = 50, offset: int = 0
    ) -> list[DeliveryRow]:
        """The delivery log narrowed by `search` in SQL: any object with the optional fields of
        bridge.admin.search.DeliverySearch (action, filter, q, codename, name, item_id,
        request_id, rule, state, since, until; None: not asked), newest first."""
        values: dict[str, Any] = {
            key: getattr(search, key, None)
            for key in ("action", "q", "codename", "item_id", "request_id", "rule")
        }
        values["item_name"] = getattr(search, "name", None)  # `name` names the query
        values |= {key: getattr(search, key, None) for key in ("state", "since", "until")}
        values |= {"filter": getattr(search, "filter", None) or "all", "limit": limit}
        values |= {"offset": offset, "retained": self.clock.now() - self.retention_s}
        found = await self.connector.read(lambda tx: tx.fetch("search_deliveries", **values))
        return [rows.delivery_row(row) for row in found]

    async def delivery_series(
        self, *, since: float, until: float, bucket_s: float
    ) -> dict[str, list[SeriesBucket]]:
        """Per action with any activity, one bucket per `bucket_s` from `since` to `until`."""
        count = max(1, int((until - since) // bucket_s))
        window = {"since": since, "until": until, "bucket_s": bucket_s}

        async def op(tx: Tx) -> list[tuple[str, list[Any]]]:
            queued = {"since": since, "bucket_s": bucket_s, "buckets": count}
            queued["now"] = self.clock.now()
            return [
                ("delivered", await tx.fetch("series_delivered", **window)),
                ("failed", await tx.fetch("series_failed", **window)),
                ("queued", await tx.fetch("series_queued", **queued)),
            ]

        counts: dict[str, list[dict[str, int]]] = {}
        for kind, found in await self.connector.read(op):
            for row in found:
                index = int(row["bucket"])
                if 0 <= index < count:
                    buckets = counts.setdefault(row["action"], [{} for _ in range(count)])
                    buckets[index][kind] = int(row["n"])
        return {
            action: [SeriesBucket(since + i * bucket_s, **b) for i, b in enumerate(buckets)]
            for action, buckets in sorted(counts.items())
        }

    async def retry_jobs(self, job_ids: Sequence[int]) -> list[int]:
        """Run these jobs again now, in one transaction, if they are retrying or dead (each
        with the jobs of its call); the ids restarted, oldest first. The admin's bulk retry:
        exactly the jobs its preview listed, one that changed meanwhile left alone."""
        if not job_ids:
            return []
        now = self.clock.now()
        restarted: list[int] = []

        async def op(tx: Tx) -> bool:
            found = await tx.fetch("restart_jobs", ids=list(job_ids), now=now)
            restarted.extend(sorted(int(row["id"]) for row in found))
            return bool(found)

        await self._write_and_notify(op)
        return restarted


async def _restart(tx: Tx, row: Any, now: float) -> bool:
    if row["batch_id"] is not None:
        return await tx.execute("restart_batch", batch_id=row["batch_id"], now=now) > 0
    return await tx.execute("restart_job", id=row["id"], now=now) > 0
