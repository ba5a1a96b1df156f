"""The embedded store: one SQLite file in WAL mode, written with group commit.

Only this module and `sqlite_db.py` know SQLite; the SQL itself lives in `sql/sqlite/`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from bridge.delivery import queries, records
from bridge.delivery.clock import Clock
from bridge.delivery.model import (
    Accepted,
    ActionState,
    AlertKind,
    AttemptRow,
    Batch,
    Claim,
    ClaimedJob,
    ClaimPolicy,
    DeliveryRow,
    Episode,
    Health,
    JobDetail,
    LogFilter,
    NotificationRow,
    Outcome,
    RuleStats,
    StoredNotification,
)
from bridge.delivery.policy import Candidate, plan_claim
from bridge.delivery.sqlite_db import Database, apply_migrations, unavailable
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
        rules = records.rules_by_notification(jobs)
        cache = records.EncodeCache()
        notes = [
            records.notification_params(
                n, rules.get(n.key, []), now=now, request_id=request_id, cache=cache
            )
            for n in notifications
        ]
        job_rows = [
            (
                job.notification_key,
                records.job_params(job, now=now, request_id=request_id, cache=cache),
            )
            for job in jobs
        ]

        def op(conn: sqlite3.Connection) -> Accepted:
            new_keys: set[str] = set()
            for params in notes:
                if conn.execute(Q["insert_notification"], params).rowcount:
                    new_keys.add(params["key"])
            fresh = [params for key, params in job_rows if key in new_keys]
            conn.executemany(Q["insert_job"], fresh)
            return Accepted(len(new_keys), len(notes) - len(new_keys), len(fresh))

        accepted = await self.db.write(op)
        if accepted.jobs:
            self._notify()
        return accepted

    async def enqueue(self, jobs: Sequence[PlannedJob], *, request_id: str | None = None) -> int:
        now = self.clock.now()
        await self.db.write(lambda conn: _insert_jobs(conn, jobs, now, request_id))
        if jobs:
            self._notify()
        return len(jobs)

    # -- the workers ---------------------------------------------------------------------------
    async def claim(self, action: str, policy: ClaimPolicy, *, worker_id: str) -> Claim:
        now = self.clock.now()
        return await self.db.write(lambda conn: _claim(conn, action, policy, worker_id, now))

    async def record(self, batch: Batch, outcome: Outcome) -> Episode:
        def op(conn: sqlite3.Connection) -> Episode:
            _record(conn, batch, outcome)
            return _episode(conn, batch.action)

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
            alerted = _episode(conn, action).alerted
            if kind == "recovered":
                if not alerted:
                    return False
                new: frozenset[str] = frozenset()
            elif kind in alerted:
                return False
            else:
                new = alerted | {kind}
            conn.execute(Q["set_alerted"], {"action": action, "alerted": ",".join(sorted(new))})
            _insert_jobs(conn, jobs, now, None)
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
            return int(jobs + notes)

        return await self.db.write(op)

    # -- the CLI and the admin API -------------------------------------------------------------
    async def action_states(self, known: Sequence[str] = ()) -> list[ActionState]:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> list[ActionState]:
            counts = {row[0]: row[1:] for row in conn.execute(Q["action_counts"])}
            actions = {row[0]: row[1:] for row in conn.execute(Q["actions"])}
            names = sorted(set(counts) | set(actions) | set(known))
            return [_action_state(n, actions.get(n), counts.get(n), now) for n in names]

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
        return await self.db.read(lambda conn: _job_detail(conn, job_id))

    async def retry_job(self, job_id: int) -> bool:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(Q["job_batch"], {"id": job_id}).fetchone()
            return row is not None and _restart(conn, row, now)

        return await self._write_and_notify(op)

    async def reset_action(self, name: str) -> bool:
        now = self.clock.now()

        def op(conn: sqlite3.Connection) -> bool:
            row = conn.execute(Q["oldest_failed_job"], {"action": name}).fetchone()
            return row is not None and _restart(conn, row, now)

        return await self._write_and_notify(op)

    async def set_enabled(self, name: str, enabled: bool) -> None:
        params = {"action": name, "enabled": int(enabled)}
        await self.db.write(lambda conn: conn.execute(Q["set_enabled"], params))
        self._notify()

    async def notifications(self, *, limit: int = 50, offset: int = 0) -> list[NotificationRow]:
        params = {"limit": limit, "offset": offset}
        rows = await self.db.read(lambda c: c.execute(Q["notifications"], params).fetchall())
        return [
            NotificationRow(key, webhook, at, rid, summary, json.loads(rules), json.loads(raw))
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

    async def _write_and_notify(self, op: Callable[[sqlite3.Connection], bool]) -> bool:
        changed = await self.db.write(op)
        if changed:
            self._notify()
        return changed


def _with_connection(path: str, op: Callable[[sqlite3.Connection], list[str]]) -> list[str]:
    from bridge.delivery.sqlite_db import connect

    conn = connect(path)
    try:
        return op(conn)
    finally:
        conn.close()


def _insert_jobs(
    conn: sqlite3.Connection, jobs: Sequence[PlannedJob], now: float, request_id: str | None
) -> None:
    conn.executemany(
        Q["insert_job"], [records.job_params(j, now=now, request_id=request_id) for j in jobs]
    )


def _claim(
    conn: sqlite3.Connection, action: str, policy: ClaimPolicy, worker_id: str, now: float
) -> Claim:
    conn.execute(Q["expire_leases"], {"action": action, "now": now})
    enabled = conn.execute(Q["action_enabled"], {"action": action}).fetchone()
    if enabled is not None and not enabled[0]:
        return Claim()
    running = conn.execute(Q["count_running"], {"action": action}).fetchone()[0]
    plan = plan_claim(_candidates(conn, action, policy, running, now), policy, running, now)
    if plan.next_due_at is None and not _debounced(policy) and policy.ordering == "none":
        next_due = conn.execute(Q["next_due_at"], {"action": action, "now": now}).fetchone()[0]
        plan = replace(plan, next_due_at=next_due)
    lease_until = now + policy.lease_s
    batches = []
    for unit in plan.units:
        jobs = []
        for job_id in unit.job_ids:
            params = {"id": job_id, "worker": worker_id, "lease_until": lease_until}
            conn.execute(Q["mark_running"], params | {"batch_id": unit.batch_id})
            jobs.append(_claimed_job(conn.execute(Q["claimed_job"], {"id": job_id}).fetchone()))
        batches.append(Batch(unit.batch_id, action, tuple(jobs), worker_id, lease_until))
    return Claim(tuple(batches), plan.next_due_at)


def _debounced(policy: ClaimPolicy) -> bool:
    return policy.debounce_s is not None or policy.max_wait_s is not None


def _candidates(
    conn: sqlite3.Connection, action: str, policy: ClaimPolicy, running: int, now: float
) -> list[Candidate]:
    """Read no more than the policy can use: the head (fifo), the due jobs (none), or a window."""
    params: dict[str, Any] = {"action": action, "now": now, "limit": policy.max_batch}
    query = "claim_candidates"
    if not _debounced(policy):
        if policy.ordering == "fifo":
            params["limit"] = 1
        else:
            query = "claim_due_candidates"
            params["limit"] = max(0, policy.concurrency - running)
    rows = conn.execute(Q[query], params)
    return [Candidate(r[0], r[2], r[3], r[4], r[5]) for r in rows]


def _claimed_job(row: Sequence[Any]) -> ClaimedJob:
    (job_id, action, rule, key, event, inputs, attempts, retry_index) = row[:8]
    (first_failure_at, created_at, request_id, _batch_id, raw) = row[8:13]
    return ClaimedJob(
        id=job_id,
        action=action,
        rule=rule,
        notification_key=key,
        event=records.event_from_row(event, raw),
        inputs=json.loads(inputs),
        attempts=attempts,
        retry_index=retry_index,
        first_failure_at=first_failure_at,
        created_at=created_at,
        request_id=request_id,
    )


def _record(conn: sqlite3.Connection, batch: Batch, outcome: Outcome) -> None:
    failed = outcome.state != "succeeded"
    attempt_outcome = (
        "succeeded" if not failed else "retry" if outcome.state == "retrying" else "failed"
    )
    response = records.excerpt(outcome.response)
    for job in batch.jobs:
        conn.execute(
            Q["record_job"],
            {
                "id": job.id,
                "worker": batch.claimed_by,
                "state": outcome.state,
                "failed": int(failed),
                "retry_index": outcome.retry_index,
                "first_failure_at": outcome.first_failure_at,
                "due_at": outcome.due_at,
                "finished_at": outcome.finished_at,
                "status": outcome.status,
                "response": response,
                "error": outcome.error,
            },
        )
        conn.execute(
            Q["insert_attempt"],
            {
                "job_id": job.id,
                "number": job.attempts + 1,
                "delivery_id": batch.delivery_id,
                "started_at": outcome.started_at,
                "finished_at": outcome.finished_at,
                "outcome": attempt_outcome,
                "status": outcome.status,
                "response": response,
                "error": outcome.error,
            },
        )
    params = {"action": batch.action, "now": outcome.finished_at}
    conn.execute(Q["ensure_action"], params)
    if failed:
        conn.execute(Q["action_failed"], params | {"dead": outcome.state == "dead"})
    else:
        conn.execute(Q["action_succeeded"], params)


def _episode(conn: sqlite3.Connection, action: str) -> Episode:
    row = conn.execute(Q["action_episode"], {"action": action}).fetchone()
    if row is None:
        return Episode(action, None)
    kinds = frozenset(k for k in row[1].split(",") if k)
    return Episode(action, row[0], kinds)


def _restart(conn: sqlite3.Connection, row: Sequence[Any], now: float) -> bool:
    job_id, batch_id, _state = row
    if batch_id is not None:
        changed = conn.execute(Q["restart_batch"], {"batch_id": batch_id, "now": now}).rowcount
    else:
        changed = conn.execute(Q["restart_job"], {"id": job_id, "now": now}).rowcount
    return bool(changed)


def _action_state(
    name: str, action: Sequence[Any] | None, counts: Sequence[Any] | None, now: float
) -> ActionState:
    enabled, last_success_at, failing_since, last_dead_at = action or (1, None, None, None)
    pending, running, retrying, succeeded, dead, failed, last_attempt_at, oldest = counts or (
        (0,) * 6 + (None, None)
    )
    health: Health
    if retrying:
        health = "failing"
    elif last_dead_at is not None and (last_success_at is None or last_dead_at > last_success_at):
        health = "dead"
    elif last_success_at is not None:
        health = "working"
    else:
        health = "ready"
    return ActionState(
        name=name,
        health=health,
        enabled=bool(enabled),
        pending=int(pending or 0) + int(retrying or 0),
        running=int(running or 0),
        failing_since=failing_since,
        last_attempt_at=last_attempt_at,
        succeeded=int(succeeded or 0),
        failed_attempts=int(failed or 0),
        dead=int(dead or 0),
        oldest_pending_age_s=None if oldest is None else max(0.0, now - oldest),
    )


def _job_detail(conn: sqlite3.Connection, job_id: int) -> JobDetail | None:
    row = conn.execute(Q["job"], {"id": job_id}).fetchone()
    if row is None:
        return None
    key, request_id, inputs, event = row[14:18]
    raw_row = conn.execute(Q["job_notification_raw"], {"key": key}).fetchone() if key else None
    attempts = tuple(
        AttemptRow(*attempt) for attempt in conn.execute(Q["job_attempts"], {"id": job_id})
    )
    return JobDetail(
        row=records.delivery_row(row[:14]),
        notification_key=key,
        request_id=request_id,
        inputs=json.loads(inputs),
        events=(records.event_from_row(event, raw_row[0] if raw_row else None),),
        attempts=attempts,
    )
