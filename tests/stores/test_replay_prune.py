"""A replay against a prune, on both stores: every job a replay creates has its notification.

A replay reads stored notifications, plans their jobs, then inserts them. A prune that deleted
a notification in between (or while the insert ran) left jobs whose notification was gone:
their raw notification read `{}`, and a template reading `notification` failed them. Now the
insert creates a job only while its notification is stored, keeps it stored for as long as the
job is (pruning.py), and says how many it created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from bridge.delivery.clock import ManualClock
from bridge.delivery.model import ClaimPolicy
from bridge.delivery.store import Store
from bridge.plan import PlannedJob
from tests.stores.conftest import MakeStore
from tests.stores.interleaving import WAIT_S, Held, hold_commits, until_waiting_for_a_lock
from tests.stores.values import notification, planned

pytestmark = pytest.mark.timeout(60)

DAY_S = 86400.0
Hold = Callable[[Store], Held]


@pytest.fixture
def hold(make_store: MakeStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hold]:
    """`held = hold(store)`: its writes stop before COMMIT until `held.release()`. Released at
    the end of the test whatever happened, before the stores close."""
    helds: list[Held] = []

    def make(store: Store) -> Held:
        helds.append(hold_commits(store, monkeypatch))
        return helds[-1]

    yield make
    for held in helds:
        held.release()


async def old_and_new(store: Store, clock: ManualClock) -> list[PlannedJob]:
    """key-1, with no job, older than the retention; key-2, new. The jobs a replay of both
    plans, from what the store reads (the replay's read step)."""
    await store.accept([notification(1)], [], request_id="seed")
    clock.advance(4 * DAY_S)
    await store.accept([notification(2)], [], request_id="seed")
    read = await store.stored_notifications(since=0)
    assert [s.notification.key for s in read] == ["key-1", "key-2"]
    return [planned(s.notification, "a") for s in read]


async def replayed(store: Store) -> list[tuple[int, str | None, object]]:
    """Each job's id, notification key and the `n` of its raw notification as a claim reads it
    (None when no notification is stored under the key)."""
    claim = await store.claim("a", ClaimPolicy(ordering="none", concurrency=100), worker_id="c")
    found: list[tuple[int, str | None, object]] = []
    for batch in claim.batches:
        for job in batch.jobs:
            detail = await store.job(job.id)
            assert detail is not None
            message = job.event.raw.get("message") or {}
            found.append((job.id, detail.notification_key, message.get("n")))
    return found


async def test_a_replay_creates_no_job_for_a_notification_pruned_since_it_was_read(
    store: Store, clock: ManualClock
) -> None:
    jobs = await old_and_new(store, clock)

    assert await store.prune(before=clock.now() - store.retention_s) == 1  # key-1 goes
    created = await store.enqueue(jobs, request_id="replay")

    assert created == 1  # key-2's job only: the answer claims no job it did not create
    assert await replayed(store) == [(1, "key-2", 2)]
    assert [n.key for n in await store.notifications()] == ["key-2"]


async def test_a_replay_waits_for_a_prune_in_progress_and_creates_nothing_it_deleted(
    make_store: MakeStore, clock: ManualClock, hold: Hold
) -> None:
    """The prune has deleted key-1 but not committed yet when the replay inserts its jobs."""
    pruner, replayer = await make_store(), await make_store()
    jobs = await old_and_new(replayer, clock)
    held = hold(pruner)
    prune = asyncio.create_task(pruner.prune(before=clock.now() - pruner.retention_s))
    await asyncio.wait_for(held.reached.wait(), WAIT_S)

    replay = asyncio.create_task(replayer.enqueue(jobs, request_id="replay"))
    assert await until_waiting_for_a_lock(replayer, replay)  # on key-1, which the prune holds
    held.release()

    assert await asyncio.wait_for(prune, WAIT_S) == 1
    assert await asyncio.wait_for(replay, WAIT_S) == 1
    assert await replayed(replayer) == [(1, "key-2", 2)]


async def test_a_prune_during_a_replay_keeps_the_notifications_of_its_jobs(
    make_store: MakeStore, clock: ManualClock, hold: Hold
) -> None:
    """The replay has inserted its jobs but not committed yet when the prune runs. PostgreSQL:
    the prune skips what the replay holds, at once, instead of waiting for it; SQLite: the
    prune waits for the replay's commit (one writer), then sees its jobs."""
    replayer, pruner = await make_store(), await make_store()
    jobs = await old_and_new(replayer, clock)
    held = hold(replayer)
    replay = asyncio.create_task(replayer.enqueue(jobs, request_id="replay"))
    await asyncio.wait_for(held.reached.wait(), WAIT_S)

    prune = asyncio.create_task(pruner.prune(before=clock.now() - pruner.retention_s))
    if replayer.connector.dialect == "postgres":
        assert await asyncio.wait_for(prune, WAIT_S) == 0  # done while the replay is open
    held.release()

    assert await asyncio.wait_for(replay, WAIT_S) == 2
    assert await asyncio.wait_for(prune, WAIT_S) == 0
    assert await replayed(replayer) == [(1, "key-1", 1), (2, "key-2", 2)]
    assert await pruner.prune(before=clock.now() - pruner.retention_s) == 0  # still needed


async def test_jobs_of_their_own_keys_are_created_whatever_is_stored(
    store: Store, clock: ManualClock
) -> None:
    """Follow-ups and alerts name no stored notification (`translate:...`, `alert:...`)."""
    note = notification(1)
    own = [planned(note, "a")._replace(notification_key="translate:item-1:en@3")]

    assert await store.enqueue_follow_ups(own) == 1
    assert await store.raise_alert("a", "dead", [own[0]._replace(notification_key="alert:a:dead")])
    assert [(key, n) for _, key, n in await replayed(store)] == [
        ("translate:item-1:en@3", None),
        ("alert:a:dead", None),
    ]
