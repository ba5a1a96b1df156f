"""Dedupe by the latest notification per object (issue 10, item 2), on SQLite and PostgreSQL.

Kontent.ai delivers in order and a retry repeats what it sent last: a notification is a
redelivery only if it repeats the latest one received for its object (id, language, delivery
slot, webhook). Publish, unpublish, then a publish identical to the first is three changes.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import pytest

from bridge.delivery.clock import ManualClock
from bridge.delivery.model import Accepted, Batch, ClaimPolicy, Outcome
from bridge.delivery.store import Store
from bridge.events import Notification
from bridge.payloads import parse_payload
from bridge.plan import PlannedJob
from tests.stores.conftest import MakeStore

ITEM = "32022d85-ee58-4655-9016-e130c375820a"
FIFO = ClaimPolicy(lease_s=120)


def item(
    action: str,
    *,
    webhook: str = "production",
    item_id: str | None = ITEM,
    language: str = "english",
    slot: str = "published",
    last_modified: str | None = "2024-01-08T13:54:54.3153716Z",
) -> Notification:
    """One current-format notification as the receiver parses it (its real content key)."""
    system: dict[str, Any] = {"name": "Item", "language": language, "type": "article"}
    if item_id is not None:
        system["id"] = item_id
    if last_modified is not None:
        system["last_modified"] = last_modified
    message = {"object_type": "content_item", "action": action, "delivery_slot": slot}
    payload = {"notifications": [{"data": {"system": system}, "message": message}]}
    [notification] = parse_payload(payload, webhook)
    return notification


def jobs_of(*notes: Notification) -> list[PlannedJob]:
    return [PlannedJob("a", "r1", n.key, n.events[0]) for n in notes]


async def run_head(store: Store) -> Batch:
    """Claim action `a`'s head job and record it as delivered."""
    [batch] = (await store.claim("a", FIFO, worker_id="w")).batches
    now = store.clock.now()
    await store.record(batch, Outcome("succeeded", now, now, status=200))
    return batch


async def send(store: Store, *notes: Notification) -> tuple[int, int, int]:
    """Accept `notes` as one request; (accepted, duplicates, jobs)."""
    result: Accepted = await store.accept(list(notes), jobs_of(*notes), request_id="req")
    return (result.accepted, result.duplicates, result.jobs)


async def test_a_republish_identical_to_an_earlier_publish_is_a_new_change(
    store: Store,
) -> None:
    publish, unpublish = item("published"), item("unpublished")

    assert await send(store, publish) == (1, 0, 1)
    assert await send(store, unpublish) == (1, 0, 1)
    assert await send(store, publish) == (1, 0, 1)  # was (0, 1, 0): the record stayed deleted

    rows = await store.deliveries()
    assert [r.summary.split()[1] for r in rows] == ["published", "unpublished", "published"]
    stored = await store.notifications()
    assert len(stored) == 3 and len({n.key for n in stored}) == 3
    assert stored[2].key == publish.key  # the first stays stored under its content key
    assert stored[0].key.startswith(publish.key + ":")
    # The third job finds its own notification (raw) and runs like any other.
    batches = [await run_head(store) for _ in range(3)]
    assert [b.jobs[0].event.action for b in batches] == ["published", "unpublished", "published"]
    assert batches[2].jobs[0].event.raw == publish.raw
    detail = await store.job(rows[0].job_id)
    assert detail is not None and detail.notification_key == stored[0].key


async def test_a_retry_of_the_latest_is_a_duplicate(store: Store) -> None:
    publish, unpublish = item("published"), item("unpublished")

    assert await send(store, publish) == (1, 0, 1)
    assert await send(store, publish) == (0, 1, 0)  # a retry of the publish
    assert await send(store, unpublish) == (1, 0, 1)
    assert await send(store, unpublish) == (0, 1, 0)  # a retry of the unpublish
    assert await send(store, publish) == (1, 0, 1)
    assert await send(store, publish) == (0, 1, 0)
    assert len(await store.deliveries()) == 3
    assert len(await store.notifications()) == 3


