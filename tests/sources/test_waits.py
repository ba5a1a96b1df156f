"""What a running poller (`run()`) does while it waits: on a request that hangs, on a 429's
Retry-After, on a 5xx's Retry-After, and when the bridge stops in the middle of any of them.
The poller and the stores share a ManualClock (`clock`), moved by the tests; the Sync API is
the fake one, whose `stall()` holds sync requests unanswered."""

from __future__ import annotations

import asyncio

import pytest

from bridge.delivery.clock import SystemClock
from tests.fakes.sync import FakeSync, error_body
from tests.sources.polling import (
    MakePoller,
    SignallingClock,
    noting_claims,
    noting_cycles,
    publish,
)
from tests.stores.conftest import MakeStore

pytestmark = pytest.mark.timeout(60)

PROMPTLY_S = 5.0  # a stopped poller ends within this (the request timeout is 60 s)


async def test_a_stop_mid_request_ends_the_poller_at_once_and_frees_the_lease(
    make_poller: MakePoller, sync_api: FakeSync, make_store: MakeStore
) -> None:
    """Before: the stop was seen only between cycles, so a shutdown waited for the request's
    60 s timeout (and a container runtime killed the process first, lease still held)."""
    store, other = await make_store(), await make_store()
    poller = await make_poller(store=store, clock=SystemClock())
    await poller.cycle()
    sync_api.stall()
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    try:
        await sync_api.wait_until(lambda: sync_api.stalled == 1)
        stop.set()
        await asyncio.wait_for(running, PROMPTLY_S)
    finally:
        sync_api.release()
    assert await other.claim_source("prod", owner="next", lease_s=30) is not None


async def test_a_stop_during_a_429_wait_ends_the_poller_at_once(
    make_poller: MakePoller, sync_api: FakeSync, make_store: MakeStore, clock: SignallingClock
) -> None:
    """Before: the Retry-After wait (up to 60 s, twenty times in a row) ignored the stop."""
    poller = await make_poller(store=await make_store(), clock=clock)
    await poller.cycle()
    sync_api.fail_next(429, error_body("Too many requests", 10000), {"Retry-After": "60"})
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    await sync_api.wait_for(len(sync_api.requests) + 1)  # the 429
    await clock.someone_sleeps()  # its Retry-After (and the cycle's lease renewal)
    stop.set()
    await asyncio.wait_for(running, PROMPTLY_S)  # the clock never moved: no wait ran out
    assert sync_api.syncs == 1  # the page was not asked again


async def test_the_lease_is_renewed_while_a_request_hangs(
    make_poller: MakePoller,
    sync_api: FakeSync,
    make_store: MakeStore,
    clock: SignallingClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request may take 60 s, longer than the 30 s lease. Before: the lease was renewed only
    per page and between cycles, so it lapsed under a slow request and another replica polled
    the same token at the same time; the slower one's stale page then repeated jobs already run
    for newer versions (a redelivery is only a repeat of an object's latest notification)."""
    holder_store, other_store = await make_store(), await make_store()
    poller = await make_poller(store=holder_store, clock=clock)
    await poller.cycle()
    claimed = noting_claims(holder_store, monkeypatch)
    sync_api.stall()
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    try:
        await sync_api.wait_until(lambda: sync_api.stalled == 1)
        for _ in range(6):  # a minute, the request unanswered
            await asyncio.wait_for(clock.someone_sleeps(), PROMPTLY_S)
            claimed.clear()
            clock.advance(10)
            await asyncio.wait_for(claimed.wait(), PROMPTLY_S)
            assert await other_store.claim_source("prod", owner="other", lease_s=30) is None
    finally:
        stop.set()
        sync_api.release()
        await running
    assert await other_store.claim_source("prod", owner="other", lease_s=30) is not None


async def test_a_5xx_retry_after_is_waited_before_the_next_poll(
    make_poller: MakePoller,
    sync_api: FakeSync,
    make_store: MakeStore,
    clock: SignallingClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: a 503 with Retry-After: 120 was asked again after the 1 s backoff (then 2, 4 ...),
    against what the API asked for."""
    store = await make_store()
    poller = await make_poller(store=store, clock=clock)
    await poller.cycle()
    publish(sync_api, "a")
    headers = {"Retry-After": "120"}
    sync_api.fail_next(503, error_body("Service Unavailable", 0), headers)
    claimed = noting_claims(store, monkeypatch)
    cycled = noting_cycles(poller, monkeypatch)
    stop = asyncio.Event()
    running = asyncio.create_task(poller.run(stop))
    try:
        await cycled.wait()  # the one that met the 503
        for _ in range(12):
            await clock.someone_sleeps()
            assert sync_api.syncs == 1  # only the warm-up's: nothing asked after the 503
            claimed.clear()
            clock.advance(10)
            await claimed.wait()
        await sync_api.wait_until(lambda: sync_api.syncs >= 2)  # 120 s on: a's page
    finally:
        stop.set()
        await running
