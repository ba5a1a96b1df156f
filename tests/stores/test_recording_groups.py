"""Attempts recorded together give what recording them one by one, in order, gives: both stores.

Two stores with the same history; one records a group of attempts at once (one SQLite
transaction; one PostgreSQL `record_batch` statement per action), the other one at a time. The
episodes each caller gets, the jobs, their attempt logs and the actions' states must agree.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from bridge.delivery.clock import ManualClock
from bridge.delivery.model import Batch, ClaimPolicy, Episode, Outcome
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store, StoreUnavailable
from tests.stores.values import accept

pytestmark = pytest.mark.timeout(60)

ANY = ClaimPolicy(ordering="none", concurrency=100, lease_s=3600)
START = 1000.0
# One attempt of the group: (action, job id, what it does). "late": the attempt of a worker
# whose lease was taken over (it must count nowhere); the rest are Outcome states.
Step = tuple[str, int, str]
Pair = tuple[Store, Store]


@pytest.fixture
async def pair(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[], Awaitable[Pair]]]:
    """`grouped, alone = await pair()`: two stores on two empty databases, one clock each."""
    opened: list[Store] = []

    def url(name: str) -> str:
        if store_kind == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        return str(request.getfixturevalue("fresh_postgres")())

    async def make() -> Pair:
        stores = []
        for name in ("grouped", "alone"):
            store = open_store(url(f"{name}{len(opened)}"), ManualClock(START))
            await store.open()
            opened.append(store)
            stores.append(store)
        return stores[0], stores[1]

    yield make
    for store in opened:
        await store.close()


def outcome(state: str, at: float) -> Outcome:
    if state == "succeeded":
        return Outcome("succeeded", at - 0.5, at, status=200, response="ok")
    if state == "dead":
        return Outcome("dead", at - 0.5, at, status=410, error="gone", first_failure_at=at)
    return Outcome(
        "retrying",
        at - 0.5,
        at,
        status=503,
        error="HTTP 503",
        due_at=at + 30,
        retry_index=1,
        first_failure_at=at,
    )


async def history(store: Store, failed_before: Sequence[int]) -> dict[int, Batch]:
    """Jobs 1-6 of action `a` and 7-9 of `b`, every one claimed; those in `failed_before` failed
    once first and are being retried (running, one failure behind them)."""
    clock = store.clock
    assert isinstance(clock, ManualClock)
    await accept(store, range(1, 7), actions=("a",))
    await accept(store, range(7, 10), actions=("b",))
    batches = {}
    for action in ("a", "b"):
        for batch in (await store.claim(action, ANY, worker_id="w")).batches:
            batches[batch.job_ids[0]] = batch
    for job_id in failed_before:
        await store.record(batches[job_id], outcome("retrying", store.clock.now()))
    clock.advance(60)
    for action in ("a", "b"):
        for batch in (await store.claim(action, ANY, worker_id="w")).batches:
            batches[batch.job_ids[0]] = batch
    clock.advance(1)
    return batches


def attempts(batches: dict[int, Batch], steps: Sequence[Step], now: float) -> list[Any]:
    found = []
    for n, (_, job_id, state) in enumerate(steps):
        batch = batches[job_id]
        if state == "late":
            batch = Batch(batch.delivery_id, batch.action, batch.jobs, "taken-over", 0.0)
            state = "succeeded"
        found.append((batch, outcome(state, now + n)))
    return found


async def shown(store: Store) -> tuple[Any, ...]:
    jobs = []
    for job_id in range(1, 10):
        detail = await store.job(job_id)
        assert detail is not None
        log = [(a.number, a.outcome, a.status, a.finished_at) for a in detail.attempts]
        jobs.append((detail.row, log))
    return tuple(jobs), tuple(await store.action_states())


async def grouped_and_alone(
    pair: Callable[[], Awaitable[Pair]], steps: Sequence[Step], failed_before: Sequence[int]
) -> list[Episode]:
    grouped, alone = await pair()
    together = attempts(await history(grouped, failed_before), steps, grouped.clock.now())
    one_by_one = attempts(await history(alone, failed_before), steps, alone.clock.now())

    episodes = await asyncio.gather(*(grouped.record(b, o) for b, o in together))
    expected = [await alone.record(b, o) for b, o in one_by_one]

    assert episodes == expected
    assert await shown(grouped) == await shown(alone)
    return episodes


async def test_a_success_while_a_retried_job_still_fails_keeps_the_episode(
    pair: Callable[[], Awaitable[Pair]],
) -> None:
    """Job 1 failed before and is being retried when job 2 succeeds, then fails again: the
    episode that began with its first failure goes on (written together, the success ended it
    and the failure began a new one: "failing for 1 hour" came an hour late)."""
    episodes = await grouped_and_alone(pair, [("a", 2, "succeeded"), ("a", 1, "retrying")], [1])
    assert [e.failing_since for e in episodes] == [START, START]


async def test_a_success_before_a_retried_job_succeeds_does_not_end_the_episode_early(
    pair: Callable[[], Awaitable[Pair]],
) -> None:
    """The first success leaves job 1's episode open ("recovered" is for the second)."""
    steps = [("a", 2, "succeeded"), ("a", 1, "succeeded"), ("a", 3, "succeeded")]
    episodes = await grouped_and_alone(pair, steps, [1])
    assert [e.failing_since for e in episodes] == [START, None, None]


