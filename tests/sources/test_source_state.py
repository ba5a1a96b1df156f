"""The store's source state: a continuation token that survives restarts, under a lease that
lets one replica poll a source at a time (run on SQLite and PostgreSQL, see conftest)."""

from __future__ import annotations

from bridge.delivery.clock import ManualClock
from bridge.delivery.model import ObjectVersion, SourceLease, SourceState
from bridge.events import Event, Notification
from tests.stores.conftest import MakeStore


async def test_a_saved_token_is_what_the_next_owner_resumes_from(make_store: MakeStore) -> None:
    first = await make_store()
    assert await first.claim_source("prod", owner="a", lease_s=30) == SourceState("", None)
    assert await first.save_source("prod", owner="a", scope="env:published", token="t1", lease_s=30)
    await first.release_source("prod", owner="a")
    reopened = await make_store()
    assert await reopened.claim_source("prod", owner="b", lease_s=30) == SourceState(
        "env:published", "t1"
    )


async def test_one_owner_at_a_time_until_the_lease_expires(
    make_store: MakeStore, clock: ManualClock
) -> None:
    one, two = await make_store(), await make_store()
    assert await one.claim_source("prod", owner="a", lease_s=30) is not None
    assert await two.claim_source("prod", owner="b", lease_s=30) is None
    assert not await two.save_source("prod", owner="b", scope="s", token="stolen", lease_s=30)
    clock.advance(20)
    assert await one.claim_source("prod", owner="a", lease_s=30) is not None  # renewed
    clock.advance(20)
    assert await two.claim_source("prod", owner="b", lease_s=30) is None  # still a's
    clock.advance(11)
    assert await two.claim_source("prod", owner="b", lease_s=30) == SourceState("", None)
    assert not await one.save_source("prod", owner="a", scope="s", token="late", lease_s=30)
    assert await two.save_source("prod", owner="b", scope="s", token="t2", lease_s=30)


async def test_a_released_lease_is_free_at_once_and_sources_are_separate(
    make_store: MakeStore,
) -> None:
    one, two = await make_store(), await make_store()
    assert await one.claim_source("prod", owner="a", lease_s=300) is not None
    assert await two.claim_source("preview", owner="b", lease_s=300) is not None
    await one.release_source("prod", owner="a")
    await one.release_source("preview", owner="a")  # not a's: no effect
    assert await two.claim_source("prod", owner="b", lease_s=300) is not None
    assert await one.claim_source("preview", owner="a", lease_s=300) is None


async def test_every_replica_reads_who_holds_each_lease_until_it_runs_out(
    make_store: MakeStore, clock: ManualClock
) -> None:
    one, two = await make_store(), await make_store()
    assert await two.source_leases() == {}
    assert await one.claim_source("prod", owner="host-a:7:1f2e3d", lease_s=30) is not None
    assert await one.claim_source("preview", owner="host-a:7:1f2e3d", lease_s=300) is not None
    await one.release_source("preview", owner="host-a:7:1f2e3d")
    now = clock.now()
    assert await two.source_leases() == {"prod": SourceLease("host-a:7:1f2e3d", now + 30)}
    clock.advance(31)  # expired: nobody polls it until a replica takes it again
    assert await two.source_leases() == {}


async def test_object_versions_lists_each_webhooks_latest_about_an_object(
    make_store: MakeStore, clock: ManualClock
) -> None:
    store = await make_store()
    first = notification("a", webhook="production", modified="2026-01-08T13:54:54.3153716Z")
    await store.accept([first], [], request_id=None)
    clock.advance(10)
    later = notification("a", webhook="sync:prod", modified="2026-01-08T13:54:55.38Z")
    other = notification("b", webhook="production", modified="2026-01-08T13:54:56Z")
    await store.accept([later, other], [], request_id=None)
    versions = await store.object_versions("a", "en", "published")
    assert sorted(versions, key=lambda v: v.webhook) == [
        ObjectVersion("production", "2026-01-08T13:54:54.3153716Z", clock.now() - 10),
        ObjectVersion("sync:prod", "2026-01-08T13:54:55.38Z", clock.now()),
    ]
    assert await store.object_versions("a", "de", "published") == []
    assert await store.object_versions("a", "en", "preview") == []


def notification(id: str, *, webhook: str, modified: str) -> Notification:
    system = {"id": id, "language": "en", "last_modified": modified}
    message = {"object_type": "content_item", "action": "published", "delivery_slot": "published"}
    raw = {"data": {"system": system}, "message": message}
    event = Event(
        object_type="content_item",
        action="published",
        delivery_slot="published",
        id=id,
        language="en",
        last_modified=modified,
        webhook=webhook,
        raw=raw,
    )
    return Notification(f"{webhook}:{id}:{modified}", webhook, "current", raw, (event,))
