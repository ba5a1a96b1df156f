"""The job lifecycle in one place: a job's states, their transitions, an attempt's outcome.

A leaf module (it imports nothing of the bridge), so that delivery, metrics, the admin API and
the CLI all use these names.

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
# What one attempt of a batch came to, named after the state it leaves its jobs in: the
# `Outcome.state` a worker decides, the `attempts.outcome` column (migration 0005 renamed the
# older "retry" and "failed"), the `outcome` label of bridge_job_attempts_total, the admin API
# and the CLI. `bridge_jobs_finished_total` counts the final ones: succeeded and dead.
AttemptState = Literal["succeeded", "retrying", "dead"]
ATTEMPT_STATES: tuple[AttemptState, ...] = ("succeeded", "retrying", "dead")
FINAL_ATTEMPT_STATES: tuple[AttemptState, ...] = ("succeeded", "dead")

UNFINISHED_STATES: tuple[JobState, ...] = ("pending", "running", "retrying")
WAITING_STATES: tuple[JobState, ...] = ("pending", "retrying")
FINISHED_STATES: tuple[JobState, ...] = ("succeeded", "dead")

TRANSITIONS: dict[JobState, tuple[JobState, ...]] = {
    "pending": ("running",),
    "running": ("succeeded", "retrying", "dead", "pending"),  # pending: released or expired
    "retrying": ("running",),
    "dead": ("retrying",),  # bridge retry / reset / the dashboard's Retry
    "succeeded": (),  # final; a replay makes new jobs
}


def attempt_outcome(state: AttemptState) -> AttemptState:
    """The `attempts.outcome` value of an attempt that left its jobs in `state`: the same name."""
    return state


def is_failure(state: AttemptState) -> bool:
    return state != "succeeded"
