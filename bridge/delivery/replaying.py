"""Replaying stored notifications: the loop `bridge replay`, the admin API and the dashboard share.

A replay reads the stored notifications of a time range (or the one a key names) batch by batch,
plans each batch again with the current rules and keeps the jobs of the chosen actions and
rules; the caller lists them or creates them (Store.enqueue, dedupe bypassed). Store.enqueue
creates no job for a notification a prune removed since it was read (pruning.py): `shortfall`
says so in the words all three callers print.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bridge.delivery.store import Store
from bridge.events import Notification
from bridge.plan import PlannedJob


class Planner(Protocol):
    def plan(self, notifications: Sequence[Notification]) -> list[PlannedJob]: ...


@dataclass(frozen=True, slots=True)
class ReplayBatch:
    read: int  # stored notifications read (a progress bar counts these)
    notifications: int  # of those, the ones in the range (and the one asked for, by key)
    jobs: list[PlannedJob]  # their jobs under the current rules that the caller keeps


async def replay_batches(
    store: Store,
    planner: Planner,
    *,
    since: float,
    until: float,
    key: str | None = None,
    actions: frozenset[str] = frozenset(),
    rules: frozenset[str] = frozenset(),
) -> AsyncIterator[ReplayBatch]:
    """The stored notifications received in [since, until] (only `key`'s, when given), planned
    again batch by batch, oldest first; only the jobs of `actions` and `rules` (empty: all)."""
    after = 0
    while batch := await store.stored_notifications(since=since, after_seq=after):
        after = batch[-1].seq
        chosen = [
            stored.notification
            for stored in batch
            if stored.received_at <= until and (key is None or stored.notification.key == key)
        ]
        jobs = [
            job
            for job in (planner.plan(chosen) if chosen else [])
            if (not actions or job.action in actions) and (not rules or job.rule in rules)
        ]
        yield ReplayBatch(len(batch), len(chosen), jobs)
        if batch[-1].received_at > until:
            return


def shortfall(planned: int, created: int) -> str:
    """What a replay that created fewer jobs than it planned says of the others ("" if none)."""
    missing = planned - created
    if missing <= 0:
        return ""
    return f"{missing} not created: their notifications were pruned (retention) since being read"
