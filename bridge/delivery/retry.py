"""What an attempt's result means for its batch: done, retry at a scheduled time, or dead.

Kontent.ai's policy (seed 000) by default: after the first failure wait 1, 2, 4, 8, 16, 32, 60
minutes, then the last delay repeats (hourly), for as long as the next attempt would still fall
within `give_up_after_s` of the FIRST failure; after that the job is dead (kept, retryable).

A target's Retry-After is honoured when longer than the schedule's delay, up to
`max_retry_after_s` (1 h by default): the job WAITS for it and never dies of it. Whether a job
gives up is decided by the schedule alone, so a 429 asking for five days is tried again within
the hour instead of being dead after its first attempt. A permanent failure is dead at once.
"""

from __future__ import annotations

from typing import Protocol

from bridge.delivery.model import Batch, Outcome


class RetrySettings(Protocol):
    """The part of an action's DeliverySettings that the schedule needs."""

    @property
    def retry_schedule_s(self) -> tuple[float, ...]: ...

    @property
    def give_up_after_s(self) -> float: ...

    @property
    def max_retry_after_s(self) -> float: ...


def schedule_delay_s(settings: RetrySettings, failures: int) -> float:
    """Delay after the `failures`-th failure since the schedule (re)started; the last repeats."""
    schedule = settings.retry_schedule_s or (3600.0,)
    return schedule[min(max(failures, 1), len(schedule)) - 1]


def succeeded(
    batch: Batch, *, started_at: float, finished_at: float, status: int | None, response: str
) -> Outcome:
    return Outcome(
        state="succeeded",
        started_at=started_at,
        finished_at=finished_at,
        status=status,
        response=response,
        retry_index=batch.retry_index,
        first_failure_at=batch.first_failure_at,
    )


def failed(
    batch: Batch,
    settings: RetrySettings,
    *,
    started_at: float,
    finished_at: float,
    error: str,
    status: int | None = None,
    response: str | None = None,
    retry_after_s: float | None = None,
    permanent: bool = False,
) -> Outcome:
    """Schedule the next attempt, or give up when the schedule's next one would fall past the
    give-up horizon; a Retry-After only ever delays the next attempt (capped), never kills."""
    first = batch.first_failure_at if batch.first_failure_at is not None else finished_at
    failures = batch.retry_index + 1
    scheduled = schedule_delay_s(settings, failures)
    delay = max(scheduled, min(retry_after_s or 0.0, settings.max_retry_after_s))
    due_at = finished_at + delay
    dead = permanent or finished_at + scheduled - first > settings.give_up_after_s
    if permanent:  # said in the reason itself, so every view shows why nothing follows
        error = f"{error} (permanent: not retried)"
    elif dead:
        error = f"{error} (gave up after {failures} failed attempt(s))"
    return Outcome(
        state="dead" if dead else "retrying",
        started_at=started_at,
        finished_at=finished_at,
        status=status,
        response=response,
        error=error,
        due_at=None if dead else due_at,
        retry_index=failures,
        first_failure_at=first,
    )
