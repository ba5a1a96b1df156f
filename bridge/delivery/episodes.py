"""An action's failure episode, attempt by attempt, for attempts recorded together.

An episode runs from an action's first failure to a success after which none of its jobs is
still failing (waiting for its retry, or being retried): with `ordering: none` one job can fail
for days while others succeed, and ending the episode at each success meant "failing for 1
hour" never went out and "recovered" went out while it still failed.

Attempts recorded together (recording.py) leave each caller the episode its attempt would have
left recorded alone, in order. Whether another job is still failing when a success is recorded
then depends on the group: the jobs of the attempts before it as those left them, the jobs of
the attempts after it as they were (running, with the failures behind them). SQLite works it
out here, from what it read before writing the group; PostgreSQL's `record_batch` statement does
the same in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge.lifecycle import AttemptState


@dataclass(frozen=True, slots=True)
class Step:
    """An attempt that counted: the jobs its worker held, and what it left them."""

    job_ids: tuple[int, ...]
    state: AttemptState
    finished_at: float


def failing_since_after(
    before: float | None,
    steps: Sequence[Step],
    failures: Mapping[int, int],
    *,
    failing_elsewhere: bool,
) -> list[float | None]:
    """When the episode began, after each of one action's steps in order (None: none is open).

    `before`: as it stood before the group; `failures`: each step job's failures before the
    group; `failing_elsewhere`: whether a job of the action that no step holds is failing."""
    failing = {job_id: failures.get(job_id, 0) > 0 for step in steps for job_id in step.job_ids}
    others = sum(failing.values())  # failing jobs among the steps' jobs, as they stand now
    since = before
    found: list[float | None] = []
    for step in steps:
        own = sum(failing[job_id] for job_id in step.job_ids)
        if step.state != "succeeded":
            since = step.finished_at if since is None else since
        elif since is not None and not failing_elsewhere and others - own == 0:
            since = None
        for job_id in step.job_ids:
            now = step.state == "retrying"  # dead: no longer failing, nor holding the episode
            others += now - failing[job_id]
            failing[job_id] = now
        found.append(since)
    return found


def needs_elsewhere(before: float | None, steps: Sequence[Step]) -> bool:
    """Whether `failing_elsewhere` can matter: some success may meet an open episode."""
    opened = before is not None
    for step in steps:
        if step.state == "succeeded" and opened:
            return True
        opened = opened or step.state != "succeeded"
    return False


def last_at(steps: Sequence[Step], *states: AttemptState) -> float | None:
    """When the last of the steps in one of `states` finished (None: there is none)."""
    times = [step.finished_at for step in steps if step.state in states]
    return times[-1] if times else None
