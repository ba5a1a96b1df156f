"""The Store protocol itself, run against every store (SQLite and PostgreSQL, see conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bridge.delivery.clock import ManualClock
from bridge.delivery.model import Batch, ClaimPolicy, Outcome
from bridge.delivery.store import Store
from tests.stores.values import accept, notification, planned

FIFO = ClaimPolicy(lease_s=120)
UNORDERED = ClaimPolicy(ordering="none", concurrency=10)


def ok(clock: ManualClock, status: int = 200) -> Outcome:
    now = clock.now()
    return Outcome("succeeded", now, now, status=status, response="fine")


def failed(clock: ManualClock, delay_s: float = 60.0, index: int = 1) -> Outcome:
    now = clock.now()
    return Outcome(
        "retrying",
        now,
        now,
        status=503,
        response="down",
        error="HTTP 503",
        due_at=now + delay_s,
        retry_index=index,
        first_failure_at=now,
    )


def dead(clock: ManualClock) -> Outcome:
    now = clock.now()
    return Outcome("dead", now, now, status=410, error="gone", retry_index=1, first_failure_at=now)


async def claim_one(store: Store, policy: ClaimPolicy = FIFO, worker: str = "w1") -> Batch:
    claim = await store.claim("a", policy, worker_id=worker)
    assert len(claim.batches) == 1, claim
    return claim.batches[0]


async def test_accept_counts_new_notifications_redeliveries_and_jobs(store: Store) -> None:
    notes = [notification(1), notification(2)]
    jobs = [planned(n, action) for n in notes for action in ("a", "b")]

    first = await store.accept(notes, jobs, request_id="req-1")
    again = await store.accept(
        [notification(2), notification(3)],
        [planned(notification(2), "a"), planned(notification(3), "a")],
        request_id="req-2",
    )
    twice = await store.accept(
        [notification(9)] * 2, [planned(notification(9), "a")], request_id=None
    )

    assert (first.accepted, first.duplicates, first.jobs) == (2, 0, 4)
    assert (again.accepted, again.duplicates, again.jobs) == (1, 1, 1)
    assert (twice.accepted, twice.duplicates, twice.jobs) == (1, 1, 1)
    rows = await store.deliveries(limit=20)
    assert [(r.job_id, r.action) for r in rows] == [
        (6, "a"),
        (5, "a"),
        (4, "b"),
        (3, "a"),
        (2, "b"),
        (1, "a"),
    ]
    assert rows[1].summary == "content_item published article 'Item 3'"
    stored = await store.notifications()
    assert [n.key for n in stored] == ["key-9", "key-3", "key-2", "key-1"]
    assert stored[-1].rules == ["r1"] and stored[-1].request_id == "req-1"
    assert stored[-1].raw["message"]["n"] == 1
    stats = await store.rule_stats()
    assert stats["r1"].matched == 4 and stats["r1"].last_matched_at == store.clock.now()


async def test_enqueue_creates_jobs_without_dedupe_and_wakes_listeners(
    store: Store, wakeups: Callable[[Store], asyncio.Event]
) -> None:
    woken = wakeups(store)
    await accept(store, [1])
    assert woken.is_set()
    woken.clear()

    note = notification(1)
    created = await store.enqueue([planned(note, "a"), planned(note, "a")], request_id="replay")

    assert created == 2 and woken.is_set()
    assert [r.job_id for r in await store.deliveries()] == [3, 2, 1]
    detail = await store.job(3)
    assert detail is not None and detail.request_id == "replay"


@pytest.mark.timeout(30)
async def test_enqueue_of_a_replay_sized_batch_keeps_every_column_in_order(store: Store) -> None:
    """SQLite's insert_jobs joined seven json_each arrays the planner scanned as a cross
    product: 50 jobs took 17 s and a replay of 5,000 hung the bridge. Now it is linear."""
    notes = [notification(n) for n in range(1, 1001)]
    await store.accept(notes, [], request_id="seed")
    jobs = [
        planned(note, f"a{n % 7}", rule=f"r{n}", inputs={"n": n})
        for n, note in enumerate(notes, start=1)
    ]

    assert await store.enqueue(jobs, request_id="replay-big") == 1000

    rows = await store.deliveries(limit=1000)
    assert [(r.job_id, r.action, r.rule) for r in reversed(rows)] == [
        (n, f"a{n % 7}", f"r{n}") for n in range(1, 1001)
    ]
    for job_id in (1, 500, 1000):
        detail = await store.job(job_id)
        assert detail is not None and detail.request_id == "replay-big"
        assert detail.notification_key == f"key-{job_id}" and detail.inputs == {"n": job_id}
        assert detail.summary == f"content_item published article 'Item {job_id}'"


async def test_a_claim_is_leased_and_an_expired_lease_goes_to_another_worker(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1], inputs={"text": "hi"})
    first = await claim_one(store, worker="dies")
    assert first.job_ids == (1,) and first.lease_until == clock.now() + 120
    assert first.jobs[0].inputs == {"text": "hi"}
    assert first.jobs[0].event.raw["message"]["n"] == 1
    assert (await store.job(1)).state == "running"  # type: ignore[union-attr]

    clock.advance(119)
    assert (await store.claim("a", FIFO, worker_id="other")).batches == ()
    clock.advance(1)
    second = await claim_one(store, worker="other")

    assert second.job_ids == (1,) and second.delivery_id == first.delivery_id
    await store.record(first, ok(clock))  # too late: the job belongs to the other worker
    assert (await store.job(1)).state == "running"  # type: ignore[union-attr]
    await store.record(second, ok(clock))
    assert (await store.job(1)).state == "succeeded"  # type: ignore[union-attr]


async def test_failures_are_recorded_and_retried_when_due(store: Store, clock: ManualClock) -> None:
    await accept(store, [1])
    batch = await claim_one(store)
    episode = await store.record(batch, failed(clock, delay_s=60))
    assert episode.failing_since == clock.now()

    blocked = await store.claim("a", FIFO, worker_id="w1")
    assert blocked.batches == () and blocked.next_due_at == clock.now() + 60
    [state] = await store.action_states()
    assert (state.health, state.pending, state.failed_attempts) == ("failing", 1, 1)

    clock.advance(60)
    again = await claim_one(store)
    assert (again.attempt, again.retry_index, again.delivery_id) == (2, 1, batch.delivery_id)
    episode = await store.record(again, ok(clock))

    assert episode.failing_since is None
    detail = await store.job(1)
    assert detail is not None and (detail.state, detail.row.attempts) == ("succeeded", 2)
    assert [(a.number, a.outcome, a.status) for a in detail.attempts] == [
        (1, "retrying", 503),  # one vocabulary: bridge/lifecycle.py
        (2, "succeeded", 200),
    ]
    assert {a.delivery_id for a in detail.attempts} == {"kb-1"}
    [state] = await store.action_states()
    assert (state.health, state.succeeded, state.pending, state.running) == ("working", 1, 0, 0)


async def test_fifo_a_failing_head_holds_back_later_jobs(store: Store, clock: ManualClock) -> None:
    await accept(store, [1, 2, 3])
    head = await claim_one(store)
    assert head.job_ids == (1,)
    assert (await store.claim("a", FIFO, worker_id="w2")).batches == ()  # one in flight

    await store.record(head, failed(clock, delay_s=30))
    clock.advance(29)
    assert (await store.claim("a", FIFO, worker_id="w2")).batches == ()
    clock.advance(1)
    retried = await claim_one(store, worker="w2")
    assert retried.job_ids == (1,)
    await store.record(retried, ok(clock))

    order = []
    for _ in range(2):
        batch = await claim_one(store)
        order.append(batch.job_ids)
        await store.record(batch, ok(clock))
    assert order == [(2,), (3,)]


async def test_ordering_none_claims_up_to_the_concurrency(store: Store, clock: ManualClock) -> None:
    await accept(store, [1, 2, 3])
    policy = ClaimPolicy(ordering="none", concurrency=2)

    first = await store.claim("a", policy, worker_id="w1")
    assert [b.job_ids for b in first.batches] == [(1,), (2,)]
    assert (await store.claim("a", policy, worker_id="w2")).batches == ()

    await store.record(first.batches[1], failed(clock))
    later = await store.claim("a", policy, worker_id="w2")
    assert [b.job_ids for b in later.batches] == [(3,)]  # a failed job does not block


async def test_with_ordering_none_an_episode_lasts_while_any_job_still_fails(
    store: Store, clock: ManualClock
) -> None:
    """One job failing for hours while others succeed: each success ended the episode, so the
    hour never passed ("failing" never went out) and "recovered" went out while it failed."""
    await accept(store, [1, 2, 3, 4])
    policy = ClaimPolicy(ordering="none", concurrency=10, lease_s=3600)
    one, two, three, four = (await store.claim("a", policy, worker_id="w1")).batches
    started = clock.now()
    assert (await store.record(one, failed(clock, delay_s=600))).failing_since == started
    clock.advance(10)
    assert (await store.record(two, ok(clock))).failing_since == started  # job 1 still waits
    clock.advance(590)
    retried = (await store.claim("a", policy, worker_id="w1")).batches
    assert [b.job_ids for b in retried] == [(1,)]
    clock.advance(5)
    # job 1 is being retried (running, with a failure behind it): still the same episode
    assert (await store.record(three, ok(clock))).failing_since == started
    assert (await store.record(retried[0], ok(clock))).failing_since is None  # none fails now
    clock.advance(5)
    assert (await store.record(four, failed(clock))).failing_since == clock.now()  # a new one


async def test_debounce_coalesces_a_burst_into_one_batch(store: Store, clock: ManualClock) -> None:
    policy = ClaimPolicy(debounce_s=30)
    await accept(store, [1])
    clock.advance(10)
    await accept(store, [2])
    claim = await store.claim("a", policy, worker_id="w1")
    assert claim.batches == () and claim.next_due_at == clock.now() + 30

    clock.advance(29)
    assert (await store.claim("a", policy, worker_id="w1")).batches == ()
    clock.advance(1)
    batch = (await store.claim("a", policy, worker_id="w1")).batches[0]
    assert batch.job_ids == (1, 2) and batch.delivery_id == "kb-1"
    await accept(store, [3])  # a new window, not part of the batch in flight
    await store.record(batch, ok(clock))
    clock.advance(30)
    assert [b.job_ids for b in (await store.claim("a", policy, worker_id="w1")).batches] == [(3,)]


async def test_batch_jobs_counts_and_lists_the_jobs_of_one_call(
    store: Store, clock: ManualClock
) -> None:
    policy = ClaimPolicy(debounce_s=5)
    await accept(store, [1, 2, 3])
    await accept(store, [4], actions=("b",))
    clock.advance(5)
    batch = (await store.claim("a", policy, worker_id="w1")).batches[0]
    await store.record(batch, ok(clock))
    size, rows = await store.batch_jobs(batch.delivery_id)
    assert size == 3 and [r.job_id for r in rows] == [1, 2, 3]
    assert {r.delivery_id for r in rows} == {batch.delivery_id}
    size, rows = await store.batch_jobs(batch.delivery_id, limit=2)
    assert size == 3 and [r.job_id for r in rows] == [1, 2]
    assert await store.batch_jobs("kb-none") == (0, [])


async def test_max_wait_closes_a_window_that_keeps_getting_events(
    store: Store, clock: ManualClock
) -> None:
    policy = ClaimPolicy(debounce_s=10, max_wait_s=25)
    for n in range(1, 6):
        await accept(store, [n])
        if n < 5:
            clock.advance(6)
    assert (await store.claim("a", policy, worker_id="w1")).batches == ()  # t = 24
    clock.advance(1)
    batch = (await store.claim("a", policy, worker_id="w1")).batches[0]
    assert batch.job_ids == (1, 2, 3, 4, 5)


async def test_debounce_windows_are_per_distinct_inputs(store: Store, clock: ManualClock) -> None:
    policy = ClaimPolicy(ordering="none", concurrency=5, debounce_s=5)
    await accept(store, [1, 2], inputs={"site": "en"})
    await accept(store, [3], inputs={"site": "de"})
    clock.advance(5)
    claim = await store.claim("a", policy, worker_id="w1")
    assert sorted(b.job_ids for b in claim.batches) == [(1, 2), (3,)]


async def test_disable_parks_jobs_and_enable_resumes_them(
    store: Store, clock: ManualClock, wakeups: Callable[[Store], asyncio.Event]
) -> None:
    await accept(store, [1])
    await store.set_enabled("a", False)
    assert (await store.claim("a", FIFO, worker_id="w1")).batches == ()
    [state] = await store.action_states()
    assert (state.enabled, state.pending) == (False, 1)

    woken = wakeups(store)
    await store.set_enabled("a", True)
    assert woken.is_set()
    assert (await claim_one(store)).job_ids == (1,)


async def test_release_gives_a_batch_back_unattempted(store: Store, clock: ManualClock) -> None:
    await accept(store, [1])
    batch = await claim_one(store)
    await store.release(batch)
    again = await claim_one(store, worker="w2")
    assert again.job_ids == (1,) and again.attempt == 1 and again.delivery_id == batch.delivery_id


async def test_reset_retries_the_oldest_failed_job_now_and_restarts_the_schedule(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1, 2])
    await store.record(await claim_one(store), dead(clock))
    [state] = await store.action_states()
    assert (state.health, state.dead) == ("dead", 1)
    second = await claim_one(store)
    await store.record(second, failed(clock, delay_s=3600, index=3))

    assert await store.reset_action("a")
    batch = await claim_one(store)
    assert batch.job_ids == (1,) and batch.retry_index == 0 and batch.first_failure_at is None
    await store.record(batch, ok(clock))
    assert not await store.reset_action("nothing-failed")


async def test_retry_job_makes_a_dead_job_due_now(store: Store, clock: ManualClock) -> None:
    await accept(store, [1])
    await store.record(await claim_one(store), dead(clock))
    assert (await store.claim("a", FIFO, worker_id="w1")).batches == ()

    assert await store.retry_job(1)
    assert (await claim_one(store)).job_ids == (1,)
    assert not await store.retry_job(1)  # running now, not failed
    assert not await store.retry_job(999)


async def test_prune_keeps_unfinished_and_dead_jobs_and_their_notifications(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1, 2, 3, 4])
    batches = {b.job_ids[0]: b for b in (await store.claim("a", UNORDERED, worker_id="w")).batches}
    await store.record(batches[1], ok(clock))
    await store.record(batches[2], dead(clock))
    await store.record(batches[3], failed(clock))
    await store.release(batches[4])

    clock.advance(4 * 86400)
    assert await store.prune(before=clock.now() - store.retention_s) == 2  # job 1 and key-1

    remaining = {r.job_id: r.state for r in await store.deliveries(limit=10)}
    assert remaining == {2: "dead", 3: "retrying", 4: "pending"}
    assert {n.key for n in await store.notifications()} == {"key-2", "key-3", "key-4"}
    assert (await store.job(2)).events[0].raw["message"]["n"] == 2  # type: ignore[union-attr]
    assert await store.prune(before=clock.now()) == 0


async def test_delivery_log_filters(store: Store, clock: ManualClock) -> None:
    await accept(store, [1, 2, 3], actions=("a", "b"))
    batches = {b.job_ids[0]: b for b in (await store.claim("a", UNORDERED, worker_id="w")).batches}
    await store.record(batches[1], failed(clock, delay_s=0))  # fails, then succeeds
    await store.record(batches[3], failed(clock))  # still failing
    await store.record(batches[5], ok(clock))
    retried = await claim_one(store, UNORDERED)
    assert retried.job_ids == (1,)
    await store.record(retried, ok(clock))

    async def ids(**kwargs: object) -> list[int]:
        return [row.job_id for row in await store.deliveries(**kwargs)]  # type: ignore[arg-type]

    assert await ids() == [6, 5, 4, 3, 2, 1]
    assert await ids(action="a") == [5, 3, 1]
    assert await ids(filter="failures") == [3, 1]
    assert await ids(filter="active_failures") == [3]
    assert await ids(action="b", filter="failures") == []
    assert await ids(limit=2, offset=1) == [5, 4]
    row = (await store.deliveries(filter="active_failures"))[0]
    assert (row.state, row.attempts, row.failures, row.last_status) == ("retrying", 1, 1, 503)
    assert row.next_attempt_at == clock.now() + 60 and row.last_error == "HTTP 503"
    assert row.last_response == "down" and row.delivery_id == "kb-3"


async def test_job_detail_and_unknown_job(store: Store, clock: ManualClock) -> None:
    await accept(store, [1], inputs={"text": "{{ event.name }}"})
    await store.record(await claim_one(store), failed(clock))
    detail = await store.job(1)
    assert detail is not None
    assert (detail.notification_key, detail.request_id) == ("key-1", "req-1")
    assert detail.inputs == {"text": "{{ event.name }}"}
    assert detail.events[0].name == "Item 1" and detail.events[0].raw["message"]["n"] == 1
    attempts = [(a.number, a.outcome, a.error) for a in detail.attempts]
    assert attempts == [(1, "retrying", "HTTP 503")]
    assert detail.state == "retrying"
    assert await store.job(2) is None


async def test_stored_notifications_page_in_order(store: Store, clock: ManualClock) -> None:
    await accept(store, [1, 2])
    clock.advance(100)
    await accept(store, [3, 4, 5])

    page = await store.stored_notifications(since=0, limit=2)
    rest = await store.stored_notifications(since=0, after_seq=page[-1].seq)
    keys = [s.notification.key for s in page + rest]
    assert keys == ["key-1", "key-2", "key-3", "key-4", "key-5"]
    assert rest[0].notification.events[0].name == "Item 3"
    recent = await store.stored_notifications(since=clock.now())
    assert [s.notification.key for s in recent] == ["key-3", "key-4", "key-5"]
    assert await store.count_notifications(since=clock.now()) == 3
    assert await store.count_notifications(since=0) == 5
    assert [n.key for n in await store.notifications(limit=2, offset=1)] == ["key-4", "key-3"]


async def test_rule_stats_and_matches(store: Store, clock: ManualClock) -> None:
    await accept(store, [1, 2], rule="articles")
    clock.advance(5)
    await accept(store, [3], actions=("a", "b"), rule="news")

    stats = await store.rule_stats()
    assert {r: (s.matched, s.last_matched_at) for r, s in stats.items()} == {
        "articles": (2, clock.now() - 5),
        "news": (1, clock.now()),
    }
    assert [r.job_id for r in await store.rule_matches("articles")] == [2, 1]
    assert [r.job_id for r in await store.rule_matches("news", limit=1)] == [4]
    assert await store.rule_matches("none") == []


async def test_rule_stats_count_the_retention_window_once_per_notification(
    store: Store, clock: ManualClock
) -> None:
    """Counted per hour as notifications are accepted: matches older than the retention drop
    out (and their hours go with the prune), a redelivery or a replay's jobs add nothing."""
    await accept(store, [1, 2], rule="articles")
    clock.advance(store.retention_s + 2 * 3600)
    await accept(store, [3], actions=("a", "b"), rule="articles")
    await accept(store, [3], rule="articles")  # a redelivery
    await store.enqueue([planned(notification(3), "c", rule="articles")])  # a replay
    stats = await store.rule_stats()
    assert (stats["articles"].matched, stats["articles"].last_matched_at) == (1, clock.now())
    await store.prune(before=clock.now() - store.retention_s)
    assert (await store.rule_stats())["articles"].matched == 1


