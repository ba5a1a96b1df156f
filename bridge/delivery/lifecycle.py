"""The job lifecycle in one place: a job's states, their transitions, an attempt's outcome.

    pending --claim--> running --succeeded--> succeeded
       ^                 |  \\--retrying--> retrying --claim--> running ...
       |  (lease expired |   \\--dead-----> dead --retry/reset--> retrying
       |   or released)  v
       +------------- pending / retrying (as before the claim)

A job is `pending` until its first attempt (also while its action is disabled: parked),
`running` under a worker's lease, `retrying` after a failed attempt while the schedule lasts,
`dead` once it gave up (kept, listed, retryable, never pruned), `succeeded` once delivered.
"""

from __future__ import annotations

from typing import Literal

JobState = Literal["pending", "running", "retrying", "succeeded", "dead"]
# What one attempt of a batch came to: the state its jobs are left in (the worker decides).
AttemptState = Literal["succeeded", "retrying", "dead"]
# The `attempts.outcome` column as stored (migration 0001): a retrying job's attempt is "retry",
# a dead one's "failed".
StoredOutcome = Literal["succeeded", "retry", "failed"]

UNFINISHED_STATES: tuple[JobState, ...] = ("pending", "running", "retrying")
WAITING_STATES: tuple[JobState, ...] = ("pending", "retrying")
FINISHED_STATES: tuple[JobState, ...] = ("succeeded", "dead")

TRANSITIONS: dict[JobState, tuple[JobState, ...]] = {
    "pending": ("running",),
    "running": ("succeeded", "retrying", "dead", "pending"),  # pending: released or expired
    "retrying": ("running",),
    "dead": ("retrying",),  # bridge retry / reset
    "succeeded": ("retrying",),  # not today: a replay makes new jobs instead
}

_STORED: dict[AttemptState, StoredOutcome] = {
    "succeeded": "succeeded",
    "retrying": "retry",
    "dead": "failed",
}


def attempt_outcome(state: AttemptState) -> StoredOutcome:
    """The `attempts.outcome` value for an attempt that left its jobs in `state`."""
    return _STORED[state]


def is_failure(state: AttemptState) -> bool:
    return state != "succeeded"
