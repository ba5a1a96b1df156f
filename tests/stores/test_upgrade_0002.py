"""`bridge db upgrade` on a database made by migration 0001 with data in it, on both stores.

Migration 0002 rebuilds `notifications` (a `content_key` column; SQLite rebuilds the table) and
adds `object_latest`, filled from what is stored: nothing is lost, jobs still find their
notifications, and a redelivery of a notification received before the upgrade is still one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bridge.cli import main
from bridge.delivery import queries, records
from bridge.delivery.clock import ManualClock
from bridge.delivery.connectors import sqlite as sqlite_db
from bridge.delivery.connectors.postgres import VERSION_TABLE as PG_VERSION_TABLE
from bridge.delivery.model import ClaimPolicy
from bridge.delivery.opening import open_store
from bridge.events import Notification
from bridge.plan import PlannedJob
from tests.stores.test_dedupe_latest import item, send

NOTE_COLUMNS: tuple[str, ...] = ("key", "webhook", "format", "received_at", "request_id")
NOTE_COLUMNS += ("raw", "events", "rules", "summary")
JOB_COLUMNS: tuple[str, ...] = ("action", "rule", "notification_key", "event", "inputs")
JOB_COLUMNS += ("inputs_hash", "request_id", "summary", "state", "created_at", "due_at")


def old_rows(
    notes: list[Notification], now: float
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows the store wrote before 0002: one notification and one pending job each."""
    note_rows, job_rows = [], []
    for note in notes:
        params = records.notification_params(note, ["r1"], now=now, request_id="old")
        note_rows.append(tuple(params[c] for c in NOTE_COLUMNS))
        job = PlannedJob("a", "r1", note.key, note.events[0])
        params = records.job_params(job, now=now, request_id="old")
        params |= {"state": "pending", "created_at": now, "due_at": now}
        job_rows.append(tuple(params[c] for c in JOB_COLUMNS))
    return note_rows, job_rows


def insert_sql(table: str, columns: tuple[str, ...], mark: Callable[[int], str]) -> str:
    marks = ", ".join(mark(i) for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def make_0001_sqlite(path: Path, notes: list[Notification], now: float) -> str:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(sqlite_db.VERSION_TABLE)
    first = queries.migrations("sqlite")[0]
    assert first.version == 1
    for statement in sqlite_db._statements(first.sql):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 'initial', 0)")
    note_rows, job_rows = old_rows(notes, now)
    conn.executemany(insert_sql("notifications", NOTE_COLUMNS, lambda _: "?"), note_rows)
    conn.executemany(insert_sql("jobs", JOB_COLUMNS, lambda _: "?"), job_rows)
    conn.execute("INSERT INTO actions (name) VALUES ('a')")
    conn.close()
    return f"sqlite:///{path}"


async def make_0001_postgres(url: str, notes: list[Notification], now: float) -> str:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(PG_VERSION_TABLE)
        await conn.execute(queries.migrations("postgres")[0].sql)
        await conn.execute("INSERT INTO schema_version VALUES (1, 'initial', 0)")
        note_rows, job_rows = old_rows(notes, now)
        await conn.executemany(insert_sql("notifications", NOTE_COLUMNS, "${}".format), note_rows)
        await conn.executemany(insert_sql("jobs", JOB_COLUMNS, "${}".format), job_rows)
        await conn.execute("INSERT INTO actions (name) VALUES ('a')")
    finally:
        await conn.close()
    return url


@pytest.fixture
def old_database(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[[list[Notification], float], str]:
    """`old_database(notes, now)`: the URL of a 0001 database holding `notes` and their jobs."""

    def make(notes: list[Notification], now: float) -> str:
        if store_kind == "sqlite":
            return make_0001_sqlite(tmp_path / "old.db", notes, now)
        url = str(request.getfixturevalue("fresh_postgres")(template=None))
        from tests.stores.conftest import run_sync

        return run_sync(lambda: make_0001_postgres(url, notes, now))

    return make


async def test_db_upgrade_keeps_notifications_and_jobs_and_still_knows_redeliveries(
    old_database: Callable[[list[Notification], float], str],
    clock: ManualClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    publish, unpublish = item("published"), item("unpublished")
    no_object = item("changed", item_id=None)
    other = item("published", item_id="another-item")
    # Stored in this order before the upgrade: the item's latest is its unpublish.
    url = old_database([publish, no_object, other, unpublish], clock.now())

    assert await asyncio.to_thread(main, ["db", "upgrade", "--db", url]) == 0
    applied = capsys.readouterr().out
    assert "0002_object_latest" in applied and "0001_initial" not in applied

    async with open_store(url, clock) as store:
        assert store.migrations_applied == []
        stored = await store.notifications()
        assert [n.key for n in stored] == [unpublish.key, other.key, no_object.key, publish.key]
        assert [n.request_id for n in stored] == ["old"] * 4
        rows = await store.deliveries()
        assert [r.state for r in rows] == ["pending"] * 4
        claim = await store.claim("a", ClaimPolicy(lease_s=60), worker_id="w")
        assert claim.batches[0].jobs[0].event.raw == publish.raw  # jobs find their notification
        detail = await store.job(rows[0].job_id)
        assert detail is not None and detail.notification_key == unpublish.key

        assert await send(store, unpublish) == (0, 1, 0)  # the latest, redelivered
        assert await send(store, other) == (0, 1, 0)
        assert await send(store, no_object) == (0, 1, 0)  # its key is stored
        assert await send(store, publish) == (1, 0, 1)  # a republish after the unpublish
        assert await send(store, publish) == (0, 1, 0)
        assert await store.object_versions(publish.events[0].id or "", "english", "published")
        assert len(await store.notifications()) == 5
