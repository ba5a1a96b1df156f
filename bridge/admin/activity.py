"""Deliveries over time per action: delivered, failed attempts and queue depth per time bucket.

The store may answer this itself (`store.delivery_series(since=, until=, bucket_s=)` returning
`{action: [Bucket, ...]}`, W5a's SQL); otherwise it is derived here from the delivery log:
a job is delivered at its last attempt when it succeeded, each failed attempt counts in the
bucket it started in (read from the job's attempts, only for jobs that failed at all), and the
queue at a bucket's end is every job created by then that had not yet succeeded or died.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.admin.context import AdminContext, BadRequest
from bridge.admin.params import shown

SCAN_ROWS = 5000
PAGE_ROWS = 500
MAX_DETAILS = 300  # failing jobs whose attempts are read in the derived series
# window -> (seconds, bucket seconds)
WINDOWS: dict[str, tuple[int, int]] = {
    "1h": (3600, 300),
    "6h": (6 * 3600, 1800),
    "24h": (86400, 3600),
    "3d": (3 * 86400, 3 * 3600),
}
DEFAULT_WINDOW = "24h"


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    delivered: int = 0
    failed: int = 0
    queued: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    window: str
    since: float
    until: float
    bucket_s: int
    actions: dict[str, list[Bucket]]
    complete: bool  # False: the log was longer than SCAN_ROWS jobs (older ones left out)


def window_of(raw: str | None) -> str:
    value = raw or DEFAULT_WINDOW
    if value not in WINDOWS:
        raise BadRequest(f"window must be one of {', '.join(WINDOWS)}, got {shown(value)}")
    return value


async def delivery_series(ctx: AdminContext, window: str, names: list[str]) -> Series:
    span_s, bucket_s = WINDOWS[window]
    now = ctx.now()
    until = (now // bucket_s + 1) * bucket_s
    since = until - span_s
    store = ctx.store
    own = getattr(store, "delivery_series", None)
    if own is not None:
        found = await own(since=since, until=until, bucket_s=bucket_s)
        return Series(
            window, since, until, bucket_s, _named(found, names, since, bucket_s, span_s), True
        )
    rows, complete = await _rows(ctx)
    actions = {name: _empty(since, bucket_s, span_s) for name in names}
    failing = [r for r in rows if r.failures > 0][:MAX_DETAILS]
    attempts = {r.job_id: await _attempt_starts(ctx, r.job_id) for r in failing}
    for name, buckets in actions.items():
        mine = [r for r in rows if r.action == name]
        actions[name] = [_fill(b, bucket_s, mine, attempts, now) for b in buckets]
    return Series(window, since, until, bucket_s, actions, complete)


def _empty(since: float, bucket_s: int, span_s: int) -> list[Bucket]:
    return [Bucket(since + i * bucket_s) for i in range(span_s // bucket_s)]


def _named(
    found: dict[str, list[Bucket]], names: list[str], since: float, bucket_s: int, span_s: int
) -> dict[str, list[Bucket]]:
    return {name: list(found.get(name) or _empty(since, bucket_s, span_s)) for name in names}


async def _rows(ctx: AdminContext) -> tuple[list[Any], bool]:
    """The log's jobs, newest first (an old job still queued counts in every bucket)."""
    rows: list[Any] = []
    cursor = 0
    while len(rows) < SCAN_ROWS:
        page = await ctx.store.deliveries(filter="all", limit=PAGE_ROWS, offset=cursor)
        rows += page
        cursor += PAGE_ROWS
        if len(page) < PAGE_ROWS:
            return rows, True
    return rows, False


async def _attempt_starts(ctx: AdminContext, job_id: int) -> list[float]:
    job = await ctx.store.job(job_id)
    if job is None:
        return []
    return [a.started_at for a in job.attempts if a.outcome != "succeeded"]


def _fill(
    bucket: Bucket, bucket_s: int, rows: list[Any], attempts: dict[int, list[float]], now: float
) -> Bucket:
    start, end = bucket.start, bucket.start + bucket_s
    delivered = failed = queued = 0
    for r in rows:
        done_at = r.last_attempt_at if r.state in ("succeeded", "dead") else None
        if r.state == "succeeded" and done_at is not None and start <= done_at < end:
            delivered += 1
        failed += sum(1 for at in attempts.get(r.job_id, ()) if start <= at < end)
        at_end = min(end, now)
        if start <= now and r.created_at <= at_end and (done_at is None or done_at > at_end):
            queued += 1
    return Bucket(start, delivered, failed, queued)
