"""The PostgreSQL connector: the pool, named parameters, error translation, migrations, LISTEN.

Only this module knows asyncpg; the SQL itself lives in `sql/postgres/`.
Every driver error (asyncpg's, a refused or dropped connection, a connect timeout) becomes
`StoreUnavailable` here, so the receiver answers 503 and workers back off, as with SQLite.

Except a deadlock (40P01) or a serialization failure (40001) of a write: PostgreSQL rolled the
whole transaction back and asks for it to be run again, so `write` and `statement` run it again
from its start, up to RERUNS times, before translating (two writers locking rows in opposite
orders, a prune racing a very late redelivery's accept say, make one of them the victim). A
`write`'s op is run again whole: it must be a function of what it reads in its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import cache
from typing import Any, TypeAlias, TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg

from bridge.delivery import queries
from bridge.delivery.connectors import Row, Tx, rowcount
from bridge.delivery.errors import StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection: TypeAlias = "asyncpg.Connection[Any]"

CHANNEL = "bridge_jobs"  # NOTIFY'd in every transaction that makes jobs due
MIGRATION_LOCK = 0x6B62_0001  # pg_advisory_lock key: one replica migrates at a time
CONNECT_TIMEOUT_S = 10.0
ACQUIRE_TIMEOUT_S = 10.0  # all pooled connections busy this long: unavailable (503), not a hang
STATEMENT_TIMEOUT_S = 60.0  # a database that stops answering is unavailable, not a hang
POOL_MAX_SIZE = 10
LISTEN_RETRY_S = 1.0
# deadlock_detected, serialization_failure: the transaction was rolled back, run it again.
RERUN_SQLSTATES = frozenset({"40P01", "40001"})
RERUNS = 3  # a write runs at most 1 + RERUNS times; a fourth conflict in a row is unavailable
# Before rerun n, n times this, jittered by half: the two writers of a deadlock do not meet
# again in step, and a request waits a few ms, not the second PostgreSQL took to detect it.
RERUN_BACKOFF_S = 0.004

DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. a statement on a connection the server just closed
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
)

PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


def unavailable(exc: BaseException) -> StoreUnavailable:
    code = getattr(exc, "sqlstate", None)
    detail = f"{type(exc).__name__}{f' [{code}]' if code else ''}: {exc}"
    return StoreUnavailable(f"PostgreSQL store unavailable: {detail}")


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """The store boundary: driver errors leave as `StoreUnavailable`."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise unavailable(exc) from None


