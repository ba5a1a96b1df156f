"""Recording attempts in groups: calls that finish together share one write.

A drain finishes hundreds of calls a second; recorded one by one, each is a transaction of its
own (SQLite: five statements run on the event loop; PostgreSQL: a round trip and a commit).
Here the attempts that finish while the previous group is being written form the next group,
written in the order the calls finished:

* SQLite: one transaction in which each part of the attempt (`record_jobs`, `record_attempts`)
  is one prepared statement run once per batch, then each action's row is written once
  (`set_episode`).
* PostgreSQL: one `record_batch` statement per action of the group (one round trip each,
  atomic on its own; the actions' statements at once, on connections of their own). Never one
  transaction for several actions: it would hold one action's rows while it waits for
  another's, which a replica's claim holds while it waits for the accepts that wait for the
  first (a deadlock, seen in the replica test).

Each caller gets the episode its attempt left, as if the attempts had been recorded one after
the other in their order (episodes.py; PostgreSQL's statement works it out the same way).

A group that cannot be written is written again one attempt at a time, so that one attempt the
database refuses does not take the others down; on PostgreSQL only the attempts of the action
whose statement failed are (the other actions' are committed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bridge.delivery import episodes, params, rows
from bridge.delivery.connectors import Connector, Row, Tx
from bridge.delivery.model import Batch, Episode, Outcome

log = logging.getLogger(__name__)

MAX_GROUP = 500
Attempt = tuple[Batch, Outcome]
Pending = tuple[Batch, Outcome, "asyncio.Future[Episode]"]


class AttemptRecorder:
    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self._pending: list[Pending] = []
        self._writing: asyncio.Task[None] | None = None
        self._by_statement = connector.has_query("record_batch")

    async def record(self, batch: Batch, outcome: Outcome) -> Episode:
        """Record one attempt (with the group it joins); returns after its commit."""
        future: asyncio.Future[Episode] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, outcome, future))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write_groups())
        return await future

    async def _write_groups(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                await asyncio.gather(*(self._write_part(part) for part in self._parts(group)))
        finally:
            self._writing = None
            if self._pending:  # cancelled mid-way: the queue keeps moving
                self._writing = asyncio.create_task(self._write_groups())

    def _parts(self, group: list[Pending]) -> list[list[Pending]]:
        """What is written as one: the whole group (SQLite), or each action's attempts."""
        if not self._by_statement:
            return [group]
        by_action: dict[str, list[Pending]] = {}
        for pending in group:
            by_action.setdefault(pending[0].action, []).append(pending)
        return list(by_action.values())

    async def _write_part(self, part: list[Pending]) -> None:
        attempts = [(batch, outcome) for batch, outcome, _ in part]
        futures = [future for _, _, future in part]
        try:
            episodes = await self._write(attempts)
        except Exception as exc:
            if len(part) == 1:
                _fail(futures[0], exc)
                return
            # One attempt that cannot be written must not take the others down.
            log.warning("recording %d attempts together failed (%s)", len(part), exc)
            await self._write_one_by_one(attempts, futures)
            return
        for future, episode in zip(futures, episodes, strict=True):
            if not future.done():
                future.set_result(episode)

    async def _write_one_by_one(
        self, attempts: Sequence[Attempt], futures: Sequence[asyncio.Future[Episode]]
    ) -> None:
        for attempt, future in zip(attempts, futures, strict=True):
            try:
                (episode,) = await self._write([attempt])
            except Exception as exc:
                _fail(future, exc)
            else:
                if not future.done():
                    future.set_result(episode)

    async def _write(self, attempts: Sequence[Attempt]) -> list[Episode]:
        if self._by_statement:  # attempts of one action (_parts)
            action = attempts[0][0].action
            values = params.record_batch_params(action, attempts)
            row = await self.connector.statement("record_batch", **values)
            assert row is not None
            alerted = row["alerted"]
            return [
                rows.episode(action, {"failing_since": since, "alerted": alerted}, recorded=counted)
                for since, counted in zip(row["failing_since"], row["recorded"], strict=True)
            ]
        return await self.connector.write(lambda tx: _record_group(tx, attempts))