async def test_within_one_request_each_notification_counts_against_the_one_before(
    store: Store,
) -> None:
    publish, unpublish = item("published"), item("unpublished")

    assert await send(store, publish, publish) == (1, 1, 1)  # two identical: one redelivery
    assert await send(store, unpublish, publish) == (2, 0, 2)  # publish -> unpublish -> publish
    assert await send(store, publish, unpublish) == (1, 1, 1)  # the publish repeats the latest
    assert await send(store, unpublish, unpublish, publish) == (1, 2, 1)
    assert await send(store, unpublish, publish, unpublish) == (3, 0, 3)
    rows = await store.deliveries(limit=100)
    assert len(rows) == 8
    stored = await store.notifications(limit=100)
    assert len(stored) == 8 and len({n.key for n in stored}) == 8


async def test_a_retried_request_with_several_notifications_about_one_object_is_a_redelivery(
    store: Store,
) -> None:
    """Kontent.ai batches notifications, and one item's edit and workflow move often share a
    request. A retry of that request repeated the edit, which was not the item's latest, so it
    was accepted again each time (and the move after it too): every job ran again."""
    edit = item("changed", slot="preview")
    moved = item("workflow_step_changed", slot="preview", language="english")
    moved = replace_system(moved, workflow_step="review")
    assert await send(store, edit, moved) == (2, 0, 2)
    assert await send(store, edit, moved) == (0, 2, 0)  # was (2, 0, 2): every retry ran again
    assert await send(store, edit, edit, moved) == (0, 3, 0)  # the same run, one repeated
    assert await send(store, moved) == (0, 1, 0)  # still the latest

    # publish, unpublish, publish in one request, retried: recognised, as one of them would be.
    publish, unpublish = item("published"), item("unpublished")
    assert await send(store, publish, unpublish, publish) == (3, 0, 3)
    assert await send(store, publish, unpublish, publish) == (0, 3, 0)
    # A run ending in the latest (publish) that is not the last request again is new.
    assert await send(store, unpublish, publish) == (2, 0, 2)
    assert await send(store, unpublish, publish) == (0, 2, 0)
    # A single notification makes the latest a run of one: the pair is new again.
    assert await send(store, unpublish) == (1, 0, 1)
    assert await send(store, publish, unpublish) == (2, 0, 2)
    assert len(await store.deliveries(limit=100)) == 10


async def test_a_retry_of_the_last_request_is_all_duplicates_whatever_it_holds(
    store: Store,
) -> None:
    """Seeded random requests over two objects and three actions, each sometimes retried as
    Kontent.ai retries (the request it sent last, again): every retry is all duplicates."""
    rng = random.Random(20261204)
    alphabet = [
        item(action, item_id=f"0000000{n}-ee58-4655-9016-e130c375820a")
        for n in (1, 2)
        for action in ("published", "unpublished", "metadata_changed")
    ]
    last: list[Notification] = []
    retries = 0
    for _ in range(150):
        retry = bool(last) and rng.random() < 0.35
        request = last if retry else [rng.choice(alphabet) for _ in range(rng.randint(1, 5))]
        accepted, duplicates, jobs = await send(store, *request)
        if retry:
            retries += 1
            assert (accepted, duplicates, jobs) == (0, len(request), 0), request
        last = request
    assert retries > 30


def replace_system(notification: Notification, **system: str) -> Notification:
    """The notification with `data.system` fields changed, reparsed (its own content key)."""
    [raw] = [dict(notification.raw)]
    raw["data"] = {"system": {**raw["data"]["system"], **system}}
    [changed] = parse_payload({"notifications": [raw]}, notification.webhook)
    return changed


