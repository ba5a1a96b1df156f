"""A legacy body of many items is stored in space linear in its items, on both stores.

A legacy message lists every affected item in one body; each item becomes a notification of
its own. Each must store only its own slice of the payload: storing the whole body with each
of N items would take space growing with N squared (5,000 items: 25 million item copies).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import asyncpg

from bridge.delivery.opening import sqlite_path
from bridge.delivery.store import Store
from bridge.payloads import parse_body
from bridge.plan import PlannedJob

MESSAGE = {
    "id": "e5e29f8a-4b62-4fba-9b6e-4e3e2d9d7c6a",
    "project_id": "11a3492b-cd32-0054-51d2-8234ec4244a6",
    "type": "content_item_variant",
    "operation": "publish",
    "api_name": "delivery_production",
    "created_timestamp": "2024-02-15T13:27:01.2437286Z",
    "webhook_url": "https://bridge.example.com/webhooks/kontent",
}
NOTE_BYTES = {
    "sqlite": "SELECT coalesce(sum(length(CAST(raw AS BLOB)) + length(CAST(events AS BLOB))), 0)"
    " FROM notifications WHERE key LIKE $1",
    "postgres": "SELECT coalesce(sum(octet_length(raw) + octet_length(events)), 0)"
    " FROM notifications WHERE key LIKE $1",
}
JOB_BYTES = {
    "sqlite": "SELECT coalesce(sum(length(CAST(event AS BLOB)) + length(CAST(inputs AS BLOB))"
    " + length(CAST(summary AS BLOB))), 0) FROM jobs WHERE notification_key LIKE $1",
    "postgres": "SELECT coalesce(sum(octet_length(event) + octet_length(inputs)"
    " + octet_length(summary)), 0) FROM jobs WHERE notification_key LIKE $1",
}


def legacy_body(message_id: str, count: int) -> bytes:
    items = [
        {"id": f"{n:08d}-bba0-4aa4-a84f-41a46ce8e8ad", "codename": f"item_{n:05d}",
         "language": "en-US", "type": "article"}
        for n in range(count)
    ]  # fmt: skip
    message = MESSAGE | {"id": message_id}
    return json.dumps({"data": {"items": items, "taxonomies": []}, "message": message}).encode()


async def stored_bytes(store_kind: str, store_url: str, message_id: str) -> int:
    """Bytes of the notification rows (raw + events) and job rows of one legacy message."""
    pattern = f"legacy:production:{message_id}:%"
    if store_kind == "sqlite":
        conn = sqlite3.connect(sqlite_path(store_url))
        try:
            total = 0
            for sql in (NOTE_BYTES["sqlite"], JOB_BYTES["sqlite"]):
                total += conn.execute(sql.replace("$1", "?"), (pattern,)).fetchone()[0]
            return total
        finally:
            conn.close()
    pg: Any = await asyncpg.connect(store_url)
    try:
        notes = await pg.fetchval(NOTE_BYTES["postgres"], pattern)
        jobs = await pg.fetchval(JOB_BYTES["postgres"], pattern)
        return int(notes) + int(jobs)
    finally:
        await pg.close()


async def test_bytes_stored_per_item_do_not_grow_with_the_number_of_items(
    store: Store, store_kind: str, store_url: str
) -> None:
    per_item = {}
    for count, message_id in ((1000, "msg-1000"), (5000, "msg-5000")):
        notifications = parse_body(legacy_body(message_id, count), "production")
        jobs = [PlannedJob("a", "r1", n.key, n.events[0]) for n in notifications]
        result = await store.accept(notifications, jobs, request_id=None)
        assert (result.accepted, result.jobs) == (count, count)
        per_item[count] = await stored_bytes(store_kind, store_url, message_id) / count

    assert 300 < per_item[1000] < 3000, per_item  # the slice, its event and its job
    assert per_item[5000] <= 1.2 * per_item[1000], per_item
