"""What Kontent.ai reads in the answer when an object returns to an earlier state (issue 10).

Publish, unpublish, then a publish whose body is identical to the first: three changes, each
answered `duplicates: 0`; a retry of the latest is `duplicates: 1`. Real SQLite store.
"""

from __future__ import annotations

import json
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


def with_action(body: bytes, action: str) -> bytes:
    payload = json.loads(body)
    payload["notifications"][0]["message"]["action"] = action
    return json.dumps(payload).encode()


async def test_a_republish_is_answered_as_new_and_a_retry_as_a_duplicate(
    client: httpx.AsyncClient, sqlite_store: Store, payload_bytes: Callable[[str], bytes]
) -> None:
    publish = payload_bytes(SEED)
    unpublish = with_action(publish, "unpublished")
    new = {"accepted": 1, "duplicates": 0, "jobs": 1}
    duplicate = {"accepted": 0, "duplicates": 1, "jobs": 0}

    answers = []
    for body in (publish, publish, unpublish, unpublish, publish, publish):
        response = await client.post(URL, content=body, headers=signed(body))
        assert response.status_code == 200
        answers.append(response.json())

    assert answers == [new, duplicate, new, duplicate, new, duplicate]
    [state] = await sqlite_store.action_states()
    assert state.pending == 3
