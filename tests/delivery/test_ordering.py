"""Ordering: fifo per action with a failing head holding back the rest; `ordering: none`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from bridge.actions.base import Call, Success
from bridge.config import DeliverySettings
from bridge.delivery.clock import ManualClock
from bridge.delivery.connectors import Tx
from bridge.delivery.connectors import sqlite as sqlite_connector
from bridge.delivery.fifo import FIFO_ENABLED_RECHECK_S
from bridge.delivery.model import Batch, Episode, Outcome
from bridge.delivery.store import Store, StoreUnavailable
from bridge.delivery.workers import WorkerPool
from tests.delivery.conftest import FakeRuntime, make_config, run_due
from tests.stores.values import accept

MakePool = Callable[..., tuple[WorkerPool, FakeRuntime]]


class Held:
    """A call that waits for `release`; `started` once it is in flight."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, call: Call[Any]) -> Success:
        self.started.set()
        await self.release.wait()
        return Success(status=200)


async def succeed(call: Call[Any]) -> Success:
    return Success(status=200)


def names(runtime: FakeRuntime, action: str = "a") -> list[str | None]:
    return [call.items[0].event.name for _, call in runtime.instances[action].calls]


async def test_a_failing_head_job_holds_back_later_jobs_of_its_action_only(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings(), "b": DeliverySettings()})
    runtime.instances["a"].script = [RuntimeError("down"), RuntimeError("down")]
    await accept(store, [1, 2, 3], actions=("a", "b"))

    for _ in range(3):
        await run_due(pool)
    assert names(runtime) == ["Item 1"]
    assert names(runtime, "b") == ["Item 1", "Item 2", "Item 3"]

    clock.advance(60)
    await run_due(pool)
    clock.advance(120)
    for _ in range(4):
        await run_due(pool)

    assert names(runtime) == ["Item 1", "Item 1", "Item 1", "Item 2", "Item 3"]


async def test_fifo_runs_one_call_at_a_time_even_with_concurrency(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings(concurrency=4)})
    release = asyncio.Event()

    async def held(call: Call[Any]) -> Success:
        await release.wait()
        return Success(status=200)

    runtime.instances["a"].script = [held]
    await accept(store, [1, 2])

    await pool.dispatch_once()
    await pool.dispatch_once()
    assert len(pool.in_flight()) == 1
    release.set()
    await pool.drain()
    await run_due(pool)
    assert names(runtime) == ["Item 1", "Item 2"]


async def test_ordering_none_runs_later_jobs_past_a_failing_one(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings(ordering="none", concurrency=3)})
    runtime.instances["a"].script = [RuntimeError("down")]
    await accept(store, [1, 2, 3, 4, 5])

    await run_due(pool)
    await run_due(pool)

    assert names(runtime) == ["Item 1", "Item 2", "Item 3", "Item 4", "Item 5"]
    job = await store.job(1)
    assert job is not None and job.state == "retrying"


async def test_ordering_none_bounds_calls_in_flight_by_concurrency(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings(ordering="none", concurrency=3)})
    release = asyncio.Event()

    async def held(call: Call[Any]) -> Success:
        await release.wait()
        return Success(status=200)

    runtime.instances["a"].script = [held] * 5
    await accept(store, [1, 2, 3, 4, 5])

    await pool.dispatch_once()
    await pool.dispatch_once()
    await runtime.instances["a"].wait_calls(3)
    assert len(pool.in_flight()) == 3
    release.set()
    await pool.drain()
    await run_due(pool)
    assert len(runtime.instances["a"].calls) == 5


async def test_disable_parks_jobs_and_enable_resumes_them_in_order(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    await accept(store, [1])
    await store.set_enabled("a", False)
    await accept(store, [2, 3])  # new jobs for a disabled action are parked too

    await run_due(pool)
    states = {s.name: s for s in await store.action_states()}
    assert runtime.instances["a"].calls == []
    assert (states["a"].enabled, states["a"].pending) == (False, 3)

    await store.set_enabled("a", True)
    for _ in range(3):
        await run_due(pool)

    assert names(runtime) == ["Item 1", "Item 2", "Item 3"]


async def test_an_action_disabled_in_the_config_is_not_delivered(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings(enabled=False)})
    await accept(store, [1])
    await run_due(pool)
    assert runtime.instances["a"].calls == []
    assert (await store.deliveries())[0].state == "pending"