async def _record_group(tx: Tx, attempts: Sequence[Attempt]) -> list[Episode]:
    """Each attempt's episode, in order (episodes.py works them out from what the group reads
    before it writes). An attempt whose worker no longer holds its jobs (its lease ran out and
    another worker took them over) is written nowhere: not on the jobs, not in their attempt
    log (its number is the other worker's), not in the action's episode; it gets the episode as
    the attempts before it left it."""
    ids = [job_id for batch, _ in attempts for job_id in batch.job_ids]
    running = await tx.fetch("held_jobs", ids=ids)
    holders = {row["id"]: row["claimed_by"] for row in running}
    held = [
        tuple(j for j in batch.job_ids if holders.get(j) == batch.claimed_by)
        for batch, _ in attempts
    ]
    steps: dict[str, list[episodes.Step]] = {}
    for (batch, outcome), jobs in zip(attempts, held, strict=True):
        if jobs:
            step = episodes.Step(jobs, outcome.state, outcome.finished_at)
            steps.setdefault(batch.action, []).append(step)
    if steps:
        await tx.execute("ensure_actions", actions=sorted(steps))
    before = {
        action: await tx.fetch_one("lock_episode", action=action)
        for action in dict.fromkeys(batch.action for batch, _ in attempts)
    }
    failures = {row["id"]: row["failures"] for row in running}
    after = {
        action: await _failing_since_after(tx, action, _since(before[action]), done, failures)
        for action, done in steps.items()
    }
    await _write_group(tx, attempts, held, steps, after)
    return _episodes(attempts, held, before, after)


async def _failing_since_after(
    tx: Tx,
    action: str,
    since: float | None,
    steps: Sequence[episodes.Step],
    failures: dict[int, int],
) -> list[float | None]:
    elsewhere = episodes.needs_elsewhere(since, steps) and bool(
        await tx.fetch_value(
            "failing_elsewhere", action=action, ids=[j for step in steps for j in step.job_ids]
        )
    )
    return episodes.failing_since_after(since, steps, failures, failing_elsewhere=elsewhere)


def _episodes(
    attempts: Sequence[Attempt],
    held: Sequence[tuple[int, ...]],
    before: dict[str, Row | None],
    after: dict[str, list[float | None]],
) -> list[Episode]:
    """Each attempt's episode: the one it left, or (not counted) the one before it left."""
    left = {action: iter(values) for action, values in after.items()}
    current = {action: _since(row) for action, row in before.items()}
    found = []
    for (batch, _), jobs in zip(attempts, held, strict=True):
        if jobs:
            current[batch.action] = next(left[batch.action])
        row = before[batch.action]
        values = {"failing_since": current[batch.action], "alerted": row and row["alerted"]}
        found.append(rows.episode(batch.action, values, recorded=bool(jobs)))
    return found


async def _write_group(
    tx: Tx,
    attempts: Sequence[Attempt],
    held: Sequence[tuple[int, ...]],
    steps: dict[str, list[episodes.Step]],
    after: dict[str, list[float | None]],
) -> None:
    """The jobs and attempt rows of the attempts that count, in order (each query one prepared
    statement run once per attempt), then each action's row once."""
    values = [
        params.record_params(batch, outcome)
        for (batch, outcome), jobs in zip(attempts, held, strict=True)
        if jobs
    ]
    if not values:
        return
    for query in ("record_jobs", "record_attempts"):
        await tx.execute_many(query, values)
    for action, done in steps.items():
        await tx.execute(
            "set_episode",
            action=action,
            last_success_at=episodes.last_at(done, "succeeded"),
            last_failure_at=episodes.last_at(done, "retrying", "dead"),
            last_dead_at=episodes.last_at(done, "dead"),
            failing_since=after[action][-1],
        )


def _since(row: Row | None) -> float | None:
    return None if row is None else row["failing_since"]


def _fail(future: asyncio.Future[Episode], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
