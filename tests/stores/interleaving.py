"""Two store operations interleaved at a chosen point, the same way on SQLite and PostgreSQL.

`hold_commits(store)` makes the store's next write stop after its last statement, before its
COMMIT, until the test lets it go: another store (another replica, or another process on the
SQLite file) then runs against a transaction that has done everything but commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bridge.delivery.connectors import Tx
from bridge.delivery.connectors.postgres import PostgresConnector
from bridge.delivery.store import Store

WAIT_S = 10.0


class Held:
    """A write stopped before its COMMIT: `reached` once it got there, `release()` to go on."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._release = asyncio.Event()

    def release(self) -> None:
        self._release.set()

    async def wait(self) -> None:
        self.reached.set()
        await self._release.wait()


def hold_commits(store: Store, monkeypatch: pytest.MonkeyPatch) -> Held:
    """Hold `store`'s writes before their COMMIT until `release()` (each write, once released,
    goes straight on)."""
    held = Held()
    write = store.connector.write

    async def held_write(op: Callable[[Tx], Awaitable[Any]]) -> Any:
        async def then_wait(tx: Tx) -> Any:
            value = await op(tx)
            await held.wait()
            return value

        return await write(then_wait)

    monkeypatch.setattr(store.connector, "write", held_write)
    return held


async def until_waiting_for_a_lock(store: Store, task: asyncio.Task[Any]) -> bool:
    """PostgreSQL: wait until a statement of the store's database waits for a row lock (True)
    or `task` ended without one (False). SQLite has one writer: a second write always waits for
    the first one's COMMIT, so there is nothing to wait for here (True)."""
    connector = store.connector
    if not isinstance(connector, PostgresConnector):
        return True
    conn = await asyncpg.connect(connector.url)
    try:
        async with asyncio.timeout(WAIT_S):
            while not task.done():
                waiting = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if waiting:
                    return True
                await asyncio.sleep(0.01)  # no event to await: the server is asked again
    finally:
        await conn.close()
    return False