async def test_disable_during_a_fifo_sequence_stops_it_after_the_call_in_flight(
    store: Store, make_pool: MakePool
) -> None:
    """A fifo claim takes up to 64 jobs and calls them one after the other: a disable (the
    dashboard's, the CLI's or a reload's) must hold the ones not called yet, not only the
    next claim."""
    pool, runtime = make_pool({"a": DeliverySettings()})
    held = Held()

    runtime.instances["a"].script = [held]
    await accept(store, [1, 2, 3, 4, 5])

    await pool.dispatch_once()
    await held.started.wait()
    await store.set_enabled("a", False)
    held.release.set()
    await pool.drain()
    await run_due(pool)

    assert names(runtime) == ["Item 1"]
    states = {s.name: s for s in await store.action_states()}
    assert (states["a"].enabled, states["a"].pending) == (False, 4)

    await store.set_enabled("a", True)
    for _ in range(3):
        await run_due(pool)
    assert names(runtime) == ["Item 1", "Item 2", "Item 3", "Item 4", "Item 5"]


async def test_a_disable_from_another_process_stops_a_fifo_sequence_at_its_next_re_read(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    """`bridge disable` in another process writes only the database: the sequence reads the
    flag again every FIFO_ENABLED_RECHECK_S."""
    pool, runtime = make_pool({"a": DeliverySettings()})
    held = Held()

    runtime.instances["a"].script = [succeed, held]
    await accept(store, [1, 2, 3, 4])

    async def disable_elsewhere(tx: Tx) -> int:
        return await tx.execute("set_enabled", action="a", enabled=False)

    await pool.dispatch_once()
    await held.started.wait()  # the second call, in flight
    await store.connector.write(disable_elsewhere)
    clock.advance(FIFO_ENABLED_RECHECK_S)
    held.release.set()
    await pool.drain()

    assert names(runtime) == ["Item 1", "Item 2"]
    assert not await store.is_enabled("a")


async def test_a_reload_during_a_fifo_sequence_applies_to_its_next_call(
    store: Store, make_pool: MakePool
) -> None:
    """A fifo claim of up to 64 jobs is called one after the other, minutes with a slow
    target: a reload that changes the action (its options, URL, type) must reach the calls
    not made yet, as docs/delivery.md promises ("the action's current options")."""
    pool, runtime = make_pool({"a": DeliverySettings()}, options={"a": {"tag": "old"}})
    held = Held()

    runtime.instances["a"].script = [held]
    await accept(store, [1, 2, 3])

    await pool.dispatch_once()
    await held.started.wait()
    runtime.config = make_config({"a": DeliverySettings()}, options={"a": {"tag": "new"}})
    held.release.set()
    for _ in range(3):
        await run_due(pool)

    calls = [(c.items[0].event.name, c.options.tag) for _, c in runtime.instances["a"].calls]
    assert calls == [("Item 1", "old"), ("Item 2", "new"), ("Item 3", "new")]
    assert {r.state for r in await store.deliveries()} == {"succeeded"}


async def test_a_timeout_raised_by_a_reload_past_the_lease_is_called_under_a_new_lease(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    """The lease was taken for the old timeout (2 x 60 s + 5 s): a call under the new one
    (600 s) could outlive it, and another worker would take the job over mid-call."""
    pool, runtime = make_pool({"a": DeliverySettings(timeout_s=60)})
    held = Held()
    leases: list[float] = []

    async def lease_left(call: Call[Any]) -> Success:
        (batch,) = pool.in_flight()
        leases.append(batch.lease_until - clock.now())
        return Success(status=200)

    runtime.instances["a"].script = [held, lease_left, lease_left]
    await accept(store, [1, 2, 3])

    await pool.dispatch_once()
    await held.started.wait()
    runtime.config = make_config({"a": DeliverySettings(timeout_s=600)})
    held.release.set()
    for _ in range(3):
        await run_due(pool)

    assert names(runtime) == ["Item 1", "Item 2", "Item 3"]
    assert leases and min(leases) > 600


async def test_a_fifo_run_stops_at_a_success_it_could_not_record(
    store: Store, clock: ManualClock, make_pool: MakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the SQLite write lock past the busy timeout while item 1's
    success is being recorded, and item 1's lease runs out before the store is writable again
    (until then the record is tried again: test_store_outage.py): item 1 stays running until
    its lease expires and is called again. Had the run gone on, recording 2 and 3, item 1
    would reach the target after them (older content over newer). Nothing after it is
    recorded instead, the run stops, and the jobs come back in order."""
    monkeypatch.setattr(sqlite_connector, "BUSY_TIMEOUT_MS", 50)
    pool, runtime = make_pool({"a": DeliverySettings()})
    first_held, first_go, second_go = asyncio.Event(), asyncio.Event(), asyncio.Event()
    unrecorded: list[int] = []

    async def first(call: Call[Any]) -> Success:
        first_held.set()
        await first_go.wait()
        return Success(status=200)

    async def second(call: Call[Any]) -> Success:
        await second_go.wait()
        return Success(status=200)

    runtime.instances["a"].script = [first, second]
    await accept(store, [1, 2, 3])
    connector = store.connector
    assert isinstance(connector, sqlite_connector.SqliteConnector)
    other = sqlite3.connect(connector.path, isolation_level=None)

    real_record = store.record

    async def record(batch: Batch, outcome: Outcome) -> Episode:
        try:
            return await real_record(batch, outcome)
        except StoreUnavailable:
            unrecorded.append(batch.job_ids[0])
            clock.advance(2 * 60 + 5)  # the leases expire: the record is not tried again
            second_go.set()  # item 2's call ends once item 1's record has failed
            raise

    monkeypatch.setattr(store, "record", record)
    await pool.dispatch_once()
    await first_held.wait()
    other.execute("BEGIN IMMEDIATE")  # another process writing, longer than the busy timeout
    first_go.set()
    await second_go.wait()
    other.execute("COMMIT")
    other.close()
    await pool.drain()
    assert unrecorded == [1]

    for _ in range(3):
        await run_due(pool)
    # Item 3 may have been called before the failure was known; then it is not recorded
    # either. Either way the target's last calls are 1, 2, 3, in order.
    called = names(runtime)
    assert called[-3:] == ["Item 1", "Item 2", "Item 3"]
    assert called[:2] == ["Item 1", "Item 2"] and called.count("Item 3") <= 2
    assert {r.state for r in await store.deliveries()} == {"succeeded"}


async def test_a_fifo_head_waiting_for_its_retry_is_not_claimed_at_every_wake_up(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    """Every finished call wakes the dispatcher; a fifo action whose head waits for its retry
    was claimed each time, taking the order lock every accept for it waits behind (PostgreSQL,
    bench/soak.py). It is claimed again at its head's due time, after `poll_s`, or at once after
    a retry through the store."""
    pool, runtime = make_pool({"down": DeliverySettings(), "busy": DeliverySettings()})
    runtime.instances["down"].script = [RuntimeError("target down")] * 10
    await accept(store, [1, 2], actions=("down",))
    await run_due(pool)  # down's head fails: retrying, due later
    claimed: list[str] = []
    claim = store.claim

    async def counting(action: str, *args: Any, **kwargs: Any) -> Any:
        claimed.append(action)
        return await claim(action, *args, **kwargs)

    store.claim = counting  # type: ignore[method-assign]
    for n in range(10, 15):  # five wake-ups while down's head waits
        await accept(store, [n], actions=("busy",))
        await run_due(pool)
    assert claimed.count("down") == 1  # the first round learns the due time; then it waits
    clock.advance(pool.poll_s)
    await run_due(pool)
    assert claimed.count("down") == 2  # after poll_s: another process may have asked a retry
    assert await store.retry_job(1)
    await run_due(pool)
    assert claimed.count("down") == 3
    assert len(runtime.instances["down"].calls) == 2  # the retry ran at once
