"""The SQLite store: durability, group commit, failures, schema and migrations.

What every store must do (dedupe, leases, pruning, ...) is in tests/stores, run on SQLite too."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bridge.delivery import queries
from bridge.delivery.clock import ManualClock
from bridge.delivery.connectors import sqlite as sqlite_db
from bridge.delivery.connectors.sqlite import apply_migrations
from bridge.delivery.opening import open_store, sqlite_path
from bridge.delivery.store import Store, StoreError, StoreUnavailable
from tests.stores.values import notification, planned

MakeStore = Callable[..., Awaitable[Store]]


async def test_concurrent_accepts_share_commits_and_all_survive_a_reopen(
    make_store: MakeStore,
) -> None:
    store = await make_store()
    before = store.connector.db.commits

    results = await asyncio.gather(
        *(
            store.accept([notification(n)], [planned(notification(n), "a")], request_id=None)
            for n in range(200)
        )
    )

    commits = store.connector.db.commits - before
    assert all(r.accepted == 1 for r in results)
    assert commits < 100, f"{commits} commits for 200 concurrent accepts: no grouping"
    await store.close()
    reopened = await make_store()
    assert len(await reopened.deliveries(limit=1000)) == 200


async def test_a_large_accept_gives_the_event_loop_turns_inside_its_transaction(
    make_store: MakeStore,
) -> None:
    """One accept of 2,000 notifications and their jobs is one transaction of 4,000 rows. Its
    statements used to run back to back on the event loop: a legacy body of 20,000 items held
    every other request and health check for 4 s. Now other tasks run between its rows."""
    store = await make_store()
    conn = store.connector.db._write_conn
    assert conn is not None
    turns = 0
    accepting = True

    async def other_task() -> None:
        nonlocal turns
        while accepting:
            turns += 1
            await asyncio.sleep(0)

    seen: list[tuple[str, int]] = []  # each statement the write connection runs, with `turns`
    conn.set_trace_callback(lambda sql: seen.append((sql.split()[0].upper(), turns)))
    other = asyncio.create_task(other_task())
    notes = [notification(n) for n in range(2000)]
    try:
        result = await store.accept(notes, [planned(n, "a") for n in notes], request_id=None)
    finally:
        accepting = False
        conn.set_trace_callback(None)
        await other
    assert result.accepted == 2000
    verbs = [verb for verb, _ in seen]
    begin, commit = verbs.index("BEGIN"), verbs.index("COMMIT")
    inside = [count for verb, count in seen[begin + 1 : commit] if verb in {"INSERT", "UPDATE"}]
    assert len(inside) >= 2000
    assert inside[-1] - inside[0] >= 5  # other tasks ran between its rows, many times


async def test_sqlite_is_in_wal_mode_with_full_sync(store: Store) -> None:
    mode = await store.connector.db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
    sync = await store.connector.db.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0])
    assert (mode, sync) == ("wal", 2)


async def test_a_store_that_cannot_write_raises_store_unavailable(store: Store) -> None:
    await store.connector.db.write(lambda c: c.execute("PRAGMA query_only = ON"))
    note = notification(1)
    with pytest.raises(StoreUnavailable, match=r"readonly|read-only|query_only"):
        await store.accept([note], [planned(note, "a")], request_id=None)


async def test_a_closed_store_raises_store_unavailable(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.accept([notification(1)], [], request_id=None)
    with pytest.raises(StoreUnavailable):
        await store.deliveries()


async def test_a_store_whose_connection_broke_raises_store_unavailable(
    store: Store,
) -> None:
    assert store.connector.db._write_conn is not None
    store.connector.db._write_conn.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.accept([notification(1)], [], request_id=None)


async def test_an_unwritable_directory_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = open_store(f"sqlite:///{blocker}/sub/bridge.db", ManualClock())
    with pytest.raises(StoreUnavailable):
        await store.open()


def test_database_urls() -> None:
    assert sqlite_path("sqlite:///data/bridge.db") == "data/bridge.db"
    assert sqlite_path("sqlite:////var/lib/bridge.db") == "/var/lib/bridge.db"
    with pytest.raises(StoreError, match="unsupported database URL 'mysql'"):
        open_store("mysql://x")


def _schema_of(conn: sqlite3.Connection) -> set[tuple[str, str, str]]:
    rows = conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
        "AND name <> 'schema_version'"
    )
    return {(kind, name, " ".join((sql or "").split())) for kind, name, sql in rows}


def test_schema_file_equals_all_migrations_applied(tmp_path: Path) -> None:
    from_schema = sqlite3.connect(tmp_path / "schema.db")
    from_schema.executescript(queries.schema("sqlite"))
    migrated = sqlite3.connect(tmp_path / "migrated.db", isolation_level=None)
    applied = apply_migrations(migrated, 0.0)

    assert applied == [f"{m.version:04d}_{m.name}" for m in queries.migrations("sqlite")]
    assert _schema_of(from_schema) == _schema_of(migrated)
    assert apply_migrations(migrated, 0.0) == []  # idempotent


def test_every_named_query_is_valid_sql(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "q.db")
    conn.executescript(queries.schema("sqlite"))
    conn.execute(sqlite_db.VERSION_TABLE)  # every store has it (probe_write uses it)
    for name in queries.queries("sqlite"):
        try:
            for statement in sqlite_db._named(name):  # a SQLite query may be several
                conn.execute(f"EXPLAIN {statement}", _null_params(statement))
        except sqlite3.Error as exc:
            pytest.fail(f"query {name}: {exc}")


def _null_params(sql: str) -> dict[str, None]:
    return {name: None for name in re.findall(r":(\w+)", sql)}


def test_duplicate_query_names_are_an_error() -> None:
    with pytest.raises(ValueError, match="'x' is defined twice"):
        queries.parse_queries("-- name: x\nSELECT 1;\n-- name: x\nSELECT 2;\n")


def test_a_query_declares_variants_that_differ_in_one_condition() -> None:
    found = queries.parse_queries(
        "-- name: listed\n-- variant: failed: (:all OR failures > 0) -> failures > 0\n"
        "SELECT id FROM jobs WHERE (:all OR failures > 0) ORDER BY id;\n"
    )
    assert "WHERE (:all OR failures > 0) ORDER BY id" in found["listed"]
    assert found["failed"].strip() == "SELECT id FROM jobs WHERE failures > 0 ORDER BY id"
    with pytest.raises(ValueError, match="variant 'x' replaces 'nothing', not in it"):
        queries.parse_queries("-- name: q\n-- variant: x: nothing -> else\nSELECT 1;\n")
    with pytest.raises(ValueError, match="'listed' is defined twice"):
        queries.parse_queries(
            "-- name: q\n-- variant: listed: 1 -> 2\nSELECT 1;\n-- name: listed\nSELECT 3;"
        )


async def test_a_failing_write_does_not_undo_the_writes_committed_with_it(
    store: Store,
) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO jobs (id) VALUES (NULL)")  # violates NOT NULL constraints

    def bug(conn: sqlite3.Connection) -> None:
        raise ValueError("a bug, not the database")

    notes = [notification(n) for n in range(10)]
    results = await asyncio.gather(
        *(store.accept([note], [planned(note, "a")], request_id=None) for note in notes[:5]),
        store.connector.db.write(broken),
        store.connector.db.write(bug),
        *(store.accept([note], [planned(note, "a")], request_id=None) for note in notes[5:]),
        return_exceptions=True,
    )

    assert isinstance(results[5], StoreUnavailable)
    assert isinstance(results[6], ValueError)
    assert all(r.jobs == 1 for r in results[:5] + results[7:])  # type: ignore[union-attr]
    assert len(await store.deliveries(limit=100)) == 10


def test_retention_comes_from_bridge_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_store("sqlite:///x.db").retention_s == 3 * 86400
    monkeypatch.setenv("BRIDGE_RETENTION", "12h")
    assert open_store("sqlite:///x.db").retention_s == 12 * 3600
    monkeypatch.setenv("BRIDGE_RETENTION", "forever")
    with pytest.raises(StoreError, match=r"^BRIDGE_RETENTION: "):
        open_store("sqlite:///x.db")
    monkeypatch.setenv("BRIDGE_RETENTION", "99999d")
    with pytest.raises(StoreError, match=r"^BRIDGE_RETENTION: '99999d': a duration can be at most"):
        open_store("sqlite:///x.db")


def test_a_migration_another_process_applied_meanwhile_is_not_applied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sqlite3.connect(tmp_path / "shared.db", isolation_level=None)
    second = sqlite3.connect(tmp_path / "shared.db", isolation_level=None)
    stale = sqlite_db.pending_migrations(second)  # read before the other process migrated
    every = [f"{m.version:04d}_{m.name}" for m in queries.migrations("sqlite")]
    assert apply_migrations(first, 0.0) == every

    monkeypatch.setattr(sqlite_db, "pending_migrations", lambda conn: stale)
    assert apply_migrations(second, 0.0) == []
    versions = second.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(m.version,) for m in queries.migrations("sqlite")]


def test_migration_0002_rebuilds_notifications_without_reusing_pruned_sequence_numbers(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute(sqlite_db.VERSION_TABLE)
    for statement in sqlite_db._statements(queries.migrations("sqlite")[0].sql):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 'initial', 0)")
    insert = (
        "INSERT INTO notifications (key, format, received_at, raw, events, summary) "
        "VALUES (?, 'current', 0, '{}', '[]', '')"
    )
    conn.executemany(insert, [(f"k{n}",) for n in range(5)])
    conn.execute("DELETE FROM notifications WHERE seq > 3")  # pruned: 4 and 5 were handed out

    assert "0002_object_latest" in apply_migrations(conn, 0.0)
    conn.execute(
        "INSERT INTO notifications (key, content_key, format, received_at, raw, events, summary) "
        "VALUES ('new', 'new', 'current', 0, '{}', '[]', '')"
    )
    rows = conn.execute("SELECT seq, key, content_key FROM notifications ORDER BY seq").fetchall()
    assert rows == [(1, "k0", "k0"), (2, "k1", "k1"), (3, "k2", "k2"), (6, "new", "new")]
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "notifications_0001" not in tables and "object_latest" in tables
