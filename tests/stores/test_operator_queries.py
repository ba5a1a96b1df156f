"""The store's operator queries (issue 12) on SQLite and PostgreSQL alike: the delivery log
searched in SQL, and deliveries, failed attempts and queue depth per action per time bucket."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from bridge.delivery.clock import ManualClock
from bridge.delivery.model import ClaimPolicy, Outcome, SeriesBucket
from bridge.delivery.store import Store
from bridge.events import Event, Notification
from bridge.plan import PlannedJob


@dataclass(frozen=True)
class Ask:
    action: str | None = None
    filter: str = "all"
    q: str | None = None
    codename: str | None = None
    name: str | None = None
    item_id: str | None = None
    request_id: str | None = None
    rule: str | None = None
    state: str | None = None
    since: float | None = None
    until: float | None = None


def note(n: int, name: str, codename: str) -> Notification:
    raw = {"data": {"system": {"id": f"item-{n}", "name": name, "codename": codename}}, "n": n}
    event = Event(
        object_type="content_item", action="published", id=f"Item-{n}", name=name,
        codename=codename, raw=raw,
    )  # fmt: skip
    return Notification(f"key-{n}", "production", "current", raw, (event,))


async def seeded(store: Store, clock: ManualClock) -> float:
    """Three jobs an hour apart: #1 a/announce About us (req-1), #2 b/rebuild Breaking news
    (req-2), #3 a/announce Contact (req-3); #1 succeeds, #2 fails then dies."""
    start = clock.now()
    for n, (action, rule, name, codename) in enumerate(
        [
            ("a", "announce", "About us", "about_us"),
            ("b", "rebuild", "Breaking news", "breaking_news"),
            ("a", "announce", "Contact", "contact"),
        ],
        start=1,
    ):
        item = note(n, name, codename)
        job = PlannedJob(action, rule, item.key, item.events[0], {})
        await store.accept([item], [job], request_id=f"req-{n}")
        if n < 3:
            clock.advance(3600)
    return start


@pytest.mark.parametrize(
    ("ask", "expected"),
    [
        (Ask(), [3, 2, 1]),
        (Ask(codename="BREAKING_NEWS"), [2]),
        (Ask(item_id="item-3"), [3]),
        (Ask(name="about"), [1]),
        (Ask(request_id="req-3"), [3]),
        (Ask(q="REQ-1"), [1]),
        (Ask(q="contact"), [3]),
        (Ask(q="item-2"), [2]),
        (Ask(rule="announce"), [3, 1]),
        (Ask(action="a", q="news"), []),
        (Ask(state="pending", action="b"), [2]),
        (Ask(codename="nothing"), []),
    ],
)
async def test_each_field_narrows_the_log(
    store: Store, clock: ManualClock, ask: Ask, expected: list[int]
) -> None:
    await seeded(store, clock)
    found = await store.search_deliveries(ask, limit=50)
    assert [r.job_id for r in found] == expected


async def test_time_range_state_filter_and_paging(store: Store, clock: ManualClock) -> None:
    start = await seeded(store, clock)
    assert [r.job_id for r in await store.search_deliveries(Ask(since=start + 1800))] == [3, 2]
    assert [r.job_id for r in await store.search_deliveries(Ask(until=start + 1800))] == [1]
    page = await store.search_deliveries(Ask(rule="announce"), limit=1, offset=1)
    assert [r.job_id for r in page] == [1]
    claim = await store.claim("b", ClaimPolicy(), worker_id="w")
    now = clock.now()
    await store.record(claim.batches[0], Outcome("dead", now, now, status=410, error="gone"))
    [dead] = await store.search_deliveries(Ask(filter="active_failures"))
    assert (dead.job_id, dead.state, dead.last_error) == (2, "dead", "gone")
    assert [r.job_id for r in await store.search_deliveries(Ask(state="dead", q="breaking"))] == [2]


async def test_the_series_counts_deliveries_failures_and_the_queue(
    store: Store, clock: ManualClock
) -> None:
    start = await seeded(store, clock)  # jobs created at start, +1h, +2h; now = start + 2h
    claim = await store.claim("a", ClaimPolicy(ordering="none", concurrency=2), worker_id="w")
    first, third = sorted(claim.batches, key=lambda b: b.job_ids[0])
    clock.advance(600)  # now = start + 2h10m
    now = clock.now()
    await store.record(first, Outcome("succeeded", now, now, status=200))
    await store.record(
        third,
        Outcome("retrying", now, now, status=502, error="bad gateway", due_at=now + 3600),
    )
    series = await store.delivery_series(since=start, until=start + 4 * 3600, bucket_s=3600)
    assert set(series) == {"a", "b"}
    assert series["a"] == [
        SeriesBucket(start, 0, 0, 1),
        SeriesBucket(start + 3600, 0, 0, 2),  # #3 created at this bucket's end counts
        SeriesBucket(start + 7200, 1, 1, 1),  # #1 delivered, #3's attempt failed; #3 waits
        SeriesBucket(start + 3 * 3600, 0, 0, 0),  # after now: nothing counted
    ]
    assert [b.queued for b in series["b"]] == [1, 1, 1, 0]


