"""A stored job row that no longer reads is dead with its reason; its action's queue moves on."""

from __future__ import annotations

import sqlite3

import asyncpg

from bridge.delivery.model import ClaimPolicy
from bridge.delivery.store import Store
from tests.stores.values import accept


async def test_a_job_whose_row_no_longer_reads_is_dead_and_the_queue_moves(
    store: Store, store_kind: str, store_url: str
) -> None:
    """A job row whose event column is not JSON (written by hand, by an older version) made
    every claim of its action raise: the fifo queue behind it never moved."""
    await accept(store, [1, 2, 3])
    corrupt = "UPDATE jobs SET event = '{not json' WHERE id = 1"
    if store_kind == "sqlite":
        other = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute(corrupt)
        other.close()
    else:
        conn = await asyncpg.connect(store_url)
        await conn.execute(corrupt)
        await conn.close()

    claim = await store.claim("a", ClaimPolicy(prefetch=64), worker_id="w1")

    assert [batch.job_ids for batch in claim.batches] == [(2,), (3,)]
    detail = await store.job(1)
    assert detail is not None
    assert detail.state == "dead"
    assert detail.last_error is not None
    assert detail.last_error.startswith("stored job cannot be read: JSONDecodeError")
