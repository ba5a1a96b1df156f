"""Answers that are not what Kontent.ai sends, through a real poller and store: none may stop
the poller, move the token past changes it did not read, or drop the token when Kontent.ai did
not reject it. Each is scripted on the fake Sync API (tests/fakes/sync.py) as the next answer."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.actions.httputil import client_session
from bridge.config import parse_config
from bridge.delivery.clock import SystemClock
from bridge.httpread import SDK_MAX_RESPONSE_BYTES
from bridge.sources.client import SyncClient, SyncError
from tests.fakes.huge import HugeAnswer
from tests.fakes.sync import FakeSync, error_body, item_system
from tests.sources.polling import ENV, MakePoller, jobs_of, publish, rules

pytestmark = pytest.mark.timeout(60)


def position(api: FakeSync, at: int) -> str:
    """The fake's token for position `at` of the published log (what a real page hands back)."""
    return f"published:{ENV}:{at}"


async def test_a_body_that_is_not_utf8_is_a_failed_poll_not_a_stopped_poller(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    """Before: aiohttp's text() raised UnicodeDecodeError, which no caller caught: the poller
    stopped ('poller stopped by an unexpected error') until the supervisor restarted it."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Continuation": "t"}
    sync_api.fail_next(200, b'{"items": [{"change_type": "changed\xff"}]}', headers)
    failed = await poller.cycle()
    assert failed.error is not None and "not valid UTF-8" in failed.error
    assert failed.reason == "bad_answer"
    assert (await poller.cycle()).jobs == 1  # the same page, asked again, is read


@pytest.mark.parametrize(
    "body",
    [b"", {}, {"message": "Service temporarily unavailable"}, [], b"<html>OK</html>"],
    ids=["empty", "empty-object", "other-object", "list", "html"],
)
async def test_a_2xx_that_is_no_sync_answer_keeps_the_token_where_it_was(
    make_poller: MakePoller, sync_api: FakeSync, body: Any
) -> None:
    """Before: an empty body or a JSON object without the delta lists was an empty page, and its
    X-Continuation was saved: the change it stood in for was skipped for good."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    sync_api.fail_next(200, body, {"X-Continuation": position(sync_api, 1)})  # past "a"
    failed = await poller.cycle()
    assert failed.error is not None  # not an empty page: its token is not saved
    again = await poller.cycle()
    assert again.jobs == 1
    store = poller.runtime.store
    assert store is not None
    assert [job[0] for job in await jobs_of(store)] == ["a"]


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (404, "<html><body>404 Not Found</body></html>", "text/html"),
        (400, "<html>400 Request Header Or Cookie Too Large</html>", "text/html"),
        (404, b'{"error": "no route"}', "application/json"),
    ],
    ids=["proxy-404", "proxy-400", "json-404-not-kontent"],
)
async def test_a_400_or_404_that_is_not_kontent_ais_keeps_the_token(
    make_poller: MakePoller, sync_api: FakeSync, status: int, body: Any, content_type: str
) -> None:
    """Before: any 400/404 to a token dropped it and started a new synchronisation, so a
    proxy's or CDN's error page lost every change since the last poll. Only Kontent.ai's error
    object says the token is unknown."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    sync_api.fail_next(status, body, {"Content-Type": content_type})
    failed = await poller.cycle()
    assert failed.error is not None
    assert (await poller.cycle()).jobs == 1  # the token was kept: a is delivered
    assert sync_api.inits == 1
    assert "not a Kontent.ai error object" in failed.error and failed.reason == "refused"


async def test_kontent_ais_own_rejection_of_the_token_still_starts_anew(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    poller = await make_poller()
    await poller.cycle()
    sync_api.fail_next(400, error_body("Invalid continuation token", 100))
    failed = await poller.cycle()
    assert failed.error is not None and "rejected the continuation token" in failed.error
    assert (await poller.cycle()).initialised and sync_api.inits == 2


async def test_a_delta_kind_the_api_adds_later_passes_through_and_paging_goes_on(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    """Before: a list other than the four was dropped, and a page holding only such deltas was
    taken for the empty page that ends a cycle."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    asset = {
        "change_type": "changed",
        "timestamp": "2026-01-08T13:55:00.1234567Z",
        "data": {"system": {"id": "asset-1", "name": "Logo", "codename": "logo"}},
    }
    body = {"items": [], "types": [], "languages": [], "taxonomies": [], "assets": [asset]}
    # A new token for the position before "a" (the one asked with would be a repeat).
    sync_api.fail_next(200, body, {"X-Continuation": position(sync_api, 0) + "~assets"})
    result = await poller.cycle()
    # The scripted page, then a's page, then the empty one.
    assert (result.pages, result.deltas, result.accepted, result.jobs) == (3, 2, 2, 1)
    store = poller.runtime.store
    assert store is not None
    stored = {row.raw["message"]["object_type"]: row.raw for row in await store.notifications()}
    assert set(stored) == {"assets", "content_item"}
    assert stored["assets"]["message"]["action"] == "changed"
    assert stored["assets"]["data"]["system"]["codename"] == "logo"


async def test_other_members_of_an_answer_are_no_deltas(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    poller = await make_poller()
    await poller.cycle()
    body = {"items": [], "types": [], "languages": [], "taxonomies": [], "warnings": ["slow"]}
    sync_api.fail_next(200, body | {"pagination": {"skip": 0}}, {"X-Continuation": "x"})
    result = await poller.cycle()
    assert result.error is None and (result.pages, result.deltas) == (1, 0)


async def test_a_huge_answer_is_refused_after_a_bounded_read() -> None:
    async with (
        client_session() as http,
        HugeAnswer(64 << 20, content_type="application/json", prefix=b'{"items": [') as api,
    ):
        client = SyncClient(http, SystemClock(), environment_id=ENV, base_url=api.url, api_key="k")
        with pytest.raises(SyncError, match=f"{SDK_MAX_RESPONSE_BYTES} bytes"):
            await client.sync("t")
    assert api.sent_bytes < 3 * SDK_MAX_RESPONSE_BYTES


def test_the_fake_speaks_the_sdk_fixture_shapes() -> None:
    """The delta the fake records has the fields of the SDKs' v2 fixtures (Kontent.Ai.Sync,
    delivery-sdk-net sync_v2.json): change_type, timestamp, data.system with last_modified."""
    fake = FakeSync()
    fake.change(ENV, item_system("a"))
    ((kind, delta),) = fake.logs[(ENV, "published")].changes
    assert kind == "items" and set(delta) == {"change_type", "timestamp", "data"}
    assert {"id", "codename", "language", "type", "collection", "last_modified"} <= set(
        delta["data"]["system"]
    )


async def test_pages_of_hundreds_of_deltas_are_followed_to_the_empty_one(
    make_poller: MakePoller,
) -> None:
    """Kontent.ai pages at 100 deltas of a kind (Kontent.Ai.Sync's MaxItemsPerEntityType):
    250 changes are three full-size pages and the empty one, each delta one notification."""
    async with FakeSync(page_size=100) as api:
        text = rules(api.base_url())
        poller = await make_poller(config=parse_config(text, env={}))
        await poller.cycle()
        for n in range(250):
            publish(api, f"item-{n:03d}")
        result = await poller.cycle()
    assert (result.pages, result.deltas, result.accepted, result.jobs) == (4, 250, 250, 250)
    store = poller.runtime.store
    assert store is not None
    assert [job[0] for job in await jobs_of(store)] == [f"item-{n:03d}" for n in range(250)]
