"""The receiver on the real SQLite store: 200 only once committed, 503 when it cannot write."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from bridge.app import create_app
from bridge.config import parse_config
from bridge.delivery.store import Store
from bridge.receiver import health
from bridge.settings import Settings
from bridge.signatures import sign

RULES = """\
version: 1
webhooks:
  - {name: production, path: /webhooks/kontent, secrets: ["s3cret"]}
actions:
  audit: {type: log}
rules:
  - name: content
    when: {object_type: content_item}
    do: [audit]
"""


def signed(n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "notifications": [
                {
                    "data": {"system": {"id": f"id-{n}", "name": f"Item {n}"}},
                    "message": {"object_type": "content_item", "action": "published"},
                }
            ]
        }
    ).encode()
    return body, {
        "X-Kontent-ai-Signature": sign(body, "s3cret"),
        "Content-Type": "application/json",
    }


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(), config=parse_config(RULES), store=store, workers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            yield client


async def test_200_means_committed_503_means_try_again(
    client: httpx.AsyncClient, store: Store
) -> None:
    body, headers = signed(1)
    ok = await client.post("/webhooks/kontent", content=body, headers=headers)
    assert ok.status_code == 200
    assert ok.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}
    assert [row.rule for row in await store.deliveries()] == ["content"]

    await store.connector.db.write(lambda conn: conn.execute("PRAGMA query_only = ON"))
    body, headers = signed(2)
    refused = await client.post("/webhooks/kontent", content=body, headers=headers)
    assert refused.status_code == 503
    assert len(await store.deliveries()) == 1

    assert store.connector.db._write_conn is not None  # the writer is idle: switch it back directly
    store.connector.db._write_conn.execute("PRAGMA query_only = OFF")
    retried = await client.post("/webhooks/kontent", content=body, headers=headers)
    assert retried.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}
    again = await client.post("/webhooks/kontent", content=body, headers=headers)
    assert again.json() == {"accepted": 0, "duplicates": 1, "jobs": 0}


async def test_readyz_is_unavailable_while_the_store_refuses_writes(
    client: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that answers reads but refuses writes would answer every notification 503."""
    monkeypatch.setattr(health, "WRITE_PROBE_INTERVAL_S", 0.0)  # no reuse of a success
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    await store.connector.db.write(lambda conn: conn.execute("PRAGMA query_only = ON"))
    refused = await client.get("/readyz")
    assert refused.status_code == 503
    assert refused.json() == {
        "status": "unavailable",
        "reasons": [
            "store refuses writes: SQLite store unavailable: attempt to write a readonly database"
        ],
    }
    assert store.connector.db._write_conn is not None
    store.connector.db._write_conn.execute("PRAGMA query_only = OFF")
    assert (await client.get("/readyz")).json() == {"status": "ready"}
