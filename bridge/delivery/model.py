"""Values the delivery store hands out and takes in: rows for the log, claimed batches, outcomes.

Times are UTC epoch seconds (float) from the store's `Clock`, so tests can move time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.events import Event, Notification
from bridge.lifecycle import AttemptState, JobState

Health = Literal["ready", "working", "failing", "dead"]
# Job states and attempt outcomes: bridge/lifecycle.py, the one vocabulary.
LogFilter = Literal["all", "failures", "active_failures"]
AlertKind = Literal["failing", "dead", "recovered"]
Ordering = Literal["fifo", "none"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """What the receiver answers: notifications stored, redeliveries recognised, jobs created."""

    accepted: int
    duplicates: int
    jobs: int


@dataclass(frozen=True, slots=True)
class ActionState:
    name: str
    health: Health
    enabled: bool
    pending: int
    running: int
    failing_since: float | None
    last_attempt_at: float | None
    succeeded: int
    failed_attempts: int
    dead: int
    oldest_pending_age_s: float | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One job in the delivery log."""

    job_id: int
    action: str
    rule: str
    state: JobState
    attempts: int
    created_at: float
    last_attempt_at: float | None
    last_status: int | None
    last_response: str | None
    summary: str
    delivery_id: str | None = None
    next_attempt_at: float | None = None
    last_error: str | None = None
    failures: int = 0


@dataclass(frozen=True, slots=True)
class AttemptRow:
    number: int
    started_at: float
    finished_at: float
    outcome: AttemptState
    status: int | None
    response: str | None
    error: str | None
    delivery_id: str
    # What the attempt sent (method, url, headers, body; redacted, bounded: actions/sent.py),
    # None when not recorded (an SDK-based action, a plugin, an attempt before migration 0004).
    request: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class JobDetail:
    """A job with everything the admin API shows: its event, inputs and every attempt."""

    row: DeliveryRow
    notification_key: str | None
    request_id: str | None
    inputs: Mapping[str, Any]
    events: tuple[Event, ...]
    attempts: tuple[AttemptRow, ...]

    def __getattr__(self, name: str) -> Any:
        # DeliveryRow fields read through (`detail.state`), as the contract promises.
        if name.startswith("__") or name == "row":  # copy/pickle probe before `row` exists
            raise AttributeError(name)
        return getattr(self.row, name)


@dataclass(frozen=True, slots=True)
class NotificationRow:
    key: str
    webhook: str | None
    received_at: float
    request_id: str | None
    summary: str
    rules: list[str]
    raw: Mapping[str, Any] | None  # None: left out of a page, too long (raw_chars)
    raw_chars: int = 0


@dataclass(frozen=True, slots=True)
class StoredNotification:
    """A stored notification rebuilt for `bridge replay`; `seq` orders and pages them."""

    seq: int
    received_at: float
    notification: Notification


@dataclass(frozen=True, slots=True)
class RuleStats:
    matched: int
    last_matched_at: float | None


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    """How a worker wants one action's jobs claimed (from the action's DeliverySettings)."""

    ordering: Ordering = "fifo"
    concurrency: int = 1
    debounce_s: float | None = None
    max_wait_s: float | None = None
    lease_s: float = 120.0
    max_batch: int = 10_000
    # fifo without debounce: how many units one claim may take from the head, in order, to be
    # called one after the other (each only after the one before succeeded).
    prefetch: int = 1


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    action: str
    rule: str
    notification_key: str | None
    event: Event
    inputs: Mapping[str, Any]
    attempts: int
    retry_index: int
    first_failure_at: float | None
    created_at: float
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Batch:
    """Jobs claimed together and delivered as one call under one stable `delivery_id`."""

    delivery_id: str
    action: str
    jobs: tuple[ClaimedJob, ...]
    claimed_by: str
    lease_until: float

    @property
    def job_ids(self) -> tuple[int, ...]:
        return tuple(job.id for job in self.jobs)

    @property
    def attempt(self) -> int:
        return max(job.attempts for job in self.jobs) + 1

    @property
    def retry_index(self) -> int:
        return max(job.retry_index for job in self.jobs)

    @property
    def first_failure_at(self) -> float | None:
        times = [job.first_failure_at for job in self.jobs if job.first_failure_at is not None]
        return min(times) if times else None


@dataclass(frozen=True, slots=True)
class Claim:
    """Batches claimed now, and when this action may next have something due (None: unknown)."""

    batches: tuple[Batch, ...] = ()
    next_due_at: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt of a batch, decided by the worker, written by the store."""

    state: AttemptState
    started_at: float
    finished_at: float
    status: int | None = None
    response: str | None = None
    error: str | None = None
    due_at: float | None = None
    retry_index: int = 0
    first_failure_at: float | None = None
    request: str | None = None  # JSON of the request sent (bridge/actions/sent.py), if noted


@dataclass(frozen=True, slots=True)
class Episode:
    """An action's failure episode, as it stands after an attempt was recorded (drives alerts)."""

    action: str
    failing_since: float | None
    alerted: frozenset[AlertKind] = field(default_factory=frozenset)
    # False when the attempt did not count: its worker no longer held the jobs (its lease ran
    # out and another worker took them over), so nothing of it was written and it alerts nothing.
    recorded: bool = True


@dataclass(frozen=True, slots=True)
class SourceLease:
    """Who polls a source now: the lease's owner (a replica's `host:pid:id`) and its end."""

    owner: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class SourceState:
    """A polled source's saved position, handed to the replica that holds its lease.

    `scope` names what `token` was issued for (environment, slot, API): a token from another
    scope must not be resumed, the source initialises a new synchronisation instead.
    """

    scope: str
    token: str | None


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    """The latest notification one webhook delivered about an object (`object_latest`): what a
    polled source compares its deltas with, to skip what that webhook already delivered."""

    webhook: str
    last_modified: str | None
    received_at: float


@dataclass(frozen=True, slots=True)
class SeriesBucket:
    """One time bucket of an action's activity (`Store.delivery_series`): jobs delivered in it,
    failed attempts started in it, jobs waiting at its end."""

    start: float
    delivered: int = 0
    failed: int = 0
    queued: int = 0
