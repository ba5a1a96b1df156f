"""PostgreSQL unavailable while a worker records what its calls did (a restart of the server,
a failover): the outcome is recorded once the database is back, while the lease lasts.

The outage is real: the test's database stops taking connections and every session on it is
terminated, as a restart does, for a second and a half; the rest of the server is untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from bridge.actions.base import Call, Resources, Success
from bridge.config import DeliverySettings
from bridge.delivery.clock import ManualClock
from bridge.delivery.opening import open_store
from bridge.delivery.workers import WorkerPool
from tests.delivery.conftest import FakeRuntime, RecordingAction, make_config
from tests.stores.conftest import postgres_dsn
from tests.stores.values import accept

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]

OUTAGE_S = 1.5


async def outage(name: str, over: asyncio.Event) -> None:
    """No connection to database `name` for OUTAGE_S; the open ones are cut."""
    admin = await asyncpg.connect(postgres_dsn())
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            name,
        )
        await asyncio.sleep(OUTAGE_S)
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        over.set()
    finally:
        await admin.close()


async def test_a_success_recorded_during_a_database_outage_is_recorded_when_it_is_back(
    fresh_postgres: Callable[..., str],
) -> None:
    """A fifo action's first call succeeds while the database goes away. Its record failed
    and was given up at once: the job stayed running until its lease expired (125 s with the
    default 60 s timeout), holding the action's later jobs, and was then called again. Now
    it is recorded once the database is back, and the queue goes on: three calls, once each.
    The run calls nothing more while a success waits for the database (item 3 waits; item 2
    was in flight when item 1's record met the outage): had the outage outlasted the lease,
    every call made meanwhile would have been made again."""
    url = fresh_postgres()
    clock = ManualClock()  # leases never run out by themselves: only the outage can fail it
    store = open_store(url, clock)
    await store.open()
    config = make_config({"a": DeliverySettings()})
    runtime = FakeRuntime(store, config)
    action = RecordingAction("a", Resources(http=None))  # type: ignore[arg-type]
    runtime.instances["a"] = action
    pool = WorkerPool(runtime, worker_id="w1", poll_s=0.05, grace_s=1.0)
    down: list[asyncio.Task[None]] = []
    over = asyncio.Event()
    third_after_outage: list[bool] = []

    async def first(call: Call[Any]) -> Success:
        down.append(asyncio.create_task(outage(url.rsplit("/", 1)[1], over)))
        await asyncio.sleep(0.2)  # the sessions are cut: the record meets the outage
        return Success(status=200)

    async def second(call: Call[Any]) -> Success:
        await asyncio.sleep(0.3)  # item 1's record (10 ms after its success) fails meanwhile
        return Success(status=200)

    async def third(call: Call[Any]) -> Success:
        third_after_outage.append(over.is_set())
        return Success(status=200)

    action.script = [first, second, third]
    try:
        await accept(store, [1, 2, 3])
        await pool.dispatch_once()
        await asyncio.wait_for(pool.drain(), timeout=30)
        await asyncio.gather(*down)
        for _ in range(3):  # whatever was given back after the first run
            await pool.dispatch_once()
            await pool.drain()
        rows = await store.deliveries()
    finally:
        await pool.stop(grace_s=0)
        await store.close()

    names = [call.events[0].name for _, call in action.calls]
    assert names == ["Item 1", "Item 2", "Item 3"]
    assert third_after_outage == [True]
    assert sorted((r.job_id, r.state, r.attempts) for r in rows) == [
        (1, "succeeded", 1),
        (2, "succeeded", 1),
        (3, "succeeded", 1),
    ]