async def test_alerts_are_raised_once_per_episode(store: Store, clock: ManualClock) -> None:
    await accept(store, [1])
    await store.record(await claim_one(store), failed(clock))
    alert = planned(notification(100), "alerts", rule="alerts")

    assert await store.raise_alert("a", "failing", [alert])
    assert not await store.raise_alert("a", "failing", [alert])
    assert await store.raise_alert("a", "dead", [])
    assert (await store.action_states())[0].name == "a"
    assert [r.action for r in await store.deliveries()] == ["alerts", "a"]
    assert await store.raise_alert("a", "recovered", [])
    assert not await store.raise_alert("a", "recovered", [])


async def test_action_states_of_known_and_unknown_actions(store: Store, clock: ManualClock) -> None:
    await accept(store, [1, 2])
    clock.advance(30)
    states = {s.name: s for s in await store.action_states()}
    assert set(states) == {"a"}
    a = states["a"]
    assert (a.health, a.enabled, a.pending, a.running, a.oldest_pending_age_s) == (
        "ready",
        True,
        2,
        0,
        30.0,
    )
    await claim_one(store)
    assert (await store.action_states())[0].running == 1


async def test_ordering_none_reports_when_the_next_retry_is_due(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1])
    await store.record(await claim_one(store, UNORDERED), failed(clock, delay_s=45))
    claim = await store.claim("a", UNORDERED, worker_id="w1")
    assert claim.batches == () and claim.next_due_at == clock.now() + 45


