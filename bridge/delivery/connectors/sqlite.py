"""The SQLite connector: one write connection with group commit, one reader thread, migrations.

Durability: WAL with synchronous=FULL, so a commit is on disk when it returns. Group commit:
every write is a function queued for the write connection; one flusher runs all queued
functions in ONE transaction (if one fails, each is re-run in its own, so a failing function
does not undo the others) and resolves each caller's future only after COMMIT returned. While
one group is being fsynced, the next one queues up, so concurrent webhook requests share
commits instead of waiting behind each other. Driver errors become `StoreUnavailable` here,
at the boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson

from bridge.delivery import queries
from bridge.delivery.connectors import Row, Tx
from bridge.delivery.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

MAX_GROUP = 1000
BUSY_TIMEOUT_MS = 5000
# Rows a transaction writes between two turns it gives the event loop. A legacy body of 20,000
# items is one accept of 80,000 rows, about 4 s of statements that held the loop (health checks
# and every other request waited); 256 rows are a few milliseconds. See SqliteTx.
ROWS_PER_TURN = 256
# A thread waiting for the GIL (the commit thread back from its fsync) gets it only after the
# interpreter's switch interval (5 ms by default) while the loop is busy serving requests, and
# the whole group waits with it. A shorter interval keeps that hand-off short; the cost, extra
# switches, only arises while another thread wants the GIL. bench/receive.py: see the commit.
SWITCH_INTERVAL_S = 0.0002


def connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
    conn.row_factory = sqlite3.Row  # rows are read by column name
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"SQLite store unavailable: {exc}")


class Database:
    """The file, its write connection (group commit) and its reader thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.commits = 0  # committed write transactions, for tests and metrics
        self._pending: list[tuple[Op, asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-commit")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._read_conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        try:
            await asyncio.to_thread(self._open_files)
        except (sqlite3.Error, OSError) as exc:
            raise unavailable(exc) from None

    def _open_files(self) -> None:
        parent = Path(self.path).parent
        parent.mkdir(parents=True, exist_ok=True)
        self._write_conn = connect(self.path)
        self._read_conn = connect(self.path)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        self._committer.shutdown(wait=True)
        self._reader.shutdown(wait=True)
        for conn in (self._write_conn, self._read_conn):
            if conn is not None:
                conn.close()

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` in the next group transaction; returns after its commit."""
        if self._closed or self._loop is None:
            raise StoreUnavailable("SQLite store is closed")
        future: asyncio.Future[T] = self._loop.create_future()
        self._pending.append((op, future))
        if self._flushing is None:
            self._flushing = self._loop.create_task(self._flush())
        return await future

    async def read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed or self._read_conn is None:
            raise StoreUnavailable("SQLite store is closed")
        conn = self._read_conn

        def run() -> T:
            try:
                return op(conn)
            except sqlite3.Error as exc:
                raise unavailable(exc) from None

        return await asyncio.get_running_loop().run_in_executor(self._reader, run)

    async def _flush(self) -> None:
        """Commit groups until no write is pending; writes queued meanwhile form the next group."""
        try:
            await asyncio.sleep(0)  # the writes issued in this loop iteration join the group
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                results = await self._run_group([op for op, _ in group])
                _resolve_all([future for _, future in group], results)
        finally:
            self._flushing = None
            if self._pending and not self._closed:  # cancelled mid-way: keep the queue moving
                assert self._loop is not None
                self._flushing = self._loop.create_task(self._flush())

    async def _run_group(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        """All ops in one transaction; if any fails, each op again in a transaction of its own,
        so that one bad op never takes the others down (failures are rare: this is cheaper than
        a savepoint around every op)."""
        try:
            return await self._transaction(ops)
        except Exception as exc:
            if len(ops) == 1:
                return [(False, self._failed(exc))]
            log.warning("a group of %d writes failed (%s); retrying them one by one", len(ops), exc)
        results: list[tuple[bool, Any]] = []
        for op in ops:
            try:
                results.extend(await self._transaction([op]))
            except Exception as single:
                results.append((False, self._failed(single)))
        return results

    async def _transaction(self, ops: list[Op]) -> list[tuple[bool, Any]]:
        """BEGIN (which may wait for another process) and COMMIT (the fsync) run on the commit
        thread; the ops themselves, short statements, run here on the event loop (a long op
        takes turns with the loop: SqliteTx). A thread per statement would hand the GIL back
        and forth for every row, and each hand-off can wait for the interpreter's switch
        interval (5 ms) while the loop is busy serving requests."""
        conn = self._write_conn
        assert conn is not None and self._loop is not None
        try:
            if not _begin_at_once(conn):
                await self._loop.run_in_executor(self._committer, conn.execute, "BEGIN IMMEDIATE")
            values = []
            for op in ops:
                value = op(conn)
                if inspect.isawaitable(value):  # a store op over a Tx
                    value = await value
                values.append(value)
            await self._loop.run_in_executor(self._committer, conn.execute, "COMMIT")
        except Exception:
            with contextlib.suppress(Exception):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return [(True, value) for value in values]

    def _failed(self, exc: Exception) -> Exception:
        """Driver errors become StoreUnavailable; others (bugs) reach the caller as they are."""
        if isinstance(exc, sqlite3.Error):
            log.error("SQLite write failed: %s", exc)
            return unavailable(exc)
        return exc


def _begin_at_once(conn: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE without waiting: True if the write lock was free (nearly always, so the
    group skips a hop to the commit thread and back); False if another process holds it, and
    the caller waits for it on the commit thread, never on the event loop."""
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        conn.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if conn.in_transaction or exc.sqlite_errorname != "SQLITE_BUSY":
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _resolve_all(futures: list[asyncio.Future[Any]], results: list[tuple[bool, Any]]) -> None:
    for future, (ok, value) in zip(futures, results, strict=True):
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


# -- migrations --------------------------------------------------------------------------------

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
)


def pending_migrations(conn: sqlite3.Connection) -> list[queries.Migration]:
    conn.execute(VERSION_TABLE)
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_version")}
    return [m for m in queries.migrations("sqlite") if m.version not in applied]


def apply_migrations(conn: sqlite3.Connection, now: float) -> list[str]:
    """Apply pending migrations, each in its own transaction, recording it in schema_version.

    Each one is checked again once the write lock is held, so two processes starting on a new
    database (`bridge serve` and `bridge worker`) do not both apply it.
    """
    applied = []
    for migration in pending_migrations(conn):
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_version WHERE version = ?", (migration.version,)
            ).fetchone()
            if done is None:
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now),
                )
                applied.append(f"{migration.version:04d}_{migration.name}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current)
            current = ""
    if current.strip() and not current.strip().startswith("--"):
        statements.append(current)
    return statements


# -- the connector -----------------------------------------------------------------------------


@cache
def _named(name: str) -> tuple[str, ...]:
    """A named query's statements (a SQLite query may need several where PostgreSQL has one)."""
    return tuple(_statements(queries.queries("sqlite")[name] + ";"))


def _bound(params: Mapping[str, Any]) -> Mapping[str, Any]:
    """Arrays travel as JSON text, read back in SQL with `json_each`. Most rows hold none (a
    job's, a notification's): they are passed as they are, with no copy."""
    for value in params.values():
        if isinstance(value, list | tuple):
            break
    else:
        return params
    return {k: _array_text(v) if isinstance(v, list | tuple) else v for k, v in params.items()}


def _array_text(values: list[Any] | tuple[Any, ...]) -> str:
    """JSON text for `json_each`: orjson's (several times faster; the batches a claim marks or a
    group records are arrays of ids and names), the standard encoder's for what it refuses."""
    try:
        return orjson.dumps(values).decode()
    except TypeError:  # orjson.JSONEncodeError is one: an integer past 64 bits
        return json.dumps(values)


def _run(conn: sqlite3.Connection, name: str, params: Mapping[str, Any]) -> sqlite3.Cursor:
    bound = _bound(params)
    cursor: sqlite3.Cursor | None = None
    for statement in _named(name):
        cursor = conn.execute(statement, bound)
    assert cursor is not None
    return cursor


class SqliteTx:
    """Named queries on the write connection, inside the current group transaction, run at once
    on the event loop (see _transaction).

    A long transaction gives the loop a turn every `ROWS_PER_TURN` rows, so one large accept
    cannot stall every other request. That is safe: the group's flusher is the only user of
    the write connection (writes queued meanwhile wait for the next group, reads have their own
    connection), and the store's operations already allow other tasks to run at each statement,
    as they do on PostgreSQL, where every statement is awaited.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._rows_since_turn = 0

    async def _written(self, rows: int) -> None:
        self._rows_since_turn += rows
        if self._rows_since_turn >= ROWS_PER_TURN:
            self._rows_since_turn = 0
            await asyncio.sleep(0)

    async def execute(self, name: str, **params: Any) -> int:
        count = _run(self.conn, name, params).rowcount
        await self._written(1)
        return count

    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        (statement,) = _named(name)
        for start in range(0, len(rows), ROWS_PER_TURN):
            chunk = rows[start : start + ROWS_PER_TURN]
            self.conn.executemany(statement, [_bound(row) for row in chunk])
            await self._written(len(chunk))

    async def fetch(self, name: str, **params: Any) -> list[Row]:
        found = _run(self.conn, name, params).fetchall()
        await self._written(1)
        return found

    async def fetch_one(self, name: str, **params: Any) -> Row | None:
        found = _run(self.conn, name, params).fetchone()
        await self._written(1)
        return found

    async def fetch_value(self, name: str, **params: Any) -> Any:
        row = await self.fetch_one(name, **params)
        return None if row is None else row[0]

    async def notify(self) -> None:
        """Other processes on the file poll; this process's listeners are called by the store."""


class SqliteReadTx(SqliteTx):
    """Named queries on the reader connection, each on the reader thread."""

    def __init__(self, db: Database, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.db = db

    async def execute(self, name: str, **params: Any) -> int:
        return await self.db.read(lambda conn: _run(conn, name, params).rowcount)

    async def fetch(self, name: str, **params: Any) -> list[Row]:
        return await self.db.read(lambda conn: _run(conn, name, params).fetchall())

    async def fetch_one(self, name: str, **params: Any) -> Row | None:
        return await self.db.read(lambda conn: _run(conn, name, params).fetchone())

    async def fetch_value(self, name: str, **params: Any) -> Any:
        row = await self.fetch_one(name, **params)
        return None if row is None else row[0]


class SqliteConnector:
    """One SQLite file in WAL mode (see `Database` for group commit)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self.db = Database(path)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def migrate(self, now: float) -> list[str]:
        def op(conn: sqlite3.Connection) -> list[str]:
            try:
                return apply_migrations(conn, now)
            except sqlite3.Error as exc:
                raise unavailable(exc) from None

        # Migrations manage their own transactions, so they run on the reader connection's
        # thread with a connection of their own rather than inside a group commit.
        return await self.db.read(lambda _conn: _with_connection(self.path, op))

    async def write(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        pending = self.db.write(lambda conn: op(SqliteTx(conn)))  # awaited inside the group
        return cast(T, await pending)

    async def read(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        conn = self.db._read_conn
        if self.db._closed or conn is None:
            raise StoreUnavailable("SQLite store is closed")
        return await op(SqliteReadTx(self.db, conn))

    async def statement(self, name: str, **params: Any) -> Row | None:
        return await self.db.write(lambda conn: _run(conn, name, params).fetchone())

    def has_query(self, name: str) -> bool:
        return name in queries.queries("sqlite")

    def listen(self, callback: Callable[[], None]) -> None:
        """Nothing to listen to: a `bridge worker` beside `bridge serve` polls the file."""

    def wake_others(self) -> None:
        """Nothing to wake: other processes on the file poll it."""


def _with_connection(path: str, op: Callable[[sqlite3.Connection], list[str]]) -> list[str]:
    conn = connect(path)
    try:
        return op(conn)
    finally:
        conn.close()
