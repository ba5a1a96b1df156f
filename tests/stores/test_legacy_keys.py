"""Legacy dedupe keys name the webhook, on both stores: one message to two webhooks is two
notifications; a redelivery to either is one; and the keys of a database written before
migration 0009 are rewritten, so a redelivery straddling the upgrade is still recognised."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg

from bridge.delivery.opening import sqlite_path
from bridge.delivery.store import Store
from bridge.payloads import parse_body
from bridge.plan import PlannedJob
from tests.stores.conftest import MakeStore

ROOT = Path(__file__).parents[2]
# A content type's upsert lists only the items using the type: the type itself is a derived
# event without an id, recognised by its key alone (the items by their id, language, webhook).
CONTENT_TYPE = (ROOT / "tests/payloads/legacy/content_type_upsert.json").read_bytes()
ASSET = (ROOT / "tests/payloads/legacy/asset_upsert.json").read_bytes()


async def receive(store: Store, body: bytes, webhook: str) -> tuple[int, int, int]:
    notes = parse_body(body, webhook)
    jobs = [PlannedJob("a", "r1", n.key, n.events[0]) for n in notes]
    result = await store.accept(notes, jobs, request_id="req")
    return result.accepted, result.duplicates, result.jobs


async def test_one_legacy_message_to_two_webhooks_is_two_notifications(store: Store) -> None:
    """Before: the second webhook's derived events (the content type, the asset) were taken for
    redeliveries of the first's: no jobs for the rules of `staging`."""
    for body in (CONTENT_TYPE, ASSET):
        count = len(parse_body(body, "production"))
        assert await receive(store, body, "production") == (count, 0, count)
        assert await receive(store, body, "staging") == (count, 0, count)  # was (n - 1, 1, ...)
        assert await receive(store, body, "production") == (0, count, 0)  # a redelivery
        assert await receive(store, body, "staging") == (0, count, 0)


async def test_a_webhook_name_with_colons_cannot_meet_another_key(store: Store) -> None:
    """`a:b` + message `m` and `a` + message `b:m` would both be `legacy:a:b:m` unescaped."""
    body = json.loads(CONTENT_TYPE)
    first = json.dumps(body | {"message": body["message"] | {"id": "m"}}).encode()
    second = json.dumps(body | {"message": body["message"] | {"id": "b:m"}}).encode()
    assert parse_body(first, "a:b")[0].key == "legacy:a%3Ab:m:content_type:article"
    assert parse_body(second, "a")[0].key == "legacy:a:b:m:content_type:article"
    assert (await receive(store, first, "a:b"))[1] == 0
    assert (await receive(store, second, "a"))[1] == 0


# What the previous version wrote: the same keys without the webhook's part.
TO_OLD = {
    "notifications": [
        "UPDATE notifications SET key = 'legacy:' || substr(key, {n}),"
        " content_key = 'legacy:' || substr(content_key, {n})"
        " WHERE format = 'legacy' AND content_key LIKE 'legacy:production:%'",
    ],
    "jobs": [
        "UPDATE jobs SET notification_key = 'legacy:' || substr(notification_key, {n})"
        " WHERE notification_key LIKE 'legacy:production:%'",
        "UPDATE object_latest SET content_key = 'legacy:' || substr(content_key, {n})"
        " WHERE content_key LIKE 'legacy:production:%'",
        "DELETE FROM schema_version WHERE version = 9",
    ],
}


async def as_before_0009(store_kind: str, store_url: str) -> list[str]:
    """Turn the store's legacy keys into the previous version's; the keys it then holds."""
    n = len("legacy:production:") + 1
    statements = [s.format(n=n) for s in TO_OLD["notifications"] + TO_OLD["jobs"]]
    if store_kind == "sqlite":
        conn = sqlite3.connect(sqlite_path(store_url), isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement)
            return [row[0] for row in conn.execute("SELECT key FROM notifications ORDER BY seq")]
        finally:
            conn.close()
    pg: Any = await asyncpg.connect(store_url)
    try:
        for statement in statements:
            await pg.execute(statement)
        return [row["key"] for row in await pg.fetch("SELECT key FROM notifications ORDER BY seq")]
    finally:
        await pg.close()


async def test_keys_stored_before_the_upgrade_still_recognise_a_redelivery(
    make_store: MakeStore, store_kind: str, store_url: str
) -> None:
    store = await make_store()
    publish = (ROOT / "tests/payloads/legacy/content_item_variant_publish.json").read_bytes()
    for body in (CONTENT_TYPE, publish):
        await receive(store, body, "production")
    await store.close()
    old_keys = await as_before_0009(store_kind, store_url)
    assert old_keys and all(not key.startswith("legacy:production:") for key in old_keys)

    upgraded = await make_store()  # opening applies 0009 again
    assert "0009_legacy_webhook_keys" in upgraded.migrations_applied
    for body in (CONTENT_TYPE, publish):  # Kontent.ai redelivers what it sent before
        count = len(parse_body(body, "production"))
        assert await receive(upgraded, body, "production") == (0, count, 0)
    count = len(parse_body(CONTENT_TYPE, "staging"))
    assert await receive(upgraded, CONTENT_TYPE, "staging") == (count, 0, count)
    stored = {n.key for n in await upgraded.notifications(limit=100)}
    for row in await upgraded.deliveries(limit=100):  # every job still finds its notification
        detail = await upgraded.job(row.job_id)
        assert detail is not None and detail.notification_key in stored
