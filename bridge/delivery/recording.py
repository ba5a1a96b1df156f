"""Recording attempts in groups: calls that finish together share one write.

A drain finishes hundreds of calls a second; recorded one by one on SQLite, each is a
transaction of five statements run on the event loop. Here the attempts that finish while the
previous group is being written form the next group: one transaction in which each part of the
attempt (`record_jobs`, `record_attempts`, `record_action`) is one prepared statement run once
per batch, in the order the calls finished.

A dialect with a one-statement `record` (PostgreSQL) records each attempt with it: one round
trip, atomic on its own, its row locks held for that statement only. A group transaction would
hold an attempt's job rows while it waits for the action's row, which a replica's claim holds
while it waits for the accepts that wait for those jobs: a deadlock (seen in the replica test).

Each caller gets the episode its attempt left, as if the attempts had been recorded one after
the other: a group is written in runs that end at each failure, and the episode is read at the
end of each run. Within a run, an action's earlier attempts are successes, which leave no
failure behind (`failing_since` None) and never change which alerts were sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from bridge.delivery import params, rows
from bridge.delivery.connectors import Connector, Tx
from bridge.delivery.model import Batch, Episode, Outcome

log = logging.getLogger(__name__)

MAX_GROUP = 500
Attempt = tuple[Batch, Outcome]


class AttemptRecorder:
    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self._pending: list[tuple[Batch, Outcome, asyncio.Future[Episode]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, batch: Batch, outcome: Outcome) -> Episode:
        """Record one attempt (with the group it joins); returns after its commit."""
        if self.connector.has_query("record"):
            row = await self.connector.statement("record", **params.record_params(batch, outcome))
            return rows.episode(batch.action, row, recorded=bool(row and row["recorded"]))
        future: asyncio.Future[Episode] = asyncio.get_running_loop().create_future()
        self._pending.append((batch, outcome, future))
        if self._writing is None:
            self._writing = asyncio.create_task(self._write_groups())
        return await future

    async def _write_groups(self) -> None:
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                attempts = [(batch, outcome) for batch, outcome, _ in group]
                futures = [future for _, _, future in group]
                try:
                    episodes = await self._write(attempts)
                except Exception as exc:
                    if len(group) == 1:
                        _fail(futures[0], exc)
                        continue
                    # One attempt that cannot be written must not take the others down.
                    log.warning("recording %d attempts together failed (%s)", len(group), exc)
                    await self._write_one_by_one(attempts, futures)
                    continue
                for future, episode in zip(futures, episodes, strict=True):
                    if not future.done():
                        future.set_result(episode)
        finally:
            self._writing = None
            if self._pending:  # cancelled mid-way: the queue keeps moving
                self._writing = asyncio.create_task(self._write_groups())

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
        return await self.connector.write(lambda tx: _record_group(tx, attempts))


async def _record_group(tx: Tx, attempts: Sequence[Attempt]) -> list[Episode]:
    """Each attempt's episode, in order. An attempt whose worker no longer holds its jobs (its
    lease ran out and another worker took them over) is written nowhere: not on the jobs, not
    in their attempt log (its number is the other worker's), not in the action's episode."""
    held = await _held(tx, attempts)
    counted = [attempt for attempt, is_held in zip(attempts, held, strict=True) if is_held]
    written = iter(await _record_held(tx, counted))
    episodes = []
    for (batch, _), is_held in zip(attempts, held, strict=True):
        if is_held:
            episodes.append(next(written))
        else:
            row = await tx.fetch_one("lock_episode", action=batch.action)
            episodes.append(rows.episode(batch.action, row, recorded=False))
    return episodes


async def _held(tx: Tx, attempts: Sequence[Attempt]) -> list[bool]:
    """Whether each attempt's worker still holds its batch (running, claimed by it)."""
    ids = [job_id for batch, _ in attempts for job_id in batch.job_ids]
    holders = {row["id"]: row["claimed_by"] for row in await tx.fetch("held_jobs", ids=ids)}
    return [
        any(holders.get(job_id) == batch.claimed_by for job_id in batch.job_ids)
        for batch, _ in attempts
    ]


async def _record_held(tx: Tx, attempts: Sequence[Attempt]) -> list[Episode]:
    if not attempts:
        return []
    await tx.execute("ensure_actions", actions=sorted({batch.action for batch, _ in attempts}))
    episodes: list[Episode] = []
    for run in _runs(attempts):
        run_ids = [job_id for batch, _ in run for job_id in batch.job_ids]
        values = [
            {**params.record_params(batch, outcome), "run_ids": run_ids} for batch, outcome in run
        ]
        for query in ("record_jobs", "record_attempts", "record_action"):
            await tx.execute_many(query, values)
        after = {}
        for action in dict.fromkeys(batch.action for batch, _ in run):
            after[action] = rows.episode(action, await tx.fetch_one("lock_episode", action=action))
        last = {batch.action: index for index, (batch, _) in enumerate(run)}
        for index, (batch, outcome) in enumerate(run):
            episode = after[batch.action]
            # A success with later attempts of its action: the episode as it stood then, which
            # is the one after the run if it began before this success (another job was still
            # failing), and none if it began later (at the run's closing failure).
            if index != last[batch.action] and not (
                episode.failing_since is not None and episode.failing_since <= outcome.finished_at
            ):
                episode = Episode(batch.action, None, episode.alerted)
            episodes.append(episode)
    return episodes


def _runs(attempts: Sequence[Attempt]) -> list[list[Attempt]]:
    """The attempts in order, cut after each failure."""
    runs: list[list[Attempt]] = [[]]
    for attempt in attempts:
        runs[-1].append(attempt)
        if attempt[1].state != "succeeded":
            runs.append([])
    return [run for run in runs if run]


def _fail(future: asyncio.Future[Episode], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