async def test_objects_are_told_apart_by_language_slot_and_webhook(store: Store) -> None:
    base = item("published")
    others = [
        item("published", language="czech"),
        item("published", slot="preview"),
        item("published", webhook="staging"),
        item("published", item_id="another-item"),
    ]

    assert await send(store, base, *others) == (5, 0, 5)
    # Unpublishing in one place does not make the others' retries new.
    assert await send(store, item("unpublished")) == (1, 0, 1)
    assert await send(store, *others) == (0, 4, 0)
    assert await send(store, base) == (1, 0, 1)


async def test_two_webhooks_keep_separate_latest_rows(store: Store) -> None:
    prod, staging = item("published"), item("published", webhook="staging")

    assert await send(store, prod, staging) == (2, 0, 2)
    assert await send(store, item("unpublished")) == (1, 0, 1)  # production only
    assert await send(store, staging) == (0, 1, 0)  # staging's latest is still its publish
    assert await send(store, prod) == (1, 0, 1)  # production's latest was the unpublish
    assert await send(store, item("unpublished", webhook="staging")) == (1, 0, 1)
    assert await send(store, prod) == (0, 1, 0)


async def test_without_an_object_id_the_content_key_alone_decides(
    store: Store, clock: ManualClock
) -> None:
    first = item("changed", item_id=None)
    second = item("changed", item_id=None, language="czech")
    assert first.events[0].id is None

    assert await send(store, first) == (1, 0, 1)
    assert await send(store, second) == (1, 0, 1)
    assert await send(store, first) == (0, 1, 0)  # its key is stored: a redelivery, as before
    assert await send(store, first, first) == (0, 2, 0)

    clock.advance(3 * 86400 + 1)
    assert await store.prune(before=clock.now() - 3 * 86400) >= 0
    # Its jobs are still pending, so the notification is kept and still recognised.
    assert await send(store, first) == (0, 1, 0)


async def modified(
    store: Store, object_id: str, language: str | None, slot: str | None
) -> dict[str, str | None]:
    """Each webhook's latest `last_modified` for the object, as the Sync API source reads it."""
    versions = await store.object_versions(object_id, language, slot)
    return {version.webhook: version.last_modified for version in versions}


async def test_each_webhook_keeps_the_latest_version_of_each_object(store: Store) -> None:
    assert await modified(store, ITEM, "english", "published") == {}
    await send(store, item("published", last_modified="2024-01-08T10:00:00Z"))
    await send(store, item("published", webhook="staging", last_modified="2024-01-09T10:00:00Z"))
    await send(store, item("published", language="czech", last_modified="2024-02-01T00:00:00Z"))
    await send(store, item("published", slot="preview", last_modified="2024-03-01T00:00:00Z"))

    assert await modified(store, ITEM, "english", "published") == {
        "production": "2024-01-08T10:00:00Z",
        "staging": "2024-01-09T10:00:00Z",
    }
    assert await modified(store, ITEM, "czech", "published") == {
        "production": "2024-02-01T00:00:00Z"
    }
    assert await modified(store, ITEM, "english", "preview") == {
        "production": "2024-03-01T00:00:00Z"
    }
    assert await modified(store, "another-item", "english", "published") == {}
    # The latest notification's own value counts, not the greatest ever seen for the webhook.
    await send(store, item("unpublished", webhook="staging", last_modified="2024-01-08T12:00:00Z"))
    assert (await modified(store, ITEM, "english", "published"))["staging"] == (
        "2024-01-08T12:00:00Z"
    )


async def test_a_missing_language_or_slot_is_stored_as_empty(store: Store) -> None:
    note = item("changed", language="", slot="", last_modified="2024-05-05T05:05:05Z")
    await send(store, note)
    expected = {"production": "2024-05-05T05:05:05Z"}
    assert await modified(store, ITEM, None, None) == expected
    assert await modified(store, ITEM, "", "") == expected


