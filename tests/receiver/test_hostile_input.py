"""Input classes that used to get a 500 (which Kontent.ai retries for three days) get a 400 with a
reason, through the real app on the real SQLite store; a batch with one bad notification is
refused whole, naming the notification, and nothing of it is stored."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

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


@pytest.fixture
def seed(payload_bytes: Callable[[str], bytes]) -> dict[str, Any]:
    notification: dict[str, Any] = json.loads(payload_bytes(SEED))["notifications"][0]
    return notification


def batch_text(seed: dict[str, Any], count: int, bad_index: int, bad_text: str) -> bytes:
    """`count` copies of the seed; in copy `bad_index`, `"__BAD__"` becomes `bad_text` (raw
    JSON, so that escapes json.dumps would never write can be placed)."""
    items = []
    for index in range(count):
        item = json.loads(json.dumps(seed))
        item["data"]["system"]["id"] = f"item-{index}"
        if index == bad_index:
            item["message"]["action"] = "__BAD__"
        items.append(item)
    return json.dumps({"notifications": items}).replace('"__BAD__"', bad_text).encode()


async def post(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(URL, content=body, headers=signed(body))


async def assert_refused(client: httpx.AsyncClient, store: Store, body: bytes, reason: str) -> None:
    response = await post(client, body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert await store.notifications() == []


async def test_deep_nesting(client: httpx.AsyncClient, sqlite_store: Store) -> None:
    deep = b'{"notifications": [{"data": {"system": {}}, "message": {}, "x": %s}]}'
    for levels in (65, 100_000):  # the second was a RecursionError, answered 500
        body = deep % (b"[" * levels + b"]" * levels)
        await assert_refused(client, sqlite_store, body, "nests deeper than 64 levels")


async def test_huge_integer(
    client: httpx.AsyncClient, sqlite_store: Store, seed: dict[str, Any]
) -> None:
    body = batch_text(seed, 1, 0, "9" * 5000)  # int() refuses more than 4300 digits: a 500
    await assert_refused(client, sqlite_store, body, "an integer has 5000 digits")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers(
    client: httpx.AsyncClient, sqlite_store: Store, seed: dict[str, Any], literal: str
) -> None:
    body = batch_text(seed, 1, 0, literal)  # was accepted and stored as non-JSON
    response = await post(client, body)
    assert response.status_code == 400, response.text
    assert "not allowed" in response.json()["error"] or "too large" in response.json()["error"]
    assert await sqlite_store.notifications() == []


async def test_lone_surrogate_value(
    client: httpx.AsyncClient, sqlite_store: Store, seed: dict[str, Any]
) -> None:
    body = batch_text(seed, 1, 0, '"pub\\udce9lished"')  # UnicodeEncodeError at insert: a 500
    await assert_refused(
        client,
        sqlite_store,
        body,
        "'notifications[0].message.action': the string contains a lone surrogate (U+DCE9)",
    )


async def test_lone_surrogate_key(
    client: httpx.AsyncClient, sqlite_store: Store, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED).replace(b'"codename"', b'"code\\ud800name"')
    await assert_refused(
        client,
        sqlite_store,
        body,
        """'notifications[0].data.system["code\\ud800name"]': the key contains a lone surrogate""",
    )


async def test_nul_character(
    client: httpx.AsyncClient, sqlite_store: Store, seed: dict[str, Any]
) -> None:
    body = batch_text(seed, 1, 0, '"published\\u0000"')
    await assert_refused(client, sqlite_store, body, "contains U+0000 (NUL)")


async def test_bad_item_in_a_batch_names_its_index_and_stores_nothing(
    client: httpx.AsyncClient, sqlite_store: Store, seed: dict[str, Any]
) -> None:
    structural = batch_text(seed, 6, 3, '{"not": "a string"}')
    await assert_refused(
        client,
        sqlite_store,
        structural,
        "'notifications[3].message.action' must be a string, not an object",
    )
    value_level = batch_text(seed, 6, 4, '"\\udfff"')
    await assert_refused(
        client, sqlite_store, value_level, "'notifications[4].message.action': the string"
    )
    # The same batch without the bad value is accepted whole.
    good = batch_text(seed, 6, 4, '"published"')
    response = await post(client, good)
    assert response.json() == {"accepted": 6, "duplicates": 0, "jobs": 6}
    assert len(await sqlite_store.notifications()) == 6


async def test_non_ascii_text_is_kept(
    client: httpx.AsyncClient, sqlite_store: Store, seed: dict[str, Any]
) -> None:
    seed["data"]["system"]["name"] = "Čeština \U0001f600 \u00e9"
    body = json.dumps({"notifications": [seed]}).encode()  # ensure_ascii: surrogate pairs
    response = await post(client, body)
    assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}
    [row] = await sqlite_store.notifications()
    assert row.raw["data"]["system"]["name"] == "Čeština \U0001f600 \u00e9"


@pytest.mark.parametrize("field", ["id", "language"])
async def test_identifiers_too_long_to_index(
    client: httpx.AsyncClient, sqlite_store: Store, seed: dict[str, Any], field: str
) -> None:
    """PostgreSQL cannot index a 40,000-byte random id (a 503, retried for three days): every
    store refuses it alike, with a 400 naming the notification."""
    seed["data"]["system"][field] = secrets.token_hex(300)  # 600 bytes, incompressible
    body = json.dumps({"notifications": [seed]}).encode()
    await assert_refused(
        client,
        sqlite_store,
        body,
        f"notifications[0]: its {field} is 600 bytes long, more than 512",
    )
    seed["data"]["system"][field] = "é" * 256  # 512 bytes: the limit itself is kept
    body = json.dumps({"notifications": [seed]}).encode()
    assert (await post(client, body)).status_code == 200


async def test_legacy_message_id_too_long_to_index(
    client: httpx.AsyncClient, sqlite_store: Store, payload_bytes: Callable[[str], bytes]
) -> None:
    payload = json.loads(payload_bytes("legacy/content_item_variant_publish.json"))
    payload["message"]["id"] = secrets.token_hex(1100)
    body = json.dumps(payload).encode()
    await assert_refused(
        client, sqlite_store, body, "notification 0 of the legacy payload: its message id"
    )


@pytest.mark.parametrize(
    ("encoding", "named"),
    [
        ("utf-16", "UTF-16"),  # with a byte order mark: was "not valid UTF-8 (byte 0)"
        ("utf-16-le", "UTF-16-LE"),  # without: was "Expecting property name ... column 2"
        ("utf-16-be", "UTF-16-BE"),
        ("utf-32", "UTF-32"),
        ("utf-32-le", "UTF-32-LE"),
    ],
)
async def test_json_in_utf16_or_utf32_is_named_as_such(
    client: httpx.AsyncClient,
    sqlite_store: Store,
    payload_bytes: Callable[[str], bytes],
    encoding: str,
    named: str,
) -> None:
    body = payload_bytes(SEED).decode().encode(encoding)
    await assert_refused(client, sqlite_store, body, f"body is {named}, not UTF-8")


async def test_a_utf8_byte_order_mark_is_still_accepted(
    client: httpx.AsyncClient, sqlite_store: Store, payload_bytes: Callable[[str], bytes]
) -> None:
    response = await post(client, b"\xef\xbb\xbf" + payload_bytes(SEED))
    assert response.status_code == 200, response.text
    assert len(await sqlite_store.notifications()) == 1
