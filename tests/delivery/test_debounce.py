"""Debounce and max_wait: a burst becomes one call carrying every coalesced event."""

from __future__ import annotations

from collections.abc import Callable

from bridge.config import DeliverySettings
from bridge.delivery.clock import ManualClock
from bridge.delivery.store import Store
from bridge.delivery.workers import WorkerPool
from tests.delivery.conftest import FakeRuntime, run_due
from tests.stores.values import accept

MakePool = Callable[..., tuple[WorkerPool, FakeRuntime]]


async def test_a_burst_of_1000_becomes_one_call_with_all_1000_events(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool(
        {"hook": DeliverySettings(debounce_s=60, max_wait_s=600)},
        options={"hook": {"text": "{{ events | length }} changes, last {{ event.name }}"}},
    )
    for start in range(0, 1000, 100):
        await accept(store, range(start, start + 100), actions=("hook",))
        clock.advance(1)
        await run_due(pool)  # the window is still open: nothing is sent
    assert runtime.instances["hook"].calls == []

    clock.advance(59)
    await run_due(pool)
    await run_due(pool)

    ((_, call),) = runtime.instances["hook"].calls
    assert len(call.items) == 1000
    assert [item.event.name for item in call.items][:2] == ["Item 0", "Item 1"]
    assert call.options.text == "1000 changes, last Item 999"
    assert call.items[7].options.text == "1 changes, last Item 7"
    assert {r.state for r in await store.deliveries(limit=1000)} == {"succeeded"}


async def test_max_wait_closes_a_window_that_keeps_getting_new_jobs(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"hook": DeliverySettings(debounce_s=60, max_wait_s=120)})
    for n in range(6):  # a job every 30 s: debounce alone would never fire
        await accept(store, [n], actions=("hook",))
        await run_due(pool)
        clock.advance(30)
    clock.advance(60)
    await run_due(pool)

    batches = [[i.event.name for i in call.items] for _, call in runtime.instances["hook"].calls]
    assert batches == [
        ["Item 0", "Item 1", "Item 2", "Item 3", "Item 4"],  # closed by max_wait at 120 s
        ["Item 5"],  # the next window, closed by debounce
    ]


async def test_jobs_with_different_inputs_are_coalesced_separately(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool(
        {"hook": DeliverySettings(debounce_s=10, ordering="none", concurrency=2)}
    )
    await accept(store, [1, 2], actions=("hook",), inputs={"tag": "site-a"})
    await accept(store, [3], actions=("hook",), inputs={"tag": "site-b"})
    await accept(store, [4], actions=("hook",), inputs={"tag": "site-a"})

    clock.advance(10)
    await run_due(pool)

    calls = {call.options.tag: len(call.items) for _, call in runtime.instances["hook"].calls}
    assert calls == {"site-a": 3, "site-b": 1}


async def test_a_failed_batch_is_retried_as_one_unit_with_the_same_delivery_id(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"hook": DeliverySettings(debounce_s=10)})
    runtime.instances["hook"].script = [RuntimeError("502 from the build service")]
    await accept(store, [1, 2, 3], actions=("hook",))
    clock.advance(10)
    await run_due(pool)
    await accept(store, [4], actions=("hook",))  # arrives while the batch waits for its retry

    clock.advance(60)
    await run_due(pool)
    clock.advance(10)
    await run_due(pool)

    calls = [(c.delivery_id, len(c.items)) for _, c in runtime.instances["hook"].calls]
    assert calls == [("kb-1", 3), ("kb-1", 3), ("kb-4", 1)]
