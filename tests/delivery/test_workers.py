"""The running worker loop: woken by new jobs and by the clock, and stopping gracefully."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.actions.base import Call, Resources, Success
from bridge.config import DeliverySettings
from bridge.delivery.clock import ManualClock
from bridge.delivery.connectors.sqlite import SqliteConnector
from bridge.delivery.model import ClaimPolicy
from bridge.delivery.store import Store
from bridge.delivery.workers import WorkerPool, claim_policy
from tests.delivery.conftest import FakeRuntime, RecordingAction, make_config
from tests.stores.values import accept

MakePool = Callable[..., tuple[WorkerPool, FakeRuntime]]


async def test_a_started_pool_delivers_new_jobs_and_retries_when_the_clock_says(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    action = runtime.instances["a"]
    action.script = [RuntimeError("down")]
    await pool.start()

    await accept(store, [1, 2])
    await action.wait_calls(1)
    await pool.drain()
    clock.advance(60)
    await action.wait_calls(3)
    await pool.drain()

    assert [call.items[0].event.name for _, call in action.calls] == ["Item 1", "Item 1", "Item 2"]
    await pool.stop()


async def test_stop_finishes_quick_calls_and_releases_slow_ones_unattempted(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"fast": DeliverySettings(), "slow": DeliverySettings()})
    finish_fast = asyncio.Event()

    async def fast(call: Call[Any]) -> Success:
        await finish_fast.wait()
        return Success(status=200)

    async def slow(call: Call[Any]) -> Success:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    runtime.instances["fast"].script = [fast]
    runtime.instances["slow"].script = [slow]
    await accept(store, [1], actions=("fast", "slow"))
    await pool.start()
    await runtime.instances["fast"].wait_calls(1)
    await runtime.instances["slow"].wait_calls(1)

    stopping = asyncio.create_task(pool.stop(grace_s=0.2))
    finish_fast.set()
    await stopping

    rows = {r.action: r for r in await store.deliveries()}
    assert (rows["fast"].state, rows["fast"].attempts) == ("succeeded", 1)
    assert (rows["slow"].state, rows["slow"].attempts) == ("pending", 0)


async def test_a_second_worker_picks_up_the_jobs_of_one_that_died(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    settings = {"a": DeliverySettings(timeout_s=30)}
    dead, _ = make_pool(settings, worker_id="dead")
    alive, runtime = make_pool(settings, worker_id="alive")
    await accept(store, [1])
    claimed = await store.claim("a", _policy(dead), worker_id="dead")  # then it "crashes"
    assert len(claimed.batches) == 1

    await alive.dispatch_once()
    assert runtime.instances["a"].calls == []
    clock.advance(claimed.batches[0].lease_until - clock.now())
    await alive.dispatch_once()
    await alive.drain()

    ((_, call),) = runtime.instances["a"].calls
    assert call.delivery_id == claimed.batches[0].delivery_id
    assert (await store.job(1)).state == "succeeded"  # type: ignore[union-attr]


def _policy(pool: WorkerPool) -> ClaimPolicy:
    return claim_policy(pool.runtime.config.actions["a"].delivery)


class PruneRecordingStore(Store):
    """The real store, telling the test when the pool's background pruning ran."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prunes: asyncio.Queue[tuple[float, int]] = asyncio.Queue()

    async def prune(self, *, before: float) -> int:
        pruned = await super().prune(before=before)
        self.prunes.put_nowait((before, pruned))
        return pruned


async def test_the_pool_prunes_old_deliveries_in_the_background(
    tmp_path: Path, clock: ManualClock
) -> None:
    store = PruneRecordingStore(
        SqliteConnector(str(tmp_path / "prune.db")), clock, retention_s=86400
    )
    async with store:
        runtime = FakeRuntime(store, make_config({"a": DeliverySettings()}))
        runtime.instances["a"] = RecordingAction("a", Resources(http=None))  # type: ignore[arg-type]
        pool = WorkerPool(runtime, worker_id="w", prune_every_s=3600)
        await accept(store, [1])
        await pool.dispatch_once()
        await pool.drain()
        clock.advance(2 * 86400)

        await pool.start()
        before, pruned = await store.prunes.get()
        assert (before, pruned) == (clock.now() - 86400, 2)  # the job and its notification
        clock.advance(3600)
        assert (await store.prunes.get())[1] == 0
        await pool.stop()
        assert await store.deliveries() == []


async def test_a_claim_that_fails_for_one_action_does_not_strand_the_others(
    store: Store, make_pool: MakePool
) -> None:
    """The claims of one round are issued together. A row of action 'b' that no longer reads
    (an event column that is not JSON: written by hand, by an older version) makes b's claim
    raise on every round; a's claim, committed in the same round, must still be called, not
    left running until its lease expires, and then claimed and left again, round after round."""
    pool, runtime = make_pool({"a": DeliverySettings(), "b": DeliverySettings()})
    await accept(store, [1, 2], actions=("a", "b"))
    connector = store.connector
    assert isinstance(connector, SqliteConnector)
    other = sqlite3.connect(connector.path, isolation_level=None)
    other.execute("UPDATE jobs SET event = '{not json' WHERE action = 'b' AND id < 3")
    other.close()

    for _ in range(2):
        await pool.dispatch_once()
        await pool.drain()

    assert [call.items[0].event.name for _, call in runtime.instances["a"].calls] == [
        "Item 1",
        "Item 2",
    ]
    states = {s.name: s for s in await store.action_states()}
    assert (states["a"].succeeded, states["b"].running) == (2, 0)
