"""The replicated store: one PostgreSQL database shared by every `bridge serve`/`worker` process.

Same protocol and semantics as the SQLite store; what changes is who can race:
- an accept is one statement (one round trip) on a pooled connection; concurrent accepts commit
  in parallel (the server batches WAL flushes, so no group commit of our own); redeliveries are
  recognised by the object's latest row (or, without an object, the notifications' unique key)
  even when two replicas receive one at once;
- claims of one action are serialised across replicas by locking the action's row with
  `FOR UPDATE SKIP LOCKED` (a replica that finds it locked skips the action for this round), so
  fifo order, concurrency limits and debounce windows are decided by one claimer at a time
  (`postgres_claims.py`); an advisory lock makes that claimer wait for jobs with smaller ids
  still being committed, so fifo is creation order;
- leases expire, and the next claimer of the action takes a dead replica's jobs over, under the
  same delivery id;
- every transaction that makes jobs due NOTIFYs `bridge_jobs`; each process LISTENs and calls
  its `add_listener` callbacks, so idle workers on every replica wake at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from bridge.delivery import postgres_claims as claims
from bridge.delivery import postgres_rows as pg_rows
from bridge.delivery import records, rows
from bridge.delivery.clock import Clock
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
from bridge.delivery.policy import next_alerted
from bridge.delivery.postgres_db import (
    CHANNEL,
    DRIVER_ERRORS,
    Connection,
    Listener,
    Queries,
    apply_migrations,
    create_pool,
    in_transaction,
    on_connection,
    unavailable,
)
from bridge.events import Notification
from bridge.plan import PlannedJob

Q = Queries()
Conn = Connection


class PostgresStore:
    def __init__(self, url: str, clock: Clock, *, retention_s: float = 3 * 86400) -> None:
        self.url = url
        self.clock = clock
        self.retention_s = retention_s
        self.migrations_applied: list[str] = []  # by the last open(), for `bridge db upgrade`
        self._pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None
        self._listeners: list[Callable[[], None]] = []
        # NOTIFY payload: this store's own notifications were delivered locally at commit.
        self._sender = uuid.uuid4().hex

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        try:
            self._pool = await create_pool(self.url)
            self.migrations_applied = await self.upgrade()
            self._listener = Listener(self.url, self._notify, ignore=self._sender)
            await self._listener.start()
        except DRIVER_ERRORS as exc:
            await self.close()
            raise unavailable(exc) from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        pool, self._pool = self._pool, None
        if listener is not None:
            await listener.stop()
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except DRIVER_ERRORS:  # includes the timeout
                pool.terminate()

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def upgrade(self) -> list[str]:
        now = self.clock.now()
        return await on_connection(self._pool, lambda conn: apply_migrations(conn, now))

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def _notify(self) -> None:
        for callback in self._listeners:
            callback()

    # -- the receiver --------------------------------------------------------------------------
    async def accept(
        self,
        notifications: Sequence[Notification],
        jobs: Sequence[PlannedJob],
        *,
        request_id: str | None,
    ) -> Accepted:
        now = self.clock.now()
        accept = records.accept_rows(notifications, jobs, now=now, request_id=request_id)
        notes = accept.notes
        params = pg_rows.accept_params(accept, jobs, now, request_id, self._sender)

        row = await on_connection(self._pool, lambda conn: Q.fetchrow(conn, "accept", **params))
        accepted = Accepted(row["accepted"], len(notes) - row["accepted"], row["jobs"])
        if accepted.jobs:
            self._notify()
        return accepted

    async def enqueue(self, jobs: Sequence[PlannedJob], *, request_id: str | None = None) -> int:
        now = self.clock.now()
        await in_transaction(
            self._pool, lambda conn: _insert_jobs(conn, jobs, now, request_id, self._sender)
        )
        if jobs:
            self._notify()
        return len(jobs)

    # -- the workers ---------------------------------------------------------------------------
    async def claim(self, action: str, policy: ClaimPolicy, *, worker_id: str) -> Claim:
        now = self.clock.now()
        return await in_transaction(
            self._pool, lambda conn: claims.claim(conn, action, policy, worker_id, now)
        )

    async def record(self, batch: Batch, outcome: Outcome) -> Episode:
        params = pg_rows.record_params(batch, outcome)
        row = await on_connection(self._pool, lambda conn: Q.fetchrow(conn, "record", **params))
        return rows.episode(batch.action, row)

    async def release(self, batch: Batch) -> None:
        async def op(conn: Conn) -> None:
            await Q.execute(conn, "release_jobs", ids=list(batch.job_ids), worker=batch.claimed_by)
            await _notify_jobs(conn, self._sender)

        await in_transaction(self._pool, op)
        self._notify()

    async def raise_alert(self, action: str, kind: AlertKind, jobs: Sequence[PlannedJob]) -> bool:
        now = self.clock.now()

        async def op(conn: Conn) -> bool:
            # Locked (waiting, not skipping), so two replicas never both raise one alert.
            locked = rows.episode(action, await Q.fetchrow(conn, "lock_episode", action=action))
            new = next_alerted(locked.alerted, kind)
            if new is None:
                return False
            await Q.execute(conn, "set_alerted", action=action, alerted=",".join(sorted(new)))
            await _insert_jobs(conn, jobs, now, None, self._sender)
            return True

        raised = await in_transaction(self._pool, op)
        if raised and jobs:
            self._notify()
        return raised

    async def prune(self, *, before: float) -> int:
        async def op(conn: Conn) -> int:
            await Q.execute(conn, "prune_attempts", before=before)
            jobs = await Q.execute(conn, "prune_jobs", before=before)
            notes = await Q.execute(conn, "prune_notifications", before=before)
            await Q.execute(conn, "prune_latest", before=before)
            return _rowcount(jobs) + _rowcount(notes)

        return await in_transaction(self._pool, op)

    # -- the CLI and the admin API -------------------------------------------------------------
    async def action_states(self, known: Sequence[str] = ()) -> list[ActionState]:
        now = self.clock.now()

        async def op(conn: Conn) -> list[ActionState]:
            counts = {row[0]: tuple(row)[1:] for row in await Q.fetch(conn, "action_counts")}
            actions = {row[0]: tuple(row)[1:] for row in await Q.fetch(conn, "actions")}
            names = sorted(set(counts) | set(actions) | set(known))
            return [rows.action_state(n, actions.get(n), counts.get(n), now) for n in names]

        return await on_connection(self._pool, op)

    async def deliveries(
        self,
        *,
        action: str | None = None,
        filter: LogFilter = "all",
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryRow]:
        since = self.clock.now() - self.retention_s
        found = await on_connection(
            self._pool,
            lambda conn: Q.fetch(
                conn,
                "deliveries",
                action=action,
                filter=filter,
                limit=limit,
                offset=offset,
                since=since,
            ),
        )
        return [records.delivery_row(tuple(row)) for row in found]

    async def job(self, job_id: int) -> JobDetail | None:
        async def op(conn: Conn) -> JobDetail | None:
            row = await Q.fetchrow(conn, "job", id=job_id)
            if row is None:
                return None
            key = row["notification_key"]
            raw = await Q.fetchval(conn, "job_notification_raw", key=key) if key else None
            return rows.job_detail(row, raw, await Q.fetch(conn, "job_attempts", id=job_id))

        return await on_connection(self._pool, op)

    async def retry_job(self, job_id: int) -> bool:
        now = self.clock.now()

        async def op(conn: Conn) -> bool:
            row = await Q.fetchrow(conn, "job_batch", id=job_id)
            return row is not None and await _restart(conn, row, now)

        return await self._write_and_notify(op)

    async def reset_action(self, name: str) -> bool:
        now = self.clock.now()

        async def op(conn: Conn) -> bool:
            row = await Q.fetchrow(conn, "oldest_failed_job", action=name)
            return row is not None and await _restart(conn, row, now)

        return await self._write_and_notify(op)

    async def set_enabled(self, name: str, enabled: bool) -> None:
        async def op(conn: Conn) -> bool:
            await Q.execute(conn, "set_enabled", action=name, enabled=enabled)
            return True

        await self._write_and_notify(op)

    async def notifications(self, *, limit: int = 50, offset: int = 0) -> list[NotificationRow]:
        found = await on_connection(
            self._pool, lambda conn: Q.fetch(conn, "notifications", limit=limit, offset=offset)
        )
        return [pg_rows.notification_row(row) for row in found]

    async def stored_notifications(
        self, *, since: float, after_seq: int = 0, limit: int = 500
    ) -> list[StoredNotification]:
        params = {"since": since, "after_seq": after_seq, "limit": limit}
        found = await on_connection(
            self._pool, lambda conn: Q.fetch(conn, "stored_notifications", **params)
        )
        return [pg_rows.stored_notification(row) for row in found]

    async def count_notifications(self, *, since: float) -> int:
        count = await on_connection(
            self._pool, lambda conn: Q.fetchval(conn, "count_notifications", since=since)
        )
        return int(count)

    async def rule_stats(self) -> dict[str, RuleStats]:
        found = await on_connection(self._pool, lambda conn: Q.fetch(conn, "rule_stats"))
        return {rule: RuleStats(int(matched), at) for rule, matched, at in found}

    async def rule_matches(self, rule: str, *, limit: int = 50) -> list[DeliveryRow]:
        found = await on_connection(
            self._pool, lambda conn: Q.fetch(conn, "rule_matches", rule=rule, limit=limit)
        )
        return [records.delivery_row(tuple(row)) for row in found]

    async def probe_write(self) -> None:
        await in_transaction(self._pool, lambda conn: Q.execute(conn, "probe_write"))

    async def latest_modified(
        self, object_id: str, language: str | None, slot: str | None
    ) -> str | None:
        params = {"object_id": object_id, "language": language or "", "slot": slot or ""}
        found = await on_connection(
            self._pool, lambda conn: Q.fetchval(conn, "latest_modified", **params)
        )
        return None if found is None else str(found)

    async def _write_and_notify(self, op: Callable[[Conn], Any]) -> bool:
        async def with_notify(conn: Conn) -> bool:
            changed = bool(await op(conn))
            if changed:
                await _notify_jobs(conn, self._sender)
            return changed

        changed = await in_transaction(self._pool, with_notify)
        if changed:
            self._notify()
        return changed

    # -- polled sources ------------------------------------------------------------------------
    async def claim_source(self, name: str, *, owner: str, lease_s: float) -> SourceState | None:
        now = self.clock.now()
        params = {"source": name, "owner": owner, "expires_at": now + lease_s, "now": now}
        row = await in_transaction(
            self._pool, lambda conn: Q.fetchrow(conn, "claim_source", **params)
        )
        return None if row is None else SourceState(scope=row["scope"], token=row["token"])

    async def save_source(
        self, name: str, *, owner: str, scope: str, token: str | None, lease_s: float
    ) -> bool:
        now = self.clock.now()
        params: dict[str, object] = {"source": name, "owner": owner, "scope": scope}
        params |= {"token": token, "expires_at": now + lease_s, "now": now}
        status = await in_transaction(
            self._pool, lambda conn: Q.execute(conn, "save_source", **params)
        )
        return _rowcount(status) > 0

    async def release_source(self, name: str, *, owner: str) -> None:
        params = {"source": name, "owner": owner}
        await in_transaction(self._pool, lambda conn: Q.execute(conn, "release_source", **params))

    async def object_versions(
        self, object_id: str, language: str | None, slot: str | None
    ) -> list[ObjectVersion]:
        params = {"object_id": object_id, "language": language or "", "slot": slot or ""}
        found = await on_connection(
            self._pool, lambda conn: Q.fetch(conn, "object_versions", **params)
        )
        return [ObjectVersion(r["webhook"], r["last_modified"], r["received_at"]) for r in found]


async def _insert_jobs(
    conn: Conn, jobs: Sequence[PlannedJob], now: float, request_id: str | None, sender: str = ""
) -> None:
    if not jobs:
        return
    params = [records.job_params(job, now=now, request_id=request_id) for job in jobs]
    cols = pg_rows.columns(
        params, "action", "rule", "notification_key", "event", "inputs", "inputs_hash", "summary"
    )
    actions = sorted(set(cols["action"]))
    await Q.execute(conn, "share_action_order", actions=actions)
    await Q.execute(conn, "ensure_actions", actions=actions)
    await Q.execute(
        conn,
        "insert_jobs",
        actions=cols["action"],
        rules=cols["rule"],
        notification_keys=cols["notification_key"],
        events=cols["event"],
        inputs=cols["inputs"],
        inputs_hashes=cols["inputs_hash"],
        summaries=cols["summary"],
        request_id=request_id,
        now=now,
    )
    await _notify_jobs(conn, sender)


async def _notify_jobs(conn: Conn, sender: str) -> None:
    """Delivered at COMMIT (never for a rolled-back transaction) to every listening replica."""
    await Q.execute(conn, "notify_jobs", channel=CHANNEL, payload=sender)


async def _restart(conn: Conn, row: Any, now: float) -> bool:
    if row["batch_id"] is not None:
        status = await Q.execute(conn, "restart_batch", batch_id=row["batch_id"], now=now)
    else:
        status = await Q.execute(conn, "restart_job", id=row["id"], now=now)
    return _rowcount(status) > 0


def _rowcount(status: str) -> int:
    """asyncpg's command tag (`UPDATE 3`, `DELETE 0`) to its row count."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


__all__ = ["PostgresStore"]
