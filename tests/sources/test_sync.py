"""The Sync API source end to end: a local Sync API (tests/fakes/sync.py), the real rules and a
real store; jobs are checked in the store, deliveries at a real HTTP sink."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bridge.app import create_app
from bridge.config import parse_config
from bridge.delivery.clock import ManualClock, SystemClock
from bridge.delivery.opening import open_store
from bridge.runtime import Runtime
from bridge.settings import Settings
from bridge.signatures import sign
from bridge.sources import Sources, SyncPoller, status
from tests.fakes.server import Recorder
from tests.fakes.sync import FakeSync, error_body, item_system
from tests.sources.polling import (
    ENV,
    SECRET,
    MakePoller,
    QuickClock,
    SignallingClock,
    jobs_of,
    noting_claims,
    noting_cycles,
    publish,
    rules,
)
from tests.stores.conftest import MakeStore

pytestmark = pytest.mark.timeout(60)


async def test_each_change_becomes_one_job_through_the_rules(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    poller = await make_poller()
    first = await poller.cycle()
    assert first.initialised and first.pages == 1 and first.deltas == 0  # from now on
    publish(sync_api, "a")
    publish(sync_api, "b")
    publish(sync_api, "c")
    sync_api.change(ENV, item_system("d"), change_type="deleted")
    sync_api.change(ENV, {"id": "t1", "codename": "tags", "name": "Tags"}, kind="taxonomies")
    result = await poller.cycle()
    # 5 deltas, 2 a page: 3 pages and the empty one that ends the cycle.
    assert (result.pages, result.deltas, result.accepted, result.jobs) == (4, 5, 5, 4)
    store = poller.runtime.store
    assert store is not None
    assert await jobs_of(store) == [
        ("a", "published", "sync:prod"),
        ("b", "published", "sync:prod"),
        ("c", "published", "sync:prod"),
        ("d", "unpublished", "sync:prod"),
    ]
    again = await poller.cycle()
    assert (again.pages, again.deltas, again.jobs) == (1, 0, 0)
    assert len(await jobs_of(store)) == 4
    assert sync_api.inits == 1


async def test_the_event_carries_the_delta_fields(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    poller = await make_poller()
    await poller.cycle()
    sync_api.change(ENV, item_system("x", language="de", collection="blog", type="news"))
    await poller.cycle()
    store = poller.runtime.store
    assert store is not None
    (row,) = await store.deliveries()
    detail = await store.job(row.job_id)
    assert detail is not None
    event = detail.events[0].to_json()
    expected = {
        "object_type": "content_item",
        "action": "published",
        "delivery_slot": "published",
        "environment_id": ENV,
        "id": "x",
        "codename": "x",
        "language": "de",
        "type": "news",
        "collection": "blog",
        "workflow_step": "published",
        "last_modified": "2026-01-08T13:54:54.3153716Z",
        "webhook": "sync:prod",
    }
    assert {k: event.get(k) for k in expected} == expected
    assert event["raw"]["change_type"] == "changed"
    assert event["raw"]["data"]["system"]["name"] == "Item x"


@pytest.mark.parametrize("crash", [False, True], ids=["clean-stop", "crash"])
async def test_a_restart_resumes_from_the_stored_token(
    make_poller: MakePoller, sync_api: FakeSync, store_clock: ManualClock, crash: bool
) -> None:
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    publish(sync_api, "b")
    await poller.cycle()
    store = poller.runtime.store
    assert store is not None
    if crash:
        assert not (await (await make_poller()).cycle()).held  # the dead process's lease
        store_clock.advance(poller.lease_s + 1)
    else:
        await store.release_source("prod", owner=poller.owner)  # what a clean stop does
    await store.close()

    publish(sync_api, "c")  # changed while the bridge was down
    restarted = await make_poller()
    result = await restarted.cycle()
    assert result.held and not result.initialised and result.jobs == 1
    reopened = restarted.runtime.store
    assert reopened is not None
    assert [job[0] for job in await jobs_of(reopened)] == ["a", "b", "c"]
    assert sync_api.inits == 1


async def test_a_page_fetched_again_after_a_crash_is_not_delivered_twice(
    make_poller: MakePoller, sync_api: FakeSync, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash falls between accepting a page and saving its token."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    publish(sync_api, "b")
    store = poller.runtime.store
    assert store is not None
    real_save = store.save_source
    saves = 0

    async def crash_after_accept(*args: Any, **kwargs: Any) -> bool:
        nonlocal saves
        saves += 1
        raise asyncio.CancelledError  # the process dies here

    monkeypatch.setattr(store, "save_source", crash_after_accept)
    with pytest.raises(asyncio.CancelledError):
        await poller.cycle()
    assert saves == 1 and len(await jobs_of(store)) == 2  # accepted, token not saved
    monkeypatch.setattr(store, "save_source", real_save)
    await store.release_source("prod", owner=poller.owner)

    again = await make_poller()
    result = await again.cycle()
    assert result.deltas == 2 and result.skipped == 2 and result.jobs == 0
    assert [job[0] for job in await jobs_of(store)] == ["a", "b"]


async def test_a_delta_whose_id_no_index_holds_does_not_stall_the_source(
    make_poller: MakePoller, sync_api: FakeSync, make_store: MakeStore
) -> None:
    """An id of 6,000 bytes (no Kontent.ai id is one; a proxy's or a broken answer's) made
    PostgreSQL refuse the object's index entry: every poll failed on that page, so nothing
    after it was ever delivered. It is kept, deduped by its content key alone, and the
    source moves on."""
    store = await make_store()
    poller = await make_poller(store=store)
    await poller.cycle()
    huge = random.Random(6).randbytes(3000).hex()  # 6,000 characters that do not compress
    publish(sync_api, huge)
    publish(sync_api, "after")
    result = await poller.cycle()
    assert (result.deltas, result.accepted, result.jobs) == (2, 2, 2)
    assert [job[0] for job in await jobs_of(store)] == [huge, "after"]
    again = await poller.cycle()
    assert (again.pages, again.deltas, again.jobs) == (1, 0, 0)


async def test_an_unpublish_keeping_the_last_modified_of_the_publish_is_delivered(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    """Kontent.ai keeps an item's last content change as last_modified when it is unpublished:
    the deletion must not look like the publish already delivered."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a", "2026-01-08T13:54:54.3153716Z")
    await poller.cycle()
    system = item_system("a", last_modified="2026-01-08T13:54:54.3153716Z")
    sync_api.change(ENV, system, change_type="deleted", timestamp="2026-01-09T08:00:00.5Z")
    result = await poller.cycle()
    assert (result.deltas, result.jobs) == (1, 1)
    store = poller.runtime.store
    assert store is not None
    assert await jobs_of(store) == [
        ("a", "published", "sync:prod"),
        ("a", "unpublished", "sync:prod"),
    ]


