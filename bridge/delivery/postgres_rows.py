"""PostgreSQL rows to the store's values (the SQLite store has its own twins of these)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bridge.delivery import records
from bridge.delivery.model import (
    ActionState,
    AttemptRow,
    ClaimedJob,
    Episode,
    Health,
    JobDetail,
    NotificationRow,
    StoredNotification,
)


def claimed_job(row: Any) -> ClaimedJob:
    return ClaimedJob(
        id=row["id"],
        action=row["action"],
        rule=row["rule"],
        notification_key=row["notification_key"],
        event=records.event_from_row(row["event"], row["raw"]),
        inputs=json.loads(row["inputs"]),
        attempts=row["attempts"],
        retry_index=row["retry_index"],
        first_failure_at=row["first_failure_at"],
        created_at=row["created_at"],
        request_id=row["request_id"],
    )


def episode(action: str, row: Any) -> Episode:
    if row is None:
        return Episode(action, None)
    kinds = frozenset(k for k in row["alerted"].split(",") if k)
    return Episode(action, row["failing_since"], kinds)


def action_state(name: str, action: Any, counts: Any, now: float) -> ActionState:
    """Health as Kontent.ai shows it: failing while retrying, dead until a later success."""
    enabled, last_success_at, failing_since, last_dead_at = action or (True, None, None, None)
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
        pending=int(pending) + int(retrying),
        running=int(running),
        failing_since=failing_since,
        last_attempt_at=last_attempt_at,
        succeeded=int(succeeded),
        failed_attempts=int(failed),
        dead=int(dead),
        oldest_pending_age_s=None if oldest is None else max(0.0, now - oldest),
    )


def job_detail(row: Any, raw: str | None, attempts: Sequence[Any]) -> JobDetail:
    return JobDetail(
        row=records.delivery_row(tuple(row)[:14]),
        notification_key=row["notification_key"],
        request_id=row["request_id"],
        inputs=json.loads(row["inputs"]),
        events=(records.event_from_row(row["event"], raw),),
        attempts=tuple(AttemptRow(*attempt) for attempt in attempts),
    )


def notification_row(row: Any) -> NotificationRow:
    key, webhook, at, request_id, summary, rules, raw = row
    return NotificationRow(
        key, webhook, at, request_id, summary, json.loads(rules), json.loads(raw)
    )


def stored_notification(row: Any) -> StoredNotification:
    seq, at, *rest = row
    return StoredNotification(seq, at, records.notification_from_row(*rest))


def columns(params: Sequence[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    """Row dicts to one list per column, for the `unnest(...)` inserts."""
    return {name: [p[name] for p in params] for name in names}