@cache
def bind(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` placeholders to asyncpg's `$n`; a name used twice is one parameter."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return PARAM.sub(number, sql), tuple(names)


class Queries:
    """The named queries of `sql/postgres/queries.sql`, called with keyword parameters."""

    def __init__(self) -> None:
        self._sql = queries.queries("postgres")

    def __call__(self, name: str, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        sql, names = bind(self._sql[name])
        return sql, [params[n] for n in names]

    async def execute(self, conn: asyncpg.Connection, name: str, **params: Any) -> str:
        sql, args = self(name, params)
        return str(await conn.execute(sql, *args))

    async def fetch(self, conn: asyncpg.Connection, name: str, **params: Any) -> list[Any]:
        sql, args = self(name, params)
        return list(await conn.fetch(sql, *args))

    async def fetchrow(self, conn: asyncpg.Connection, name: str, **params: Any) -> Any:
        sql, args = self(name, params)
        return await conn.fetchrow(sql, *args)

    async def fetchval(self, conn: asyncpg.Connection, name: str, **params: Any) -> Any:
        sql, args = self(name, params)
        return await conn.fetchval(sql, *args)


async def create_pool(url: str) -> asyncpg.Pool:
    """A pool on `url`, creating the database first when it does not exist yet."""
    try:
        return await _pool(url)
    except asyncpg.InvalidCatalogNameError:
        await create_database(url)
    for _ in range(20):  # another replica's CREATE DATABASE may still be finishing
        try:
            return await _pool(url)
        except asyncpg.InvalidCatalogNameError:
            await asyncio.sleep(0.25)
    return await _pool(url)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo when a connection goes back to the pool (asyncpg's release still rolls
    back a transaction left open, before it calls this).

    asyncpg's default sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on
    every release: one more round trip per statement, 6% of a drain's CPU and its latency
    (bench/drain.py --store postgres: fifo 702 -> 854 calls/s). Pooled connections here keep
    none of that state: advisory locks are transaction-scoped (the migration lock is unlocked
    by its own `finally`), LISTEN has a connection of its own, and nothing SETs a session
    setting or opens a cursor outside a transaction."""


async def _pool(url: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=POOL_MAX_SIZE,
        timeout=CONNECT_TIMEOUT_S,
        command_timeout=STATEMENT_TIMEOUT_S,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def create_database(url: str) -> None:
    """CREATE DATABASE for the URL's database name, connected to `postgres`; a race is fine."""
    name = unquote(urlsplit(url).path.lstrip("/"))
    if not name:
        raise StoreUnavailable("PostgreSQL URL names no database")
    conn = await asyncpg.connect(url, database="postgres", timeout=CONNECT_TIMEOUT_S)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        # Replicas starting at once race here: whoever loses finds the database made.
        with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE DATABASE {quoted}")
            log.info("created PostgreSQL database %s", quoted)
    finally:
        await conn.close()


async def apply_migrations(conn: asyncpg.Connection, now: float) -> list[str]:
    """Apply pending migrations, each in its own transaction, under an advisory lock.

    Replicas starting at once queue on the lock; the later ones find nothing left to apply.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(VERSION_TABLE)
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_version")}
        applied = []
        for migration in queries.migrations("postgres"):
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    now,
                )
            applied.append(f"{migration.version:04d}_{migration.name}")
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


class Listener:
    """LISTEN on one dedicated connection; calls `on_notify` for every NOTIFY on the channel.

    A dropped connection is reopened in the background; until then workers fall back to their
    poll interval, so a lost wake-up delays a job by at most one poll, never loses it.
    """

    def __init__(self, url: str, on_notify: Callable[[], None], *, ignore: str = "") -> None:
        self.url = url
        self.on_notify = on_notify
        self.ignore = ignore  # a payload to skip: the store's own, already delivered locally
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._keep_alive(), name="bridge-pg-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(*DRIVER_ERRORS):
                await self._conn.close(timeout=2)

    async def _connect(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._received)
        self._conn = conn

    def _received(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if not self.ignore or payload != self.ignore:
            self.on_notify()

    async def _keep_alive(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("PostgreSQL LISTEN connection lost; reconnecting")
            while True:
                await asyncio.sleep(LISTEN_RETRY_S)
                try:
                    await self._connect()
                except DRIVER_ERRORS as exc:
                    log.warning("cannot LISTEN on PostgreSQL yet: %s", exc)
                    continue
                self.on_notify()  # jobs may have become due while nobody listened
                break


async def rerun_on_conflict(attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, run again after a deadlock or serialization failure (RERUN_SQLSTATES), at
    most RERUNS times; any other error, or the last conflict, is raised as it came."""
    for rerun in range(1, RERUNS + 1):
        try:
            return await attempt()
        except asyncpg.PostgresError as exc:
            code = getattr(exc, "sqlstate", None)
            if code not in RERUN_SQLSTATES:
                raise
            log.info(
                "PostgreSQL rolled a write back (%s [%s]); running it again (%d of %d)",
                type(exc).__name__,
                code,
                rerun,
                RERUNS,
            )
        await asyncio.sleep(RERUN_BACKOFF_S * rerun * random.uniform(0.5, 1.5))
    return await attempt()


async def in_transaction(
    pool: asyncpg.Pool | None, op: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    """Run `op` in one transaction on a pooled connection; returns after COMMIT. A deadlock or
    serialization failure rolls it back and runs `op` again, in a new transaction."""
    if pool is None:
        raise StoreUnavailable("PostgreSQL store is not open")

    async def attempt(conn: Connection) -> T:
        async with conn.transaction():
            return await op(conn)

    async with translated(), pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        return await rerun_on_conflict(lambda: attempt(conn))


async def on_connection(
    pool: asyncpg.Pool | None,
    op: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    rerun: bool = False,
) -> T:
    """Run `op` on a pooled connection, without BEGIN (each statement sees committed data, and
    is a transaction of its own). `rerun`: `op` is one statement, run again after a deadlock or
    serialization failure (a read-only op has neither)."""
    if pool is None:
        raise StoreUnavailable("PostgreSQL store is not open")
    async with translated(), pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
        if rerun:
            return await rerun_on_conflict(lambda: op(conn))
        return await op(conn)


# -- the connector -----------------------------------------------------------------------------

Q = Queries()


class PostgresTx:
    """Named queries on one pooled connection. `:channel` and `:sender` are the connector's own
    parameters, for a query that NOTIFYs by itself (`accept`)."""

    def __init__(self, conn: Connection, sender: str) -> None:
        self.conn = conn
        self._own = {"channel": CHANNEL, "sender": sender}

    async def execute(self, name: str, **params: Any) -> int:
        return rowcount(await Q.execute(self.conn, name, **(self._own | params)))

    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        sql, names = bind(queries.queries("postgres")[name])
        args = [[(self._own | dict(row))[n] for n in names] for row in rows]
        await self.conn.executemany(sql, args)

    async def fetch(self, name: str, **params: Any) -> list[Row]:
        return await Q.fetch(self.conn, name, **(self._own | params))

    async def fetch_one(self, name: str, **params: Any) -> Row | None:
        return await Q.fetchrow(self.conn, name, **(self._own | params))

    async def fetch_value(self, name: str, **params: Any) -> Any:
        return await Q.fetchval(self.conn, name, **(self._own | params))

    async def notify(self) -> None:
        """Delivered at COMMIT (never for a rolled-back transaction) to every listening replica."""
        await self.execute("notify_jobs")


class PostgresConnector:
    """A pool on one database shared by every replica, and a LISTEN connection."""

    dialect = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: asyncpg.Pool | None = None
        self._listener: Listener | None = None
        self._callbacks: list[Callable[[], None]] = []
        # NOTIFY payload: this process's own notifications were delivered locally at commit.
        self.sender = uuid.uuid4().hex
        self._waking: asyncio.Task[None] | None = None
        self._wake_again = False

    async def open(self) -> None:
        try:
            self.pool = await create_pool(self.url)
            self._listener = Listener(self.url, self._notified, ignore=self.sender)
            await self._listener.start()
        except DRIVER_ERRORS as exc:
            await self.close()
            raise unavailable(exc) from None
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        waking, self._waking = self._waking, None
        if waking is not None:
            waking.cancel()
            await asyncio.gather(waking, return_exceptions=True)
        listener, self._listener = self._listener, None
        pool, self.pool = self.pool, None
        if listener is not None:
            await listener.stop()
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except DRIVER_ERRORS:  # includes the timeout
                pool.terminate()

    async def migrate(self, now: float) -> list[str]:
        return await on_connection(self.pool, lambda conn: apply_migrations(conn, now))

    def tx(self, conn: Connection) -> PostgresTx:
        """Named queries on a connection of the caller's own (tests hold one open)."""
        return PostgresTx(conn, self.sender)

    async def write(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        return await in_transaction(self.pool, lambda conn: op(self.tx(conn)))

    async def read(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        return await on_connection(self.pool, lambda conn: op(self.tx(conn)))

    async def statement(self, name: str, **params: Any) -> Row | None:
        """Without BEGIN/COMMIT: one statement is atomic on its own, one round trip (and run
        again whole after a deadlock: `accept`, `record_batch`)."""
        return await on_connection(
            self.pool, lambda conn: self.tx(conn).fetch_one(name, **params), rerun=True
        )

    def has_query(self, name: str) -> bool:
        return name in queries.queries("postgres")

    def listen(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def wake_others(self) -> None:
        """NOTIFY in a statement of its own, after the accept's commit. PostgreSQL serializes
        the commits of transactions that NOTIFY (a lock on the notification queue, held through
        the commit's WAL flush): NOTIFY inside every accept made them commit one at a time, and
        the receive rate followed (bench/soak.py). A lone NOTIFY writes no WAL, so the lock is
        brief; accepts that commit while one is on its way share the next."""
        if self._waking is not None and not self._waking.done():
            self._wake_again = True
            return
        self._waking = asyncio.create_task(self._send_wake_ups())

    async def _send_wake_ups(self) -> None:
        while True:
            self._wake_again = False
            try:
                await on_connection(self.pool, lambda conn: self.tx(conn).notify())
            except StoreUnavailable as exc:  # the other processes poll: a second, not lost
                log.warning("could not wake the other processes: %s", exc)
                return
            if not self._wake_again:
                return

    def _notified(self) -> None:
        for callback in self._callbacks:
            callback()