async def test_two_replicas_on_one_store_poll_once(
    make_poller: MakePoller, sync_api: FakeSync, db_url: str
) -> None:
    store = open_store(db_url, SystemClock())
    await store.open()
    try:
        one, two = await make_poller(store=store), await make_poller(store=store)
        results = await asyncio.gather(one.cycle(), two.cycle())
        assert sorted(r.held for r in results) == [False, True]
        holder, other = (one, two) if results[0].held else (two, one)
        publish(sync_api, "a")
        publish(sync_api, "b")
        publish(sync_api, "c")
        for _ in range(3):
            rounds = await asyncio.gather(holder.cycle(), other.cycle())
            assert [r.held for r in rounds] == [True, False]
        assert other.requests == 0
        assert [job[0] for job in await jobs_of(store)] == ["a", "b", "c"]
        assert sync_api.inits == 1
    finally:
        await store.close()


async def test_two_replicas_with_stores_of_their_own_poll_once(
    make_poller: MakePoller, sync_api: FakeSync, make_store: MakeStore, store_kind: str
) -> None:
    """Two processes, each with its own connection to one database (SQLite file, PostgreSQL),
    each running the poller loop: the changes become jobs once, polled by one of them."""
    stores = [await make_store(), await make_store()]
    pollers = [await make_poller(store=store, clock=SystemClock()) for store in stores]
    await pollers[0].cycle()  # a token exists: changes from here on are delivered
    for name in "abcde":
        publish(sync_api, name)
    committed = asyncio.Event()
    stores[1].add_listener(committed.set)  # the other replica's store sees the commit too
    stores[0].add_listener(committed.set)
    stop = asyncio.Event()
    runs = [asyncio.create_task(p.run(stop)) for p in pollers]
    try:
        while len(await stores[1].deliveries(limit=1000)) < 5:
            await committed.wait()
            committed.clear()
        await sync_api.wait_until(lambda: sync_api.syncs >= 5)  # 3 pages, then empty again
    finally:
        stop.set()
        await asyncio.gather(*runs)
    assert sorted(str(job[0]) for job in await jobs_of(stores[1])) == list("abcde")
    tokens = [r.headers.get("X-Continuation", "").rsplit(":", 1)[-1] for r in sync_api.requests]
    assert tokens.count("2") == tokens.count("4") == 1  # each page fetched once by anyone
    assert pollers[1].requests == 0 and sync_api.inits == 1


