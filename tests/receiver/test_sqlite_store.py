"""The receiver on the real SQLite store: what a 200 promises is in the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bridge.app import create_app
from bridge.config import Config
from bridge.delivery.store import Store
from bridge.settings import Settings
from tests.receiver.conftest import SEED, URL, signed


@pytest.fixture
async def client(config: Config, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), config=config, store=sqlite_store, workers=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        yield client


async def test_accepted_notification_and_jobs_are_stored(
    client: httpx.AsyncClient, sqlite_store: Store, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}
    [row] = await sqlite_store.notifications()
    assert row.request_id == response.headers["X-Request-Id"]
    assert row.webhook == "production"
    [state] = await sqlite_store.action_states()
    assert (state.name, state.pending) == ("audit", 1)
    again = await client.post(URL, content=body, headers=signed(body))
    assert again.json() == {"accepted": 0, "duplicates": 1, "jobs": 0}


async def test_batch_of_1000_on_sqlite(
    client: httpx.AsyncClient, sqlite_store: Store, seed_batch: Callable[[int], bytes]
) -> None:
    body = seed_batch(1000)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.json() == {"accepted": 1000, "duplicates": 0, "jobs": 1000}
    [state] = await sqlite_store.action_states()
    assert state.pending == 1000