async def test_a_stored_event_that_is_not_json_matches_no_field_and_fails_nothing(
    store: Store, clock: ManualClock, store_url: str
) -> None:
    await seeded(store, clock)
    broken = "UPDATE jobs SET event = '{not json' WHERE id = 2"
    if store_url.startswith("sqlite"):
        import sqlite3

        from bridge.delivery.opening import sqlite_path

        conn = sqlite3.connect(sqlite_path(store_url))
        with conn:
            conn.execute(broken)
        conn.close()
    else:
        import asyncpg

        pg = await asyncpg.connect(store_url)
        try:
            await pg.execute(broken)
        finally:
            await pg.close()
    assert [r.job_id for r in await store.search_deliveries(Ask(q="item-"))] == [3, 1]
    assert await store.search_deliveries(Ask(codename="breaking_news")) == []
    assert [r.job_id for r in await store.search_deliveries(Ask(q="req-2"))] == [2]


async def test_bulk_retry_restarts_exactly_the_listed_failed_jobs(
    store: Store, clock: ManualClock
) -> None:
    await seeded(store, clock)
    now = clock.now()
    first, third = sorted(
        (
            await store.claim("a", ClaimPolicy(ordering="none", concurrency=2), worker_id="w")
        ).batches,
        key=lambda b: b.job_ids[0],
    )
    await store.record(first, Outcome("dead", now, now, status=410, error="gone"))
    await store.record(third, Outcome("succeeded", now, now, status=200))
    [second] = (await store.claim("b", ClaimPolicy(), worker_id="w")).batches
    await store.record(
        second, Outcome("retrying", now, now, status=502, error="down", due_at=now + 3600)
    )

    assert await store.retry_jobs([3, 2, 1]) == [1, 2]  # #3 succeeded: left alone
    assert await store.retry_jobs([]) == []
    rows = {r.job_id: r for r in await store.deliveries(limit=10)}
    assert [rows[n].state for n in (1, 2, 3)] == ["retrying", "retrying", "succeeded"]
    assert rows[1].next_attempt_at == now and rows[2].next_attempt_at == now
    claimed = await store.claim("a", ClaimPolicy(), worker_id="w")
    assert [b.job_ids for b in claimed.batches] == [(1,)]  # due at once


async def test_the_queue_depth_agrees_with_counting_every_job_at_every_bucket_end(
    store: Store, clock: ManualClock
) -> None:
    """The queue series reads only the jobs that can be waiting in the window and adds their
    changes up (views.py); counted the plain way instead, job by job at each bucket's end, it
    says the same, on bucket ends exactly, before the window, after it and after now."""
    rng = random.Random(7)
    start = clock.now()
    bucket_s = 600.0
    plan = []  # (job number, created offset, finished offset or None, final state)
    for n in range(40):
        created = rng.choice([rng.uniform(0, 9000), rng.randrange(0, 16) * bucket_s])
        finished = created + rng.choice([rng.uniform(1, 4000), bucket_s, 2 * bucket_s])
        state = rng.choice(["succeeded", "dead", "retrying", "pending"])
        plan.append((n, created, None if state in ("retrying", "pending") else finished, state))
    creations = [(created, 0, n) for n, created, _, _ in plan]
    ends = [(finished or created + 1, 1, n) for n, created, finished, s in plan if s != "pending"]
    steps = sorted(creations + ends)
    states = {n: state for n, _, _, state in plan}
    for offset, kind, n in steps:
        clock.advance(start + offset - clock.now())
        action = f"act-{n:02d}"
        if kind == 0:
            item = note(100 + n, f"Item {n}", f"item_{n}")
            await store.accept([item], [PlannedJob(action, "r", item.key, item.events[0], {})],
                               request_id=None)  # fmt: skip
            continue
        claim = await store.claim(action, ClaimPolicy(ordering="none"), worker_id="w")
        (batch,) = claim.batches
        now = clock.now()
        due = now + 86400 if states[n] == "retrying" else None
        await store.record(batch, Outcome(states[n], now, now, status=500, due_at=due))
    clock.advance(start + 7000 - clock.now())  # now: inside the window, not on a bucket end
    now = clock.now()
    since = start + 1200  # jobs created before the window count as waiting at its start
    series = await store.delivery_series(since=since, until=since + 16 * bucket_s, bucket_s=600)
    for n, created, finished, _ in plan:
        expected = []
        for index in range(16):
            end = min(since + (index + 1) * bucket_s, now)
            counted = since + index * bucket_s <= now and start + created <= end
            expected.append(int(counted and (finished is None or start + finished > end)))
        shown = [b.queued for b in series.get(f"act-{n:02d}", [])] or [0] * 16
        assert shown == expected, (n, created, finished)