async def test_late_results_count_nowhere_and_get_the_episode_as_it_stood(
    pair: Callable[[], Awaitable[Pair]],
) -> None:
    steps = [("a", 1, "retrying"), ("a", 2, "late"), ("a", 3, "succeeded"), ("b", 7, "late")]
    episodes = await grouped_and_alone(pair, steps, [])
    assert [(e.failing_since, e.recorded) for e in episodes] == [
        (START + 61, True),
        (START + 61, False),
        (START + 61, True),  # job 1 waits for its retry
        (None, False),
    ]


@pytest.mark.parametrize("seed", range(12))
async def test_any_group_matches_one_by_one(pair: Callable[[], Awaitable[Pair]], seed: int) -> None:
    """Random groups over two actions: successes, failures, dead jobs, late results, with some
    jobs failing since before the group."""
    chance = random.Random(seed)
    job_ids = list(range(1, 10))
    chance.shuffle(job_ids)
    count = chance.randint(2, 9)
    states = ["succeeded"] * 4 + ["retrying"] * 2 + ["dead", "late"]
    steps = [("a" if j <= 6 else "b", j, chance.choice(states)) for j in job_ids[:count]]
    failed_before = sorted(chance.sample(range(1, 10), chance.randint(0, 3)))
    await grouped_and_alone(pair, steps, failed_before)


class Writes:
    """Counts a store's writes: transactions (`write`) and one-statement writes, by query."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch, *, fail: str = "") -> None:
        self.transactions = 0
        self.statements: list[str] = []
        self._fail = fail  # the first statement for this action fails
        connector = store.connector
        write, statement = connector.write, connector.statement

        async def counted_write(op: Any) -> Any:
            self.transactions += 1
            return await write(op)

        async def counted_statement(name: str, **values: Any) -> Any:
            self.statements.append(f"{name} {values.get('action')}")
            if self._fail and values.get("action") == self._fail:
                self._fail = ""
                raise StoreUnavailable("refused")
            return await statement(name, **values)

        monkeypatch.setattr(connector, "write", counted_write)
        monkeypatch.setattr(connector, "statement", counted_statement)


async def test_a_group_is_one_write_per_action_on_postgresql_and_one_on_sqlite(
    pair: Callable[[], Awaitable[Pair]], monkeypatch: pytest.MonkeyPatch
) -> None:
    grouped, _ = await pair()
    batches = await history(grouped, [])
    steps = [("a", 1, "succeeded"), ("b", 7, "retrying"), ("a", 2, "succeeded")]
    steps += [("a", 3, "dead"), ("b", 8, "succeeded"), ("a", 4, "succeeded")]
    writes = Writes(grouped, monkeypatch)

    found = await asyncio.gather(
        *(grouped.record(b, o) for b, o in attempts(batches, steps, grouped.clock.now()))
    )

    assert all(episode.recorded for episode in found)
    if grouped.connector.dialect == "sqlite":
        assert (writes.transactions, writes.statements) == (1, [])
    else:
        assert writes.transactions == 0
        assert sorted(writes.statements) == ["record_batch a", "record_batch b"]


# PostgreSQL only: SQLite writes a group in one transaction, so all of it is written again.
@pytest.mark.parametrize(
    "store_kind", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_postgresql_writes_again_one_by_one_only_the_action_whose_statement_failed(
    pair: Callable[[], Awaitable[Pair]], monkeypatch: pytest.MonkeyPatch
) -> None:
    grouped, _ = await pair()
    batches = await history(grouped, [])
    steps = [("a", 1, "succeeded"), ("b", 7, "succeeded"), ("a", 2, "succeeded")]
    steps += [("b", 8, "retrying")]
    writes = Writes(grouped, monkeypatch, fail="b")

    found = await asyncio.gather(
        *(grouped.record(b, o) for b, o in attempts(batches, steps, grouped.clock.now()))
    )

    now = grouped.clock.now()
    assert [(e.action, e.failing_since, e.recorded) for e in found] == [
        ("a", None, True),
        ("b", None, True),
        ("a", None, True),
        ("b", now + 3, True),
    ]
    assert sorted(writes.statements) == ["record_batch a"] + ["record_batch b"] * 3
    states = {job_id: getattr(await grouped.job(job_id), "state", None) for job_id in (1, 2, 7, 8)}
    assert states == {1: "succeeded", 2: "succeeded", 7: "succeeded", 8: "retrying"}
