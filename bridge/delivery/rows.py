"""Store rows to the values callers see, where both stores read the same columns.

The SQLite and PostgreSQL stores select the same columns in the same order for an action's
health, its alert episode and one job's detail, so one function each serves both (rows may be
`sqlite3` tuples or `asyncpg` records: both index by position). Dialect-specific rows stay in
`sqlite_ops.py` and `postgres_rows.py`.
"""

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
    Outcome,
)

_NO_COUNTS = (0,) * 6 + (None, None)


def episode(action: str, row: Sequence[Any] | None) -> Episode:
    """An action's failure episode from its `(failing_since, alerted)` row (none: healthy)."""
    if row is None:
        return Episode(action, None)
    failing_since, alerted = row[0], row[1]
    kinds = frozenset(k for k in alerted.split(",") if k)
    return Episode(action, failing_since, kinds)


def _health(retrying: bool, last_success_at: float | None, last_dead_at: float | None) -> Health:
    """Health as Kontent.ai shows it: failing while retrying, dead until a later success."""
    if retrying:
        return "failing"
    if last_dead_at is not None and (last_success_at is None or last_dead_at > last_success_at):
        return "dead"
    if last_success_at is not None:
        return "working"
    return "ready"


def action_state(
    name: str, action: Sequence[Any] | None, counts: Sequence[Any] | None, now: float
) -> ActionState:
    """One action's state from its `actions` row and its job counts (either may be missing).

    SQLite's counts carry a ninth column, the jobs being retried right now; PostgreSQL counts
    those among `retrying` already."""
    enabled, last_success_at, failing_since, last_dead_at = action or (True, None, None, None)
    pending, running, retrying, succeeded, dead, failed, last_attempt_at, oldest, *in_retry = (
        counts or _NO_COUNTS
    )
    return ActionState(
        name=name,
        health=_health(bool(retrying or any(in_retry)), last_success_at, last_dead_at),
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


def job_detail(row: Sequence[Any], raw: str | None, attempts: Sequence[Any]) -> JobDetail:
    """One job from the `job` query's row (a delivery row, then key, request id, inputs and
    event), its notification's raw body and its attempts."""
    columns = tuple(row)
    key, request_id, inputs, event = columns[14:18]
    return JobDetail(
        row=records.delivery_row(columns[:14]),
        notification_key=key,
        request_id=request_id,
        inputs=records.shown_mapping(inputs),  # an admin view: odd stored values still show
        events=(records.shown_event(event, raw),),
        attempts=tuple(AttemptRow(*attempt) for attempt in attempts),
    )


def claimed_job(row: Sequence[Any]) -> ClaimedJob:
    """A job handed to a worker, from a claim's row: the job's columns, its batch id, then its
    notification's raw body (the event is rebuilt from both)."""
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


def attempt_outcome(outcome: Outcome) -> str:
    """The `attempts.outcome` column: a retrying job's attempt is a "retry", a dead one "failed"."""
    return {"succeeded": "succeeded", "retrying": "retry"}.get(outcome.state, "failed")