async def test_a_replica_takes_over_when_the_holder_stops(
    make_poller: MakePoller, sync_api: FakeSync, db_url: str
) -> None:
    store = open_store(db_url, SystemClock())
    await store.open()
    try:
        one = await make_poller(store=store)
        two = await make_poller(store=store)
        assert (await one.cycle()).held
        publish(sync_api, "a")
        assert (await one.cycle()).jobs == 1
        assert not (await two.cycle()).held
        await store.release_source("prod", owner=one.owner)  # what run() does on a clean stop
        publish(sync_api, "b")
        taken = await two.cycle()
        assert taken.held and not taken.initialised and taken.jobs == 1
        assert [job[0] for job in await jobs_of(store)] == ["a", "b"]
    finally:
        await store.close()


async def test_429_waits_as_retry_after_says_then_continues(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    clock = QuickClock()
    poller = await make_poller(clock=clock)
    await poller.cycle()
    before = len(sync_api.requests)
    publish(sync_api, "a")
    sync_api.fail_next(429, {"message": "Too many requests"}, {"Retry-After": "7"})
    result = await poller.cycle()
    assert result.error is None and result.jobs == 1
    assert clock.waits.count(7.0) == 1
    tokens = [r.headers["X-Continuation"] for r in sync_api.requests[before:]]
    assert len(tokens) == 3 and tokens[0] == tokens[1]  # the 429, the same page again, the end


async def test_requests_are_spaced_by_the_client_side_limit(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    clock = QuickClock()
    poller = await make_poller(clock=clock, min_request_interval_s=0.5)
    await poller.cycle()
    for name in "abcd":
        publish(sync_api, name)
    await poller.cycle()
    assert len(sync_api.requests) == 5  # init and an empty page, then 2 pages and an empty one
    assert len([w for w in clock.waits if w > 0.3]) >= 3


async def test_preview_sends_the_preview_key_and_maps_deltas_to_preview_actions(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    config = parse_config(rules(sync_api.base_url("preview"), slot="preview"), env={})
    poller = await make_poller(config=config)
    await poller.cycle()
    sync_api.change(ENV, item_system("p1"), slot="preview")
    sync_api.change(ENV, item_system("p2"), slot="preview", change_type="deleted")
    await poller.cycle()
    assert {r.headers.get("Authorization") for r in sync_api.requests} == {"Bearer preview-key"}
    store = poller.runtime.store
    assert store is not None
    assert await jobs_of(store) == [("p1", "changed", "sync:prod"), ("p2", "deleted", "sync:prod")]


async def test_a_wrong_key_is_an_error_and_nothing_is_lost(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    sync_api.secure_key = "secure"  # the environment requires secure access; we send no key
    poller = await make_poller()
    result = await poller.cycle()
    assert result.error is not None and "secure_access_key" in result.error
    assert "secure" not in (result.error.split("check")[0])


async def test_a_published_source_sends_the_secure_access_key(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    sync_api.secure_key = "secure"
    text = rules(sync_api.base_url()).replace(
        "{preview_api_key: preview-key}",
        "{preview_api_key: preview-key, secure_access_key: secure}",
    )
    poller = await make_poller(config=parse_config(text, env={}))
    await poller.cycle()
    publish(sync_api, "a")
    assert (await poller.cycle()).jobs == 1
    assert {r.headers.get("Authorization") for r in sync_api.requests} == {"Bearer secure"}


async def test_a_token_the_api_rejects_starts_a_new_synchronisation(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    poller = await make_poller()
    await poller.cycle()
    sync_api.fail_next(400, error_body("Invalid continuation token", 100))
    failed = await poller.cycle()
    assert failed.error is not None and failed.reason == "token_rejected"
    # What the card, the banner and /admin/api/sources show: why, the recovery, what is lost.
    assert "Kontent.ai no longer knows the continuation token" in failed.error
    assert "a new synchronisation (sync/init) starts at the next poll" in failed.error
    assert "changes made since the last successful poll at 20" in failed.error
    publish(sync_api, "late")
    fresh = await poller.cycle()
    assert fresh.initialised and sync_api.inits == 2
    seen = status.snapshot()["prod"]
    assert seen.last_failure_reason == "token_rejected"  # kept after the recovery
    assert "new synchronisation" in (seen.last_failure_message or "")


async def test_a_token_the_api_answers_again_stops_the_poll(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    """Before: an API answering a page with the token it was asked with was asked again, up to
    10,000 times a poll (the same page each time), and the poll then counted as a success."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    publish(sync_api, "b")
    sync_api.stuck = True
    requests = sync_api.syncs
    stuck = await poller.cycle()
    assert sync_api.syncs - requests == 1
    assert stuck.reason == "token_repeated" and stuck.error is not None
    assert "with the continuation token it was asked with" in stuck.error
    assert (stuck.deltas, stuck.accepted) == (2, 2)  # the page's changes are delivered once
    again = await poller.cycle()
    assert again.reason == "token_repeated" and sync_api.syncs - requests == 2
    assert (again.skipped, again.accepted) == (2, 0)
    assert status.snapshot()["prod"].consecutive_failures == 2  # the source is failing

    sync_api.stuck = False  # the API moves on again: the poll continues from the stored token
    publish(sync_api, "c")
    moving = await poller.cycle()
    assert moving.error is None
    assert [job[0] for job in await jobs_of(poller.runtime.store)] == ["a", "b", "c"]  # type: ignore[arg-type]


async def test_tokens_that_go_round_in_a_circle_stop_the_poll(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    """A -> B -> A: each page moves, but back to where the poll began."""
    poller = await make_poller()
    await poller.cycle()
    start = f"published:{ENV}:0"
    delta = {
        "change_type": "changed",
        "timestamp": "2026-01-08T13:55:00.1234567Z",
        "data": {"system": item_system("a")},
    }
    body = {"items": [delta], "types": [], "languages": [], "taxonomies": []}
    sync_api.fail_next(200, body, {"X-Continuation": "somewhere-else"})
    sync_api.fail_next(200, body, {"X-Continuation": start})
    circled = await poller.cycle()
    assert circled.reason == "token_repeated" and circled.pages == 2
    assert circled.error is not None and "page 2" in circled.error


# -- reconciliation: webhooks first, the sync catches up ---------------------------------------


def webhook_body(id: str, modified: str, action: str = "published") -> bytes:
    system = {
        k: v for k, v in item_system(id, last_modified=modified).items() if k != "sitemap_locations"
    }
    notification = {
        "data": {"system": system},
        "message": {
            "environment_id": ENV,
            "object_type": "content_item",
            "action": action,
            "delivery_slot": "published",
        },
    }
    return json.dumps({"notifications": [notification]}).encode()


async def test_reconciliation_delivers_only_what_the_webhooks_missed(
    sync_api: FakeSync, db_url: str
) -> None:
    """A first run saved a token; then the bridge receives some webhooks (signed POSTs through
    the real app, delivered by its workers) and misses others. The next start's poller catches
    up: only the missed changes become jobs.

    a, b: published, webhooks received. c, d: published, webhooks missed. e: published and
    unpublished, both webhooks received. f: published (webhook received), then unpublished
    (webhook missed); its last_modified stays that of the publish, as Kontent.ai's does."""
    stamps = {
        "a": "2026-01-08T13:54:54.3153716Z",
        "b": "2026-01-08T13:54:55.38Z",
        "c": "2026-01-08T13:54:56.1Z",
        "d": "2026-01-08T13:54:57.0000001Z",
        "e": "2026-01-08T13:54:58.5Z",
        "f": "2026-01-08T13:54:59.25Z",
    }
    received = [("a", "published"), ("b", "published"), ("e", "published")]
    received += [("e", "unpublished"), ("f", "published")]
    async with Recorder() as sink:
        text = rules(sync_api.base_url(), sink_url=f"{sink.url}/hook")
        polling = parse_config(text, env={})
        receiving = parse_config(text.replace("interval: 1s", "enabled: false"), env={})
        store = open_store(db_url, SystemClock())
        await store.open()
        try:
            warmup = Runtime(Settings())
            await warmup.start(polling, store)
            first = SyncPoller(warmup, "prod", QuickClock(), min_request_interval_s=0)
            await first.cycle()
            await store.release_source("prod", owner=first.owner)  # that run stopped cleanly
            await warmup.aclose()

            async with app_client(create_app(Settings(), config=receiving, store=store)) as http:
                for id, action in received:
                    body = webhook_body(id, stamps[id], action)
                    headers = {
                        "Content-Type": "application/json",
                        "X-Kontent-ai-Signature": sign(body, SECRET),
                    }
                    answer = await http.post("/webhooks/kontent", content=body, headers=headers)
                    assert answer.status_code == 200 and answer.json()["jobs"] == 1
                await sink.wait_for(len(received))
            assert sync_api.syncs == 1  # the warm-up's empty page: nothing polled meanwhile

            # The Sync API's view: the last change of each object, e's unpublish a moment
            # before its webhook arrived, f's after the last webhook the bridge received.
            for id in "abcd":
                publish(sync_api, id, stamps[id])
            for id, happened in (("e", time.time() - 1), ("f", time.time() + 60)):
                system = item_system(id, last_modified=stamps[id])
                sync_api.change(ENV, system, change_type="deleted", timestamp=iso(happened))
            async with app_client(create_app(Settings(), config=polling, store=store)):
                await sink.wait_for(len(received) + 3)  # the app's own poller and workers
                await sync_api.wait_until(lambda: sync_api.syncs >= 5)  # 3 pages, then empty
            jobs = await jobs_of(store)
        finally:
            await store.close()
    delivered = [json.loads(r.body)["events"][0] for r in sink.requests]
    assert len(delivered) == len(received) + 3
    assert sorted(jobs) == [
        ("a", "published", "production"),
        ("b", "published", "production"),
        ("c", "published", "sync:prod"),
        ("d", "published", "sync:prod"),
        ("e", "published", "production"),
        ("e", "unpublished", "production"),
        ("f", "published", "production"),
        ("f", "unpublished", "sync:prod"),
    ]


def iso(epoch_s: float) -> str:
    """Kontent.ai's format: UTC, 7 fractional digits."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


@asynccontextmanager
async def app_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as http:
            yield http


async def test_polling_alone_delivers_through_a_worker_without_webhooks(
    sync_api: FakeSync, db_url: str
) -> None:
    """No public URL: `bridge worker` with a source and no webhook delivers each change once."""
    async with Recorder() as sink:
        text = rules(sync_api.base_url(), sink_url=f"{sink.url}/hook")
        webhooks = text[text.index("webhooks:") : text.index("kontent:")]
        config = parse_config(text.replace(webhooks, ""), env={})
        assert config.webhooks == ()
        store = open_store(db_url, SystemClock())
        await store.open()
        try:
            warmup = Runtime(Settings())
            await warmup.start(config, store)
            first = SyncPoller(warmup, "prod", QuickClock(), min_request_interval_s=0)
            await first.cycle()  # an earlier run: the synchronisation starts here
            await store.release_source("prod", owner=first.owner)
            await warmup.aclose()
            for name in "abc":
                publish(sync_api, name)
            async with app_client(
                create_app(Settings(), role="worker", config=config, store=store)
            ):
                await sink.wait_for(3)
                await sync_api.wait_until(lambda: sync_api.syncs >= 4)  # 2 pages, then empty
            jobs = await jobs_of(store)
        finally:
            await store.close()
    assert sorted(json.loads(r.body)["events"][0]["id"] for r in sink.requests) == ["a", "b", "c"]
    assert sorted(jobs) == [(n, "published", "sync:prod") for n in "abc"]


async def test_the_holder_renews_its_lease_while_it_waits_and_gives_it_up_on_stop(
    make_poller: MakePoller,
    sync_api: FakeSync,
    make_store: MakeStore,
    clock: SignallingClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """run() with a 5-minute interval: a minute passes without a poll, yet the 30 s lease never
    lapses, so another replica cannot take over; once stopped, it can at once."""
    holder_store, other_store = await make_store(), await make_store()
    config = parse_config(
        rules(sync_api.base_url()).replace("interval: 1s", "interval: 5m"), env={}
    )
    poller = await make_poller(store=holder_store, config=config, clock=clock)
    claimed = noting_claims(holder_store, monkeypatch)
    cycled = noting_cycles(poller, monkeypatch)
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    await cycled.wait()
    for _ in range(6):
        await clock.someone_sleeps()  # the poller waits on the clock
        claimed.clear()
        clock.advance(10)
        await claimed.wait()  # the renewal
        assert await other_store.claim_source("prod", owner="other", lease_s=30) is None
    assert sync_api.syncs == 1  # renewed, not polled: the interval has not passed
    stop.set()
    await running
    assert await other_store.claim_source("prod", owner="other", lease_s=30) is not None


async def test_a_holder_that_lost_its_lease_mid_cycle_stops_and_nothing_repeats(
    make_poller: MakePoller,
    sync_api: FakeSync,
    store_clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stalls past its lease after accepting a page; B takes over. A's token save is refused,
    so A stops; B fetches that page again (recognised, no new jobs) and goes on."""
    one = await make_poller()
    store = one.runtime.store
    assert store is not None
    two = await make_poller(store=store)
    await one.cycle()
    for name in "abcd":
        publish(sync_api, name)
    real_accept = store.accept

    async def stall_after_first_page(*args: Any, **kwargs: Any) -> Any:
        accepted = await real_accept(*args, **kwargs)
        monkeypatch.setattr(store, "accept", real_accept)
        store_clock.advance(one.lease_s + 1)  # A stalls; its lease runs out
        assert await store.claim_source("prod", owner=two.owner, lease_s=two.lease_s)
        return accepted

    monkeypatch.setattr(store, "accept", stall_after_first_page)
    lost = await one.cycle()
    assert (lost.held, lost.pages, lost.jobs) == (False, 1, 2)
    taken = await two.cycle()
    assert taken.held and taken.skipped == 2 and taken.jobs == 2
    assert [job[0] for job in await jobs_of(store)] == list("abcd")
    assert not (await one.cycle()).held


async def test_a_reload_adding_a_source_starts_it_and_removing_it_stops_it(
    sync_api: FakeSync, db_url: str
) -> None:
    with_source = parse_config(rules(sync_api.base_url()), env={})
    text = rules(sync_api.base_url())
    without = parse_config(text[: text.index("sources:")] + text[text.index("actions:") :], env={})
    store = open_store(db_url, SystemClock())
    await store.open()
    runtime = Runtime(Settings())
    await runtime.start(without, store)
    sources = Sources(runtime, QuickClock())
    sources.start()
    try:
        assert sources.pollers == {}
        await runtime.swap(with_source)
        sources.refresh()  # what the supervisor does every few seconds
        await sync_api.wait_until(lambda: sync_api.inits == 1)
        await runtime.swap(without)
        task = sources.tasks["prod"]
        await asyncio.wait_for(task, timeout=10)  # the poller sees its source gone and stops
        assert await store.claim_source("prod", owner="next", lease_s=30) is not None  # released
    finally:
        await sources.stop()
        await runtime.aclose()
        await store.close()
