"""Accepting a request's notifications and jobs: dedupe, the notification rows, the job rows.

Two forms, chosen by what the dialect's SQL folder holds: PostgreSQL's `accept` query writes a
whole request in one statement (one round trip, dedupe included); a dialect without one is
accepted statement by statement in one transaction (SQLite, where the statements run inside a
group commit and cost no round trip). `Store.accept` is the caller; `insert_jobs` also serves
replays, alerts and follow-ups, which create jobs without dedupe.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

from bridge.delivery import params, records
from bridge.delivery.connectors import Connector, Tx
from bridge.delivery.model import Accepted
from bridge.events import Notification
from bridge.plan import PlannedJob

# Notifications plus jobs above which an accept encodes its rows off the event loop (a thread
# hop costs about 50 us, which small requests, the common case, need not pay).
LARGE_ACCEPT = 500


async def accept(
    connector: Connector,
    notifications: Sequence[Notification],
    jobs: Sequence[PlannedJob],
    *,
    now: float,
    request_id: str | None,
) -> Accepted:
    """Store new notifications and their jobs durably (see Store.accept); after the commit."""
    encode = functools.partial(
        records.accept_rows, notifications, jobs, now=now, request_id=request_id
    )
    large = len(notifications) + len(jobs) > LARGE_ACCEPT
    # Encoding a large batch (a legacy body of thousands of items) takes long enough to stall
    # every other request and health check: it runs in a thread, small batches inline.
    rows = await asyncio.to_thread(encode) if large else encode()
    if connector.has_query("accept"):
        build = functools.partial(params.accept_params, rows, now, request_id)
        values = await asyncio.to_thread(build) if large else build()
        row = await connector.statement("accept", **values)
        assert row is not None
        return Accepted(row["accepted"], len(rows.notes) - row["accepted"], row["jobs"])
    return await connector.write(lambda tx: _step_by_step(tx, rows, jobs))


async def _step_by_step(tx: Tx, accept: records.AcceptRows, jobs: Sequence[PlannedJob]) -> Accepted:
    """`accept` one statement at a time, in one transaction, one notification after the other."""
    stored: dict[str, tuple[str, int]] = {}  # content key -> (stored key, copies new)
    accepted = 0
    repeated = await _repeated_runs(tx, accept.notes)
    for values in accept.notes:
        obj = records.note_object(values)
        if obj in repeated:
            continue  # the request that made the object's latest, again: a redelivery
        if obj is not None and not await tx.execute("upsert_latest", **values):
            continue  # repeats the object's latest: a redelivery
        key = await tx.fetch_value("insert_notification", **values)
        if key is not None:
            accepted += 1
            first, copies = stored.get(values["content_key"], (key, 0))
            stored[values["content_key"]] = (first, copies + 1)
    fresh = []
    for job, copy, job_values in zip(jobs, accept.occurrences, accept.jobs, strict=True):
        found = stored.get(job.notification_key)
        if found is not None and copy <= found[1]:
            job_values["notification_key"] = found[0]  # the rows are this accept's own
            fresh.append(job_values)
    if fresh:
        await tx.execute_many("insert_job", fresh)
    return Accepted(accepted, len(accept.notes) - accepted, len(fresh))


async def _repeated_runs(tx: Tx, notes: Sequence[dict[str, Any]]) -> set[records.ObjectKey]:
    """The objects whose notifications in this request repeat the run of the request that
    made their latest (records.mark_runs), read before any of them is written."""
    checked: set[records.ObjectKey] = set()
    repeated: set[records.ObjectKey] = set()
    for values in notes:
        obj = records.note_object(values)
        if obj is None or values["object_run"] is None or obj in checked:
            continue
        checked.add(obj)
        if await tx.fetch_value("repeats_latest_run", **values) is not None:
            repeated.add(obj)
    return repeated


async def insert_jobs(
    tx: Tx,
    jobs: Sequence[PlannedJob],
    now: float,
    request_id: str | None,
    *,
    of_stored: bool = False,
) -> int:
    """Jobs without dedupe; the number created (other processes are notified when any).

    `of_stored`: a replay's jobs, whose keys name stored notifications: a job is created only
    while its notification is stored, which then stays stored as long as the job (pruning.py).
    Otherwise (alerts, follow-ups: keys of their own) every job is created."""
    if not jobs:
        return 0
    values = params.insert_jobs_params(jobs, now, request_id)
    actions = sorted(set(values["actions"]))
    await tx.execute("share_action_order", actions=actions)
    await tx.execute("ensure_actions", actions=actions)
    created = await tx.execute("insert_replayed_jobs" if of_stored else "insert_jobs", **values)
    if created:
        await tx.notify()
    return created