async def test_a_window_larger_than_max_batch_is_delivered_in_slices(
    store: Store, clock: ManualClock
) -> None:
    policy = ClaimPolicy(debounce_s=10, max_batch=2)
    await accept(store, [1, 2, 3])
    clock.advance(10)
    first = await claim_one(store, policy)
    assert first.job_ids == (1, 2)
    await store.record(first, ok(clock))
    assert (await claim_one(store, policy)).job_ids == (3,)


async def test_a_full_retried_batch_not_yet_due_holds_nothing_back_without_order(
    store: Store, clock: ManualClock
) -> None:
    """`ordering: none` with debounce: the oldest retried batch, as large as `max_batch` and
    not due for an hour, filled the claim's candidates (the first `max_batch` waiting jobs by
    id), so a later batch that was due, and every new window, waited for it: one poisoned
    batch slowed the whole action to one call an hour."""
    policy = ClaimPolicy(ordering="none", concurrency=4, debounce_s=5, max_batch=2)
    await accept(store, [1, 2])
    clock.advance(5)
    poisoned = await claim_one(store, policy)
    await store.record(poisoned, failed(clock, delay_s=3600))
    await accept(store, [3, 4])
    clock.advance(5)
    flaky = await claim_one(store, policy)
    assert flaky.job_ids == (3, 4)
    await store.record(flaky, failed(clock, delay_s=60))
    await accept(store, [5])
    clock.advance(60)

    claim = await store.claim("a", policy, worker_id="w1")

    assert sorted(b.job_ids for b in claim.batches) == [(3, 4), (5,)]  # was () until t + 1 h
    assert claim.next_due_at is None or claim.next_due_at > clock.now()


