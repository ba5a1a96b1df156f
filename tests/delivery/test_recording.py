"""Attempts recorded together (SQLite): one commit, and what recording them one by one gives."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bridge.delivery.clock import ManualClock
from bridge.delivery.connectors.sqlite import SqliteConnector
from bridge.delivery.model import Batch, ClaimPolicy, Episode, JobDetail, Outcome
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store
from tests.stores.values import accept

PARALLEL = ClaimPolicy(ordering="none", concurrency=4)


def outcomes(now: float) -> list[Outcome]:
    """Success, failure, success, dead: each failure ends a run of the group."""
    return [
        Outcome("succeeded", now, now + 1, status=200),
        Outcome("retrying", now, now + 2, status=502, error="bad gateway", due_at=now + 60),
        Outcome("succeeded", now, now + 3, status=200),
        Outcome("dead", now, now + 4, status=410, error="gone"),
    ]


async def claimed(tmp_path: Path, name: str) -> tuple[Store, list[Batch]]:
    store = open_store(f"sqlite:///{tmp_path}/{name}.db", ManualClock(1000.0))
    await store.open()
    await accept(store, [1, 2, 3, 4])
    claim = await store.claim("a", PARALLEL, worker_id="w")
    return store, sorted(claim.batches, key=lambda b: b.job_ids[0])


def shown(job: JobDetail | None) -> tuple[object, ...]:
    assert job is not None
    attempts = [(a.number, a.outcome, a.status, a.error) for a in job.attempts]
    return (job.state, job.last_status, job.last_error, job.next_attempt_at, attempts)


async def test_attempts_finishing_together_share_one_commit_and_match_one_by_one(
    tmp_path: Path,
) -> None:
    together, batches = await claimed(tmp_path, "together")
    alone, same = await claimed(tmp_path, "alone")
    try:
        assert isinstance(together.connector, SqliteConnector)
        commits = together.connector.db.commits
        grouped = await asyncio.gather(
            *(together.record(b, o) for b, o in zip(batches, outcomes(1000.0), strict=True))
        )
        assert together.connector.db.commits == commits + 1
        sequential = [await alone.record(b, o) for b, o in zip(same, outcomes(1000.0), strict=True)]
        assert grouped == sequential
        # The success at 1003 does not end the episode: job 2 is still waiting for its retry.
        assert grouped == [
            Episode("a", None),
            Episode("a", 1002.0),
            Episode("a", 1002.0),
            Episode("a", 1002.0),
        ]
        for batch in batches:
            job_id = batch.job_ids[0]
            assert shown(await together.job(job_id)) == shown(await alone.job(job_id))
        assert await together.action_states() == await alone.action_states()
    finally:
        await together.close()
        await alone.close()


async def test_an_attempt_after_its_lease_was_taken_over_changes_no_job(tmp_path: Path) -> None:
    store, batches = await claimed(tmp_path, "late")
    try:
        late = Batch(batches[0].delivery_id, "a", batches[0].jobs, "another-worker", 0.0)
        now = store.clock.now()
        await asyncio.gather(
            store.record(late, Outcome("succeeded", now, now, status=200)),
            store.record(batches[1], Outcome("succeeded", now, now, status=200)),
        )
        states = [getattr(await store.job(b.job_ids[0]), "state", None) for b in batches[:2]]
        assert states == ["running", "succeeded"]
    finally:
        await store.close()


async def test_a_success_while_a_retried_job_still_fails_leaves_the_episode_open(
    tmp_path: Path,
) -> None:
    """Job 1 failed and is being retried when job 2 succeeds, then fails again. Recorded
    together, the success ended the episode (job 1's attempt, written with it, was not counted
    as still failing) and the failure began a new one: "failing for 1 hour" an hour late."""
    found = []
    for name in ("together", "alone"):
        store, batches = await claimed(tmp_path, name)
        try:
            now = store.clock.now()
            failed = Outcome("retrying", now, now, status=502, error="bad", due_at=now + 60)
            await store.record(batches[0], failed)
            assert isinstance(store.clock, ManualClock)
            store.clock.advance(60)
            [retry] = (await store.claim("a", PARALLEL, worker_id="w")).batches
            now = store.clock.now()
            group = [
                (batches[1], Outcome("succeeded", now, now, status=200)),
                (retry, Outcome("retrying", now, now + 1, status=502, due_at=now + 120)),
            ]
            if name == "together":
                episodes = list(await asyncio.gather(*(store.record(b, o) for b, o in group)))
            else:
                episodes = [await store.record(b, o) for b, o in group]
            found.append((episodes, await store.action_states()))
        finally:
            await store.close()
    assert found[0] == found[1]
    assert [e.failing_since for e in found[0][0]] == [1000.0, 1000.0]
