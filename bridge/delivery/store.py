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

The class is one API in three modules: the writes here, the read views in views.py, the
polled sources' leases in source_leases.py.

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
    AlertKind,
    Batch,
    Claim,
    ClaimPolicy,
    Episode,
    Outcome,
)
from bridge.delivery.policy import next_alerted
from bridge.delivery.recording import AttemptRecorder
from bridge.delivery.source_leases import SourceLeases
from bridge.delivery.views import StoreViews
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


class Store(StoreViews, SourceLeases):
    """Every domain operation of delivery; the read views are in views.py (StoreViews), the
    polled sources' leases in source_leases.py (SourceLeases)."""

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
        # Writes through this store that may put an earlier job back at a queue's head (a retry,
        # a reset, a release, an enable): the workers then claim an action whose head waited.
        self.queue_changes = 0
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
            self.queue_changes += 1
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
            self.connector.wake_others()  # after the commit: NOTIFY in it serialized commits
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

    async def probe_read(self) -> None:
        """One cheap read; StoreUnavailable when the database cannot be reached (/readyz)."""
        await self.connector.read(lambda tx: tx.fetch_value("probe_read"))

    async def probe_write(self) -> None:
        """Commit a write that changes nothing; StoreUnavailable when the store refuses writes
        (read-only file or database, full disk, no write lock), as /readyz must know."""
        await self.connector.write(lambda tx: tx.execute("probe_write"))

    async def retry_jobs(self, job_ids: Sequence[int]) -> list[int]:
        """Run these jobs again now, in one transaction, if they are retrying or dead (each
        with the jobs of its call); the ids restarted, oldest first. The admin's bulk retry:
        exactly the jobs its preview listed, one that changed meanwhile left alone."""
        if not job_ids:
            return []
        now = self.clock.now()
        restarted: list[int] = []

        async def op(tx: Tx) -> bool:
            restarted.clear()  # a transaction run again (a PostgreSQL deadlock) starts afresh
            found = await tx.fetch("restart_jobs", ids=list(job_ids), now=now)
            restarted.extend(sorted(int(row["id"]) for row in found))
            return bool(found)

        await self._write_and_notify(op)
        return restarted


async def _restart(tx: Tx, row: Any, now: float) -> bool:
    if row["batch_id"] is not None:
        return await tx.execute("restart_batch", batch_id=row["batch_id"], now=now) > 0
    return await tx.execute("restart_job", id=row["id"], now=now) > 0
