"""The store conformance fixtures: every test runs against SQLite and PostgreSQL alike.

PostgreSQL comes from BRIDGE_TEST_POSTGRES_DSN (a real server). A template database with the
schema applied is built once per session; each test gets `CREATE DATABASE ... TEMPLATE` of its
own, dropped afterwards. Without the variable the PostgreSQL cases are skipped, with the reason
printed, except in CI (CI=true), where a missing server is a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bridge.delivery import queries
from bridge.delivery.clock import ManualClock
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store

T = TypeVar("T")
DSN_VARIABLE = "BRIDGE_TEST_POSTGRES_DSN"
MakeStore = Callable[..., Awaitable[Store]]


def postgres_dsn() -> str:
    """The server's DSN, or skip (fail in CI) saying why."""
    dsn = os.environ.get(DSN_VARIABLE)
    if dsn:
        return dsn
    reason = f"{DSN_VARIABLE} is not set: PostgreSQL store tests need a real server"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required in CI)")
    print(f"SKIPPED: {reason}")
    pytest.skip(reason)


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _template_name() -> str:
    sql = "".join(m.sql for m in queries.migrations("postgres"))
    return f"bridge_tpl_{hashlib.sha256(sql.encode()).hexdigest()[:10]}"


async def _build_template(dsn: str) -> str:
    """Once per schema version: built under a temporary name, then renamed into place."""
    name = _template_name()
    admin = await asyncpg.connect(dsn)
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return name
        building = f"bridge_tpl_build_{uuid.uuid4().hex[:8]}"
        store = open_store(with_database(dsn, building), ManualClock())
        await store.open()  # creates the database and applies the migrations
        await store.close()
        try:
            await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        except asyncpg.DuplicateDatabaseError:  # another session won the race
            await admin.execute(f'DROP DATABASE "{building}"')
        return name
    finally:
        await admin.close()


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion in a thread of its own (callers may be inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(lambda: asyncio.run(_await(make))).result()


async def _await(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> str:
    dsn = postgres_dsn()
    return run_sync(lambda: _build_template(dsn))


@pytest.fixture
def fresh_postgres(postgres_template: str) -> Iterator[Callable[..., str]]:
    """`fresh()`: the URL of a new database with the schema applied, dropped after the test;
    `fresh(template=None)`: an empty one; `fresh(create=False)`: a name only (also dropped)."""
    dsn = postgres_dsn()
    created: list[str] = []

    def fresh(template: str | None = postgres_template, *, create: bool = True) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        source = f' TEMPLATE "{template}"' if template else ""
        if create:
            run_sync(lambda: _admin(dsn, f'CREATE DATABASE "{name}"{source}'))
        created.append(name)
        return with_database(dsn, name)

    yield fresh
    drops = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in created]
    if drops:
        run_sync(lambda: _admin(dsn, *drops))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store_kind == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    fresh = request.getfixturevalue("fresh_postgres")
    return str(fresh())


@pytest.fixture
async def make_store(store_url: str, clock: ManualClock) -> AsyncIterator[MakeStore]:
    """`await make_store()`: another opened store on the same database (a second replica)."""
    opened: list[Store] = []

    async def make(retention_s: float = 3 * 86400) -> Store:
        store = open_store(store_url, clock, retention_s=retention_s)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    return await make_store()


@pytest.fixture
def wakeups() -> Iterator[Callable[[Store], asyncio.Event]]:
    """`woken = wakeups(store)`: an Event set whenever the store calls its listeners."""

    def register(store: Store) -> asyncio.Event:
        event = asyncio.Event()
        store.add_listener(event.set)
        return event

    yield register
