"""What only the PostgreSQL store has to prove: replicas racing on one database, LISTEN/NOTIFY,
migrations under a lock, the schema file, and driver errors translated at the boundary."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bridge.delivery import queries
from bridge.delivery.clock import ManualClock
from bridge.delivery.connectors.postgres import PostgresConnector
from bridge.delivery.model import ClaimPolicy, Outcome
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store, StoreUnavailable
from tests.stores.conftest import postgres_dsn
from tests.stores.values import accept

pytestmark = pytest.mark.postgres

Fresh = Callable[..., str]
FIFO_POLICY = ClaimPolicy()
MakeReplica = Callable[..., Awaitable[Store]]


@pytest.fixture
async def replicas(
    fresh_postgres: Fresh, clock: ManualClock
) -> AsyncIterator[tuple[str, MakeReplica]]:
    """One database and `await replica()`: another store on it, as another process would open."""
    url = fresh_postgres()
    opened: list[Store] = []

    async def replica() -> Store:
        store = open_store(url, clock)
        assert isinstance(store.connector, PostgresConnector)
        await store.open()
        opened.append(store)
        return store

    yield url, replica
    for store in opened:
        await store.close()


async def _catalog(url: str) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    conn = await asyncpg.connect(url)
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name <> 'schema_version'"
        )
        indexes = await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename <> 'schema_version'"
        )
        return {tuple(r) for r in columns}, {tuple(r) for r in indexes}
    finally:
        await conn.close()


async def test_schema_file_equals_all_migrations_applied(fresh_postgres: Fresh) -> None:
    from_schema, migrated = fresh_postgres(template=None), fresh_postgres(template=None)
    conn = await asyncpg.connect(from_schema)
    try:
        await conn.execute(queries.schema("postgres"))
    finally:
        await conn.close()
    async with open_store(migrated, ManualClock()) as store:
        assert store.migrations_applied == [
            f"{m.version:04d}_{m.name}" for m in queries.migrations("postgres")
        ]
        assert await store.upgrade() == []  # idempotent

    schema_columns, schema_indexes = await _catalog(from_schema)
    assert len(schema_columns) > 40 and len(schema_indexes) > 8
    assert (schema_columns, schema_indexes) == await _catalog(migrated)


async def test_replicas_starting_at_once_migrate_once_and_create_the_database(
    fresh_postgres: Fresh,
) -> None:
    url = fresh_postgres(create=False)
    stores = [open_store(url, ManualClock()) for _ in range(3)]
    try:
        await asyncio.gather(*(store.open() for store in stores))
        applied = sorted(store.migrations_applied for store in stores)
        every = [f"{m.version:04d}_{m.name}" for m in queries.migrations("postgres")]
        assert applied == [[], [], every]
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_concurrent_claims_from_replicas_never_share_a_job(
    replicas: tuple[str, MakeReplica],
) -> None:
    _, replica = replicas
    stores = [await replica() for _ in range(3)]
    await accept(stores[0], range(1, 61))
    policy = ClaimPolicy(ordering="none", concurrency=1000, max_batch=7)
    claimed: list[int] = []

    async def claim_until_empty(store: Store, worker: str) -> None:
        for _ in range(200):
            claim = await store.claim("a", policy, worker_id=worker)
            claimed.extend(i for batch in claim.batches for i in batch.job_ids)
            if len(claimed) >= 60:
                return
            await asyncio.sleep(0)

    await asyncio.gather(
        *(claim_until_empty(s, f"w{i}-{k}") for i, s in enumerate(stores) for k in range(3))
    )
    assert sorted(claimed) == list(range(1, 61))


async def test_fifo_head_leased_by_one_replica_blocks_the_others(
    replicas: tuple[str, MakeReplica], clock: ManualClock
) -> None:
    _, replica = replicas
    one, two = await replica(), await replica()
    await accept(one, [1, 2])
    head = (await one.claim("a", ClaimPolicy(lease_s=30), worker_id="one")).batches[0]

    assert (await two.claim("a", ClaimPolicy(lease_s=30), worker_id="two")).batches == ()
    clock.advance(30)  # replica one died: its lease ran out
    taken = (await two.claim("a", ClaimPolicy(lease_s=30), worker_id="two")).batches
    assert [b.job_ids for b in taken] == [(1,)] and taken[0].delivery_id == head.delivery_id


async def test_a_debounce_window_is_one_batch_whichever_replica_received_the_events(
    replicas: tuple[str, MakeReplica], clock: ManualClock
) -> None:
    _, replica = replicas
    stores = [await replica() for _ in range(3)]
    for n, store in enumerate(stores * 4):
        await accept(store, [n + 1])
    clock.advance(60)
    policy = ClaimPolicy(debounce_s=60)

    claims = await asyncio.gather(
        *(s.claim("a", policy, worker_id=f"w{i}") for i, s in enumerate(stores * 3))
    )

    batches = [b for claim in claims for b in claim.batches]
    assert [b.job_ids for b in batches] == [tuple(range(1, 13))]


async def test_an_accept_on_one_replica_wakes_the_workers_of_another(
    replicas: tuple[str, MakeReplica],
) -> None:
    _, replica = replicas
    sender, idle = await replica(), await replica()
    woken = asyncio.Event()
    idle.add_listener(woken.set)

    await accept(sender, [1])

    await asyncio.wait_for(woken.wait(), timeout=5)


async def test_the_listener_reconnects_after_its_connection_is_killed(
    replicas: tuple[str, MakeReplica],
) -> None:
    url, replica = replicas
    sender, idle = await replica(), await replica()
    woken = asyncio.Event()
    idle.add_listener(woken.set)
    admin = await asyncpg.connect(postgres_dsn())
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.rsplit("/", 1)[1],
        )
    finally:
        await admin.close()
    assert killed >= 2

    async def woken_by_an_accept() -> None:
        for n in range(1, 100):
            woken.clear()
            try:
                await accept(sender, [n])
            except StoreUnavailable:  # a pooled connection killed under us: the next one works
                continue
            try:
                await asyncio.wait_for(woken.wait(), timeout=0.5)
                return
            except TimeoutError:
                continue

    await asyncio.wait_for(woken_by_an_accept(), timeout=15)


async def test_driver_errors_become_store_unavailable(
    replicas: tuple[str, MakeReplica], clock: ManualClock
) -> None:
    url, replica = replicas
    store = await replica()
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("DROP TABLE jobs")
    finally:
        await admin.close()

    with pytest.raises(StoreUnavailable, match=r"UndefinedTableError \[42P01\]"):
        await accept(store, [1])
    with pytest.raises(StoreUnavailable):
        await store.deliveries()
    with pytest.raises(StoreUnavailable):
        await store.prune(before=clock.now())


async def test_an_unreachable_server_or_a_closed_store_is_unavailable(
    replicas: tuple[str, MakeReplica],
) -> None:
    unreachable = open_store("postgresql://postgres@127.0.0.1:1/nothing", ManualClock())
    with pytest.raises(StoreUnavailable, match="unavailable"):
        await unreachable.open()

    _, replica = replicas
    store = await replica()
    await store.close()
    with pytest.raises(StoreUnavailable, match="not open"):
        await accept(store, [1])
    with pytest.raises(StoreUnavailable):
        await store.claim("a", ClaimPolicy(), worker_id="w")


async def test_fifo_head_waits_for_a_smaller_job_id_still_being_committed(
    replicas: tuple[str, MakeReplica], clock: ManualClock
) -> None:
    """Ids come from a sequence at insert, visibility at commit: the claim must not pass by."""
    from bridge.delivery.accepting import insert_jobs
    from tests.stores.values import notification, planned

    url, replica = replicas
    store = await replica()
    await accept(store, [1])  # job 1 (and the action's row)
    first = (await store.claim("a", FIFO_POLICY, worker_id="w")).batches[0]
    await store.record(first, Outcome("succeeded", clock.now(), clock.now()))
    slow = await asyncpg.connect(url)
    try:
        transaction = slow.transaction()
        await transaction.start()
        assert isinstance(store.connector, PostgresConnector)
        slow_tx = store.connector.tx(slow)
        await insert_jobs(slow_tx, [planned(notification(2), "a")], clock.now(), None)  # job 2
        await accept(store, [3])  # job 3, committed first

        claiming = asyncio.ensure_future(store.claim("a", FIFO_POLICY, worker_id="w"))
        done, _ = await asyncio.wait([claiming], timeout=0.3)
        assert not done, "the claim did not wait for the uncommitted job 1"
        await transaction.commit()
        claim = await asyncio.wait_for(claiming, timeout=5)
    finally:
        await slow.close()
    assert [b.job_ids for b in claim.batches] == [(2,)]


async def test_a_fifo_action_called_by_another_replica_is_skipped_without_its_locks(
    replicas: tuple[str, MakeReplica], clock: ManualClock
) -> None:
    """While replica one calls a fifo action's head, replica two's claim of it (at every
    wake-up, every accept's NOTIFY) took the order lock exclusively before finding the head
    leased: it waited for every accept still committing, and every new accept for the action
    queued behind it. Three replicas receiving 80/s delivered the fifo action at 20-50 calls/s.
    Now it returns at once, claiming nothing, and accepts go on."""
    from bridge.delivery.accepting import insert_jobs
    from tests.stores.values import notification, planned

    url, replica = replicas
    one, two = await replica(), await replica()
    await accept(one, [1, 2])
    policy = ClaimPolicy(lease_s=30, prefetch=64)
    head = (await one.claim("a", policy, worker_id="one")).batches  # one calls them in order
    assert [b.job_ids for b in head] == [(1,), (2,)]
    slow = await asyncpg.connect(url)  # an accept still committing: the order lock, shared
    try:
        transaction = slow.transaction()
        await transaction.start()
        assert isinstance(one.connector, PostgresConnector)
        job_3 = [planned(notification(3), "a")]
        await insert_jobs(one.connector.tx(slow), job_3, clock.now(), None)

        claim = await asyncio.wait_for(two.claim("a", policy, worker_id="two"), timeout=2)
        assert claim.batches == ()
        await asyncio.wait_for(accept(one, [4]), timeout=2)  # not queued behind a claim
        await transaction.commit()
    finally:
        await slow.close()
    for batch in head:
        await one.record(batch, Outcome("succeeded", clock.now(), clock.now()))
    taken = (await two.claim("a", policy, worker_id="two")).batches
    assert [b.job_ids for b in taken] == [(3,), (4,)]  # then the next head, in order
    clock.advance(31)  # two died: once its lease ran out, one takes its jobs over
    retaken = (await one.claim("a", policy, worker_id="one")).batches
    assert [(b.job_ids, b.delivery_id) for b in retaken] == [
        (b.job_ids, b.delivery_id) for b in taken
    ]


async def test_every_named_query_prepares(fresh_postgres: Fresh) -> None:
    """Parsed and typed by the server, also the ones no other test happens to run."""
    from bridge.delivery.connectors.postgres import bind

    conn = await asyncpg.connect(fresh_postgres())
    try:
        for name, sql in queries.queries("postgres").items():
            try:
                await conn.prepare(bind(sql)[0])
            except asyncpg.PostgresError as exc:
                pytest.fail(f"query {name}: {exc}")
    finally:
        await conn.close()


async def test_a_store_is_not_woken_twice_by_its_own_notify(
    replicas: tuple[str, MakeReplica],
) -> None:
    """Its own commits wake its workers directly; the echo through LISTEN is skipped."""
    from bridge.delivery.connectors.postgres import CHANNEL, Listener

    url, _ = replicas
    calls: list[int] = []
    woken = asyncio.Event()

    def wake() -> None:
        calls.append(1)
        woken.set()

    listener = Listener(url, wake, ignore="me")
    await listener.start()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_notify($1, 'me')", CHANNEL)
        await conn.execute("SELECT pg_notify($1, 'other')", CHANNEL)  # delivered in order
        await asyncio.wait_for(woken.wait(), timeout=5)
    finally:
        await conn.close()
        await listener.stop()
    assert calls == [1]


async def test_a_store_with_every_connection_busy_is_unavailable_not_hanging(
    replicas: tuple[str, MakeReplica], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.delivery.connectors import postgres as postgres_db

    monkeypatch.setattr(postgres_db, "ACQUIRE_TIMEOUT_S", 0.2)
    _, replica = replicas
    store = await replica()
    assert isinstance(store.connector, PostgresConnector)
    pool = store.connector.pool
    assert pool is not None
    held = [await pool.acquire() for _ in range(postgres_db.POOL_MAX_SIZE)]
    try:
        with pytest.raises(StoreUnavailable, match="TimeoutError"):
            await asyncio.wait_for(accept(store, [1]), timeout=5)
    finally:
        for conn in held:
            await pool.release(conn)
    await accept(store, [1])  # and it recovers once connections are free


async def _deadlock_table(url: str) -> None:
    """Two rows to lock in opposite orders; this database's sessions detect a deadlock after
    100 ms (the server's default second would make the test slow, not different)."""
    admin = await asyncpg.connect(url)
    try:
        await admin.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        await admin.execute("INSERT INTO scratch VALUES (1, 0), (2, 0)")
        database = await admin.fetchval("SELECT current_database()")
        await admin.execute(f"ALTER DATABASE \"{database}\" SET deadlock_timeout = '100ms'")
    finally:
        await admin.close()


async def _rows(url: str) -> dict[int, int]:
    conn = await asyncpg.connect(url)
    try:
        return {row["id"]: row["n"] for row in await conn.fetch("SELECT id, n FROM scratch")}
    finally:
        await conn.close()


async def _hold_row_one(url: str) -> tuple[asyncpg.Connection, asyncpg.transaction.Transaction]:
    """Another writer: row 1 locked in an open transaction. Its deadlock_timeout is longer
    than the store's, so the store's transaction is the one PostgreSQL picks as the victim."""
    other = await asyncpg.connect(url)
    await other.execute("SET deadlock_timeout = '10s'")
    transaction = other.transaction()
    await transaction.start()
    await other.execute("UPDATE scratch SET n = n + 1 WHERE id = 1")
    return other, transaction


@pytest.mark.timeout(30)
async def test_a_write_that_deadlocks_is_run_again_and_commits(
    fresh_postgres: Fresh, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the deadlock's victim left the store as StoreUnavailable (a 503, a failed
    record). Now the connector rolls it back and runs the whole transaction again."""
    caplog.set_level(logging.INFO, logger="bridge.delivery.connectors.postgres")
    url = fresh_postgres()
    await _deadlock_table(url)
    connector = PostgresConnector(url)
    await connector.open()
    other, transaction = await _hold_row_one(url)
    runs: list[str] = []
    holds_row_two = asyncio.Event()

    async def op(tx: Any) -> int:  # row 2, then row 1: the other writer's opposite order
        runs.append("run")
        await tx.conn.execute("UPDATE scratch SET n = n + 10 WHERE id = 2")
        holds_row_two.set()
        await tx.conn.execute("UPDATE scratch SET n = n + 10 WHERE id = 1")
        return len(runs)

    try:
        writing = asyncio.ensure_future(connector.write(op))
        await asyncio.wait_for(holds_row_two.wait(), timeout=5)
        # Waits for the store's row 2 while the store waits for row 1: PostgreSQL aborts the
        # store's transaction (40P01), which releases row 2, and this update goes through.
        await other.execute("UPDATE scratch SET n = n + 1 WHERE id = 2")
        await transaction.commit()
        assert await asyncio.wait_for(writing, timeout=10) == 2  # the second run committed
    finally:
        await other.close()
        await connector.close()
    assert runs == ["run", "run"]
    assert await _rows(url) == {1: 11, 2: 11}  # the other writer's 1 and the store's 10, once
    assert [r.getMessage() for r in caplog.records if "rolled a write back" in r.getMessage()] == [
        "PostgreSQL rolled a write back (DeadlockDetectedError [40P01]); running it again (1 of 3)"
    ]


@pytest.mark.timeout(30)
async def test_a_statement_that_deadlocks_is_run_again(fresh_postgres: Fresh) -> None:
    """`statement` (accept, record_batch) is one statement without BEGIN: run again whole."""
    from bridge.delivery.connectors.postgres import on_connection

    url = fresh_postgres()
    await _deadlock_table(url)
    connector = PostgresConnector(url)
    await connector.open()
    other, transaction = await _hold_row_one(url)
    runs: list[str] = []
    # One statement locking row 2, then row 1.
    both = (
        "DO $$ BEGIN UPDATE scratch SET n = n + 10 WHERE id = 2; "
        "UPDATE scratch SET n = n + 10 WHERE id = 1; END $$"
    )

    async def statement(conn: asyncpg.Connection) -> str:
        runs.append("run")
        return str(await conn.execute(both))

    try:
        writing = asyncio.ensure_future(on_connection(connector.pool, statement, rerun=True))
        # The statement holds row 2 once it waits for row 1. PostgreSQL tells nobody when a
        # backend starts waiting for a lock, so there is no event to await: its state is read
        # (in this test's database: other sessions share the server).
        waiting = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        while not await other.fetchval(waiting):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await other.execute("UPDATE scratch SET n = n + 1 WHERE id = 2")
        await transaction.commit()
        assert await asyncio.wait_for(writing, timeout=10) == "DO"
    finally:
        await other.close()
        await connector.close()
    assert runs == ["run", "run"]
    assert await _rows(url) == {1: 11, 2: 11}


async def test_conflicts_are_run_again_a_few_times_and_other_errors_never(
    fresh_postgres: Fresh,
) -> None:
    from bridge.delivery.connectors.postgres import RERUNS

    connector = PostgresConnector(fresh_postgres())
    await connector.open()
    runs: list[str] = []

    async def conflicting(tx: Any) -> None:
        runs.append("run")
        raise asyncpg.exceptions.SerializationError("could not serialize access")

    async def wrong(tx: Any) -> None:
        runs.append("run")
        await tx.conn.execute("SELECT * FROM no_such_table")

    try:
        with pytest.raises(StoreUnavailable, match=r"SerializationError \[40001\]"):
            await connector.write(conflicting)
        assert len(runs) == 1 + RERUNS
        runs.clear()
        with pytest.raises(StoreUnavailable, match=r"UndefinedTableError \[42P01\]"):
            await connector.write(wrong)
        assert runs == ["run"]
    finally:
        await connector.close()