async def test_a_page_of_notifications_leaves_out_payloads_too_long_for_it(store: Store) -> None:
    """A signed body may be 5 MiB: a page of 500 such notifications (the dashboard's and the
    admin API's) read 2.5 GB. A page holds payloads up to PAGE_RAW_CHARS; `notification(key)`
    reads one whole."""
    from bridge.delivery.views import PAGE_RAW_CHARS
    from bridge.payloads import parse_payload

    name = "Long " * 40_000  # 200,000 characters
    body = {
        "data": {"system": {"id": "item-long", "name": name, "type": "article"}},
        "message": {"object_type": "content_item", "action": "published"},
    }
    [long] = parse_payload({"notifications": [body]}, "production")
    await store.accept([long, notification(1)], [], request_id="req")

    page = await store.notifications()
    assert [n.key for n in page] == [notification(1).key, long.key]
    assert page[0].raw is not None and page[0].raw_chars < PAGE_RAW_CHARS
    assert page[1].raw is None and page[1].raw_chars > 200_000
    whole = await store.notification(long.key)
    assert whole is not None and whole.raw is not None
    assert whole.raw["data"]["system"]["name"] == name and whole.raw_chars == page[1].raw_chars
    assert await store.notification("no-such-key") is None


async def test_probe_write_commits_and_changes_nothing(store: Store) -> None:
    """The readiness write probe goes through the store's write path on both databases."""
    await accept(store, [1, 2])
    before = [(row.job_id, row.state, row.attempts) for row in await store.deliveries()]
    for _ in range(3):
        await store.probe_write()
    assert [(row.job_id, row.state, row.attempts) for row in await store.deliveries()] == before