async def test_latest_rows_are_pruned_with_the_notifications(
    store: Store, clock: ManualClock
) -> None:
    publish = item("published")
    waiting = item("published", item_id="waiting-item")  # its job is never run
    assert await send(store, publish) == (1, 0, 1)
    await run_head(store)
    assert await send(store, waiting) == (1, 0, 1)

    clock.advance(3 * 86400 + 1)
    assert await store.prune(before=clock.now() - 3 * 86400) == 2  # the job and the notification
    assert await modified(store, ITEM, "english", "published") == {}
    assert [n.key for n in await store.notifications()] == [waiting.key]
    # Older than retention: no longer recognised, as with notifications without an object...
    assert await send(store, publish) == (1, 0, 1)
    # ... unless its notification is kept for a job that still needs it.
    assert await modified(store, "waiting-item", "english", "published") != {}
    assert await send(store, waiting) == (0, 1, 0)


async def test_replicas_receiving_one_notification_at_once_accept_it_once(
    make_store: MakeStore,
) -> None:
    stores = [await make_store() for _ in range(3)]
    publish, unpublish = item("published"), item("unpublished")

    for note in (publish, unpublish, publish):  # each time a new change, sent to every replica
        results = await asyncio.gather(*(send(s, note) for s in stores))
        assert sorted(results) == [(0, 1, 0), (0, 1, 0), (1, 0, 1)]
    assert len(await stores[0].deliveries()) == 3


async def test_replay_of_a_republish_finds_each_stored_copy(store: Store) -> None:
    publish, unpublish = item("published"), item("unpublished")
    for note in (publish, unpublish, publish):
        await send(store, note)
    for _ in range(3):
        await run_head(store)

    stored = await store.stored_notifications(since=0)
    keys = [s.notification.key for s in stored]
    assert len(set(keys)) == 3 and keys[0] == publish.key and keys[2].startswith(publish.key)
    replayed = [PlannedJob("a", "r1", s.notification.key, s.notification.events[0]) for s in stored]
    assert await store.enqueue(replayed, request_id="replay") == 3
    batches = [await run_head(store) for _ in range(3)]
    assert [b.jobs[0].notification_key for b in batches] == keys
    assert [b.jobs[0].event.raw for b in batches] == [publish.raw, unpublish.raw, publish.raw]


# PostgreSQL only: SQLite's writers take turns (one write lock for the file), so two replicas
# never decide one request at the same instant there.
@pytest.mark.parametrize(
    "store_kind", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_two_replicas_accepting_one_request_about_an_object_at_once_store_it_once(
    make_store: MakeStore, store_url: str
) -> None:
    """Kontent.ai retries a request that timed out while a load balancer still had it on one
    replica, and sends the retry to another. Each replica's accept decided against the table as
    it stood when its statement began, so both accepted the notifications after the object's
    first in the request: those were stored, and their jobs ran, twice."""
    first, second = await make_store(), await make_store()
    publish, unpublish = item("published"), item("unpublished")
    assert await send(first, publish) == (1, 0, 1)
    # Unpublished and published again: the publish is stored a second time, under a key of its
    # own (the content key and a sequence number), as the object went back to an earlier state.
    request = [unpublish, publish]

    blocker = await asyncpg.connect(store_url)
    try:
        # Hold the object's row, so that both statements take their snapshot, then wait for it.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT 1 FROM object_latest FOR UPDATE")
        both = asyncio.gather(send(first, *request), send(second, *request))
        for _ in range(200):
            waiting = await blocker.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if waiting == 2:
                break
            await asyncio.sleep(0.02)
        assert waiting == 2
        await transaction.commit()
        results = await both
    finally:
        await blocker.close()

    assert sorted(results) == [(0, 2, 0), (2, 0, 2)]  # was (1, 1, 1) and (2, 0, 2)
    assert len(await first.notifications(limit=100)) == 3
    assert len(await first.deliveries(limit=100)) == 3
