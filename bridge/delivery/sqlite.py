"""The embedded store: one SQLite file in WAL mode, written with group commit.

Only this module and `sqlite_db.py` know SQLite; the SQL itself lives in `sql/sqlite/`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from bridge.delivery import queries, records
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
from bridge.delivery.sqlite_db import Database, apply_migrations, unavailable
from bridge.delivery.sqlite_ops import (
    action_state,
    claim,
    episode,
    insert_jobs,
    job_detail,
    record,
    restart,
)
from bridge.events import Notification
from bridge.plan import PlannedJob

Q = queries.queries("sqlite")


class SqliteStore:
    def __init__(self, path: str, clock: Clock, *, retention_s: float = 3 * 86400) -> None:
        self.path = path
        self.clock = clock
        self.retention_s = retention_s
        self.db = Database(path)
        self._listeners: list[Callable[[], None]] = []
        self.migrations_applied: list[str] = []  # by the last open(), for `bridge db upgrade`

    # -- lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        await self.db.open()
        self.migrations_applied = await self.upgrade()

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> SqliteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def upgrade(self) -> list[str]:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> list[str]:
            try:
                return apply_migrations(conn, now)
            except sqlite3.Error as exc:
                raise unavailable(exc) from None

        # Migrations manage their own transactions, so they run on the reader connection's
        # thread with a connection of their own rather than inside a group commit.
        return await self.db.read(lambda _conn: _with_connection(self.path, op))

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
        job_rows = [
            (
                job.notification_key,
                records.job_params(job, now=now, request_id=request_id, cache=accept.cache),
            )
            for job in jobs
        ]

        def op(conn: sqlite3.Connection) -> Accepted:
            stored: dict[str, tuple[str, int]] = {}  # content key -> (stored key, copies new)
            accepted = 0
            for params in notes:
                about_object = params["object_id"] is not None
                if about_object and not conn.execute(Q["upsert_latest"], params).rowcount:
                    continue  # repeats the object's latest: a redelivery
                row = conn.execute(Q["insert_notification"], params).fetchone()
                if row is not None:
                    accepted += 1
                    first, copies = stored.get(params["content_key"], (row[0], 0))
                    stored[params["content_key"]] = (first, copies + 1)
            fresh = []
            for (key, params), copy in zip(job_rows, accept.occurrences, strict=True):
                found = stored.get(key)
                if found is not None and copy <= found[1]:
                    params["notification_key"] = found[0]
                    fresh.append(params)
            conn.executemany(Q["insert_job"], fresh)
            return Accepted(accepted, len(notes) - accepted, len(fresh))

        accepted = await self.db.write(op)
        if accepted.jobs:
            self._notify()
        return accepted

    async def enqueue(self, jobs: Sequence[PlannedJob], *, request_id: str | None = None) -> int:
        now = self.clock.now()
        await self.db.write(lambda conn: insert_jobs(conn, jobs, now, request_id))
        if jobs:
            self._notify()
        return len(jobs)

    # -- the workers ---------------------------------------------------------------------------
    async def claim(self, action: str, policy: ClaimPolicy, *, worker_id: str) -> Claim:
        now = self.clock.now()
        return await self.db.write(lambda conn: claim(conn, action, policy, worker_id, now))

    async def record(self, batch: Batch, outcome: Outcome) -> Episode:
        def op(conn: sqlite3.Connection) -> Episode:
            record(conn, batch, outcome)
            return episode(conn, batch.action)

        return await self.db.write(op)

    async def release(self, batch: Batch) -> None:
        def op(conn: sqlite3.Connection) -> None:
            for job_id in batch.job_ids:
                conn.execute(Q["release_job"], {"id": job_id, "worker": batch.claimed_by})

        await self.db.write(op)
        self._notify()

    async def raise_alert(self, action: str, kind: AlertKind, jobs: Sequence[PlannedJob]) -> bool:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> bool:
            new = next_alerted(episode(conn, action).alerted, kind)
            if new is None:
                return False
            conn.execute(Q["set_alerted"], {"action": action, "alerted": ",".join(sorted(new))})
            insert_jobs(conn, jobs, now, None)
            return True

        raised = await self.db.write(op)
        if raised and jobs:
            self._notify()
        return raised

    async def prune(self, *, before: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            conn.execute(Q["prune_attempts"], {"before": before})
            jobs = conn.execute(Q["prune_jobs"], {"before": before}).rowcount
            notes = conn.execute(Q["prune_notifications"], {"before": before}).rowcount
            conn.execute(Q["prune_latest"], {"before": before})
            return int(jobs + notes)

        return await self.db.write(op)

    # -- the CLI and the admin API -------------------------------------------------------------
    async def action_states(self, known: Sequence[str] = ()) -> list[ActionState]:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> list[ActionState]:
            counts = {row[0]: row[1:] for row in conn.execute(Q["action_counts"])}
            actions = {row[0]: row[1:] for row in conn.execute(Q["actions"])}
            names = sorted(set(counts) | set(actions) | set(known))
            return [action_state(n, actions.get(n), counts.get(n), now) for n in names]

        return await self.db.read(op)

    async def deliveries(
        self,
        *,
        action: str | None = None,
        filter: LogFilter = "all",
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryRow]:
        params = {
            "action": action,
            "filter": filter,
            "limit": limit,
            "offset": offset,
            "since": self.clock.now() - self.retention_s,
        }
        rows = await self.db.read(lambda conn: conn.execute(Q["deliveries"], params).fetchall())
        return [records.delivery_row(row) for row in rows]

    async def job(self, job_id: int) -> JobDetail | None:
        return await self.db.read(lambda conn: job_detail(conn, job_id))

    async def retry_job(self, job_id: int) -> bool:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(Q["job_batch"], {"id": job_id}).fetchone()
            return row is not None and restart(conn, row, now)

        return await self._write_and_notify(op)

    async def reset_action(self, name: str) -> bool:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(Q["oldest_failed_job"], {"action": name}).fetchone()
            return row is not None and restart(conn, row, now)

        return await self._write_and_notify(op)

    async def set_enabled(self, name: str, enabled: bool) -> None:
        params = {"action": name, "enabled": int(enabled)}
        await self.db.write(lambda conn: conn.execute(Q["set_enabled"], params))
        self._notify()

    async def notifications(self, *, limit: int = 50, offset: int = 0) -> list[NotificationRow]:
        params = {"limit": limit, "offset": offset}
        rows = await self.db.read(lambda c: c.execute(Q["notifications"], params).fetchall())
        return [
            NotificationRow(
                key,
                webhook,
                at,
                rid,
                summary,
                records.shown_json(rules),
                records.shown_mapping(raw),
            )
            for key, webhook, at, rid, summary, rules, raw in rows
        ]

    async def stored_notifications(
        self, *, since: float, after_seq: int = 0, limit: int = 500
    ) -> list[StoredNotification]:
        params = {"since": since, "after_seq": after_seq, "limit": limit}
        rows = await self.db.read(lambda c: c.execute(Q["stored_notifications"], params).fetchall())
        return [
            StoredNotification(seq, at, records.notification_from_row(*rest))
            for seq, at, *rest in rows
        ]

    async def count_notifications(self, *, since: float) -> int:
        params = {"since": since}
        row = await self.db.read(lambda c: c.execute(Q["count_notifications"], params).fetchone())
        return int(row[0])

    async def rule_stats(self) -> dict[str, RuleStats]:
        rows = await self.db.read(lambda conn: conn.execute(Q["rule_stats"]).fetchall())
        return {rule: RuleStats(matched, at) for rule, matched, at in rows}

    async def rule_matches(self, rule: str, *, limit: int = 50) -> list[DeliveryRow]:
        params = {"rule": rule, "limit": limit}
        rows = await self.db.read(lambda c: c.execute(Q["rule_matches"], params).fetchall())
        return [records.delivery_row(row) for row in rows]

    async def probe_write(self) -> None:
        await self.db.write(lambda conn: conn.execute(Q["probe_write"]))

    async def latest_modified(
        self, object_id: str, language: str | None, slot: str | None
    ) -> str | None:
        params = {"object_id": object_id, "language": language or "", "slot": slot or ""}
        row = await self.db.read(lambda c: c.execute(Q["latest_modified"], params).fetchone())
        return None if row is None else row[0]

    async def _write_and_notify(self, op: Callable[[sqlite3.Connection], bool]) -> bool:
        changed = await self.db.write(op)
        if changed:
            self._notify()
        return changed

    # -- polled sources ------------------------------------------------------------------------
    async def claim_source(self, name: str, *, owner: str, lease_s: float) -> SourceState | None:
        now = self.clock.now()
        params = {"source": name, "owner": owner, "expires_at": now + lease_s, "now": now}
        row = await self.db.write(lambda c: c.execute(Q["claim_source"], params).fetchone())
        return None if row is None else SourceState(scope=row[0], token=row[1])

    async def save_source(
        self, name: str, *, owner: str, scope: str, token: str | None, lease_s: float
    ) -> bool:
        now = self.clock.now()
        params: dict[str, object] = {"source": name, "owner": owner, "scope": scope}
        params |= {"token": token, "expires_at": now + lease_s, "now": now}
        count = await self.db.write(lambda c: c.execute(Q["save_source"], params).rowcount)
        return bool(count)

    async def release_source(self, name: str, *, owner: str) -> None:
        params = {"source": name, "owner": owner}
        await self.db.write(lambda c: c.execute(Q["release_source"], params).rowcount)

    async def object_versions(
        self, object_id: str, language: str | None, slot: str | None
    ) -> list[ObjectVersion]:
        params = {"object_id": object_id, "language": language or "", "slot": slot or ""}
        rows = await self.db.read(lambda c: c.execute(Q["object_versions"], params).fetchall())
        return [ObjectVersion(webhook, modified, at) for webhook, modified, at in rows]


def _with_connection(path: str, op: Callable[[sqlite3.Connection], list[str]]) -> list[str]:
    from bridge.delivery.sqlite_db import connect

    conn = connect(path)
    try:
        return op(conn)
    finally:
        conn.close()
