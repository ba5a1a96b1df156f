"""FIFO at the speed of the target: one claim takes several head jobs, called one after the
other; a failure gives the rest back unattempted; a dead worker's jobs come back in order under
the same delivery ids."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bridge.actions.base import Call, Success
from bridge.config import DeliverySettings
from bridge.delivery import fifo
from bridge.delivery.clock import ManualClock
from bridge.delivery.connectors.sqlite import SqliteConnector
from bridge.delivery.model import ClaimPolicy, Outcome
from bridge.delivery.store import Store
from bridge.delivery.workers import FIFO_PREFETCH, WorkerPool, claim_policy
from tests.delivery.conftest import FakeRuntime, run_due
from tests.stores.values import accept

MakePool = Callable[..., tuple[WorkerPool, FakeRuntime]]
PREFETCH = ClaimPolicy(prefetch=8)


def names(runtime: FakeRuntime) -> list[str | None]:
    return [call.items[0].event.name for _, call in runtime.instances["a"].calls]


async def test_one_fifo_claim_takes_the_head_jobs_in_order_and_blocks_other_claims(
    store: Store,
) -> None:
    await accept(store, range(1, 11))
    claim = await store.claim("a", PREFETCH, worker_id="w1")
    assert [b.job_ids for b in claim.batches] == [(n,) for n in range(1, 9)]
    assert [b.delivery_id for b in claim.batches] == [f"kb-{n}" for n in range(1, 9)]
    # While they are held (one call at a time), nobody else claims the action.
    assert (await store.claim("a", PREFETCH, worker_id="w2")).batches == ()


async def test_the_workers_claim_fifo_jobs_many_at_a_time(
    store: Store, make_pool: MakePool
) -> None:
    assert claim_policy(DeliverySettings()).prefetch == FIFO_PREFETCH > 1
    pool, runtime = make_pool({"a": DeliverySettings()})
    await accept(store, range(1, 21))
    claims = 0
    claim = store.claim

    async def counted(*args: object, **kwargs: object) -> object:
        nonlocal claims
        claims += 1
        return await claim(*args, **kwargs)  # type: ignore[arg-type]

    store.claim = counted  # type: ignore[method-assign]
    await run_due(pool)
    assert names(runtime) == [f"Item {n}" for n in range(1, 21)]
    assert claims == 1
    assert all(row.state == "succeeded" for row in await store.deliveries())


async def test_a_failure_in_a_fifo_claim_gives_the_later_jobs_back_unattempted(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    runtime.instances["a"].script = [None, RuntimeError("down")]  # type: ignore[list-item]
    await accept(store, [1, 2, 3, 4])

    await run_due(pool)
    assert names(runtime) == ["Item 1", "Item 2"]
    states = {row.job_id: (row.state, row.attempts) for row in await store.deliveries()}
    assert states == {
        1: ("succeeded", 1),
        2: ("retrying", 1),
        3: ("pending", 0),
        4: ("pending", 0),
    }
    await run_due(pool)  # job 2 is not due yet: nothing passes it
    assert names(runtime) == ["Item 1", "Item 2"]

    clock.advance(61)
    await run_due(pool)
    assert names(runtime) == ["Item 1", "Item 2", "Item 2", "Item 3", "Item 4"]


async def test_after_a_worker_dies_its_claimed_jobs_repeat_in_order_with_the_same_ids(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1, 2, 3, 4, 5])
    dead = await store.claim("a", PREFETCH, worker_id="dead")
    first = dead.batches[0]
    await store.record(first, Outcome("succeeded", clock.now(), clock.now()))
    # Job 2 was called, its outcome never recorded: the worker was killed.

    clock.advance(PREFETCH.lease_s + 1)
    again = await store.claim("a", PREFETCH, worker_id="alive")
    assert [b.job_ids for b in again.batches] == [(2,), (3,), (4,), (5,)]
    assert [b.delivery_id for b in again.batches] == [b.delivery_id for b in dead.batches[1:]]


async def test_a_fifo_sequence_commits_its_successes_in_groups(
    store: Store, make_pool: MakePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fifo, "FIFO_RECORD_AFTER_S", 3600.0)  # only the count flushes
    pool, runtime = make_pool({"a": DeliverySettings()})

    async def answer_later(_call: Call[Any]) -> Success:  # the loop runs between calls
        await asyncio.sleep(0.001)
        return Success(status=200)

    runtime.instances["a"].script = [answer_later] * 40
    await accept(store, range(1, 41))
    assert isinstance(store.connector, SqliteConnector)
    before = store.connector.db.commits
    await run_due(pool)
    assert names(runtime) == [f"Item {n}" for n in range(1, 41)]
    assert all(row.state == "succeeded" for row in await store.deliveries(limit=100))
    # Two claims (the second finds nothing), 32 successes in one commit, the last 8 in
    # another: not one commit per call.
    assert fifo.FIFO_RECORD_EVERY == 32
    assert store.connector.db.commits - before <= 4
