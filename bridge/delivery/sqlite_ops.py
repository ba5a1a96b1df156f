"""The bodies of the SQLite store's transactions: functions of a connection, run by the writer.

Kept apart from `sqlite.py` (the async store the rest of the bridge sees) so each stays short.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bridge.delivery import queries, records, rows
from bridge.delivery.model import (
    Batch,
    Claim,
    ClaimPolicy,
    Episode,
    JobDetail,
    Outcome,
)
from bridge.delivery.policy import Candidate, plan_claim
from bridge.plan import PlannedJob

Q = queries.queries("sqlite")


def insert_jobs(
    conn: sqlite3.Connection, jobs: Sequence[PlannedJob], now: float, request_id: str | None
) -> None:
    conn.executemany(
        Q["insert_job"], [records.job_params(j, now=now, request_id=request_id) for j in jobs]
    )


def claim(
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
        conn.executemany(
            Q["mark_running"],
            [
                {
                    "id": job_id,
                    "worker": worker_id,
                    "lease_until": lease_until,
                    "batch_id": unit.batch_id,
                }
                for job_id in unit.job_ids
            ],
        )
        found = conn.execute(Q["claimed_jobs"], {"ids": json.dumps(unit.job_ids)})
        jobs = [rows.claimed_job(row) for row in found]
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
    found = conn.execute(Q[query], params)
    return [Candidate(r[0], r[2], r[3], r[4], r[5]) for r in found]


def record(conn: sqlite3.Connection, batch: Batch, outcome: Outcome) -> None:
    failed = outcome.state != "succeeded"
    attempt_outcome = rows.attempt_outcome(outcome)
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


def episode(conn: sqlite3.Connection, action: str) -> Episode:
    return rows.episode(action, conn.execute(Q["action_episode"], {"action": action}).fetchone())


def restart(conn: sqlite3.Connection, row: Sequence[Any], now: float) -> bool:
    job_id, batch_id, _state = row
    if batch_id is not None:
        changed = conn.execute(Q["restart_batch"], {"batch_id": batch_id, "now": now}).rowcount
    else:
        changed = conn.execute(Q["restart_job"], {"id": job_id, "now": now}).rowcount
    return bool(changed)


action_state = rows.action_state


def job_detail(conn: sqlite3.Connection, job_id: int) -> JobDetail | None:
    row = conn.execute(Q["job"], {"id": job_id}).fetchone()
    if row is None:
        return None
    key = row[14]
    raw_row = conn.execute(Q["job_notification_raw"], {"key": key}).fetchone() if key else None
    attempts = conn.execute(Q["job_attempts"], {"id": job_id}).fetchall()
    return rows.job_detail(row, raw_row[0] if raw_row else None, attempts)
