"""Store rows to the values callers see, read by column name.

Rows are `sqlite3.Row` or `asyncpg.Record`: both read by key, so one function serves every
dialect, and a query may add a column without shifting the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.delivery import records
from bridge.delivery.model import (
    ActionState,
    AttemptRow,
    ClaimedJob,
    DeliveryRow,
    Episode,
    Health,
    JobDetail,
    NotificationRow,
    StoredNotification,
)

Row = Any


def _get(row: Row | None, name: str, default: Any = None) -> Any:
    if row is None or name not in row.keys():  # noqa: SIM118 (`in` on a Row looks at values)
        return default
    return row[name]


def episode(action: str, row: Row | None, *, recorded: bool = True) -> Episode:
    """An action's failure episode from its `(failing_since, alerted)` row (none: healthy)."""
    if row is None:
        return Episode(action, None, recorded=recorded)
    kinds = frozenset(k for k in (row["alerted"] or "").split(",") if k)
    return Episode(action, row["failing_since"], kinds, recorded)  # type: ignore[arg-type]


def _health(retrying: bool, last_success_at: float | None, last_dead_at: float | None) -> Health:
    """Health as Kontent.ai shows it: failing while retrying, dead until a later success."""
    if retrying:
        return "failing"
    if last_dead_at is not None and (last_success_at is None or last_dead_at > last_success_at):
        return "dead"
    if last_success_at is not None:
        return "working"
    return "ready"


def action_state(name: str, action: Row | None, counts: Row | None, now: float) -> ActionState:
    """One action's state from its `actions` row and its `action_counts` row (either may be
    missing). `retries_running` (jobs being retried right now) is optional.

    Health is Kontent.ai's (`_health`), except that dead jobs outstanding make an action
    `dead` even after a later success: an operator (the dashboard, the API, the
    `bridge_action_health` metric) must not read "working" while jobs lie dead."""
    retrying = int(_get(counts, "retrying", 0) or 0)
    in_retry = int(_get(counts, "retries_running", 0) or 0)
    oldest = _get(counts, "oldest_pending_at")
    last_success_at = _get(action, "last_success_at")
    dead = int(_get(counts, "dead", 0) or 0)
    health = _health(bool(retrying or in_retry), last_success_at, _get(action, "last_dead_at"))
    if dead and health in ("ready", "working"):
        health = "dead"  # dead jobs outstanding never read as working (issue 12)
    return ActionState(
        name=name,
        health=health,
        enabled=bool(_get(action, "enabled", True)),
        pending=int(_get(counts, "pending", 0) or 0) + retrying,
        running=int(_get(counts, "running", 0) or 0),
        failing_since=_get(action, "failing_since"),
        last_attempt_at=_get(counts, "last_attempt_at"),
        succeeded=int(_get(counts, "succeeded", 0) or 0),
        failed_attempts=int(_get(counts, "failed_attempts", 0) or 0),
        dead=dead,
        oldest_pending_age_s=None if oldest is None else max(0.0, now - oldest),
    )


def delivery_row(row: Row) -> DeliveryRow:
    """From a `deliveries`-shaped row (also `rule_matches` and `job`)."""
    state = row["state"]
    waiting = state in ("pending", "retrying")
    return DeliveryRow(
        job_id=row["id"],
        action=row["action"],
        rule=row["rule"],
        state=state,
        attempts=row["attempts"],
        created_at=row["created_at"],
        last_attempt_at=row["last_attempt_at"],
        last_status=row["last_status"],
        last_response=row["last_response"],
        summary=row["summary"],
        delivery_id=row["batch_id"],
        next_attempt_at=row["due_at"] if waiting else None,
        last_error=row["last_error"],
        failures=row["failures"],
    )


def attempt_row(row: Row) -> AttemptRow:
    return AttemptRow(
        number=row["number"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outcome=row["outcome"],
        status=row["status"],
        response=row["response"],
        error=row["error"],
        delivery_id=row["delivery_id"],
        request=_sent(_get(row, "request")),
    )


def _sent(text: str | None) -> dict[str, Any] | None:
    """The request an attempt sent (migration 0004), or None; stored text of any shape shows."""
    if not text:
        return None
    found = records.shown_json(text)
    return found if isinstance(found, dict) else {"body": str(text)}


def job_detail(row: Row, raw: str | None, attempts: Sequence[Row]) -> JobDetail:
    """One job from the `job` query's row, its notification's raw body and its attempts."""
    return JobDetail(
        row=delivery_row(row),
        notification_key=row["notification_key"],
        request_id=row["request_id"],
        inputs=records.shown_mapping(row["inputs"]),  # an admin view: odd values still show
        events=(records.shown_event(row["event"], raw),),
        attempts=tuple(attempt_row(attempt) for attempt in attempts),
    )


def claimed_job(row: Row) -> ClaimedJob:
    """A job handed to a worker, from a `mark_running` row: the job's columns and its
    notification's raw body (the event is rebuilt from both)."""
    return ClaimedJob(
        id=row["id"],
        action=row["action"],
        rule=row["rule"],
        notification_key=row["notification_key"],
        event=records.event_from_row(row["event"], row["raw"]),
        inputs=records.decode_stored(row["inputs"]),
        attempts=row["attempts"],
        retry_index=row["retry_index"],
        first_failure_at=row["first_failure_at"],
        created_at=row["created_at"],
        request_id=row["request_id"],
    )


def notification_row(row: Row) -> NotificationRow:
    return NotificationRow(
        row["key"],
        row["webhook"],
        row["received_at"],
        row["request_id"],
        row["summary"],
        records.shown_json(row["rules"]),
        None if row["raw"] is None else records.shown_mapping(row["raw"]),
        row["raw_chars"] or 0,
    )


def stored_notification(row: Row) -> StoredNotification:
    notification = records.notification_from_row(
        row["key"], row["webhook"], row["format"], row["raw"], row["events"]
    )
    return StoredNotification(row["seq"], row["received_at"], notification)
