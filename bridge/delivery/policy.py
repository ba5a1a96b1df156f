"""Which of an action's waiting jobs may run now: ordering, concurrency and debounce windows.

Pure functions over candidate rows, shared by every store: a store reads the candidates inside
its claiming transaction, asks `plan_claim`, and marks the chosen units running.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.delivery.model import AlertKind, ClaimPolicy


@dataclass(frozen=True, slots=True)
class Candidate:
    """A pending or retrying job, oldest first."""

    id: int
    batch_id: str | None
    inputs_hash: str
    created_at: float
    due_at: float


@dataclass(frozen=True, slots=True)
class Unit:
    """Jobs delivered as one call: one job, or a debounced batch (retried as one unit)."""

    job_ids: tuple[int, ...]
    batch_id: str
    ready_at: float


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    units: list[Unit] = field(default_factory=list)
    next_due_at: float | None = None


# A call's delivery id is this prefix and its first job's id: `kb-42` is job 42's call, which is
# why every command and admin route that takes a job id also takes `kb-42` (admin/params.py).
DELIVERY_ID_PREFIX = "kb-"


def delivery_id(first_job_id: int) -> str:
    """Stable across retries: the batch is named after its first job, which is in no other."""
    return f"{DELIVERY_ID_PREFIX}{first_job_id}"


def plan_claim(
    candidates: Sequence[Candidate], policy: ClaimPolicy, running: int, now: float
) -> ClaimPlan:
    """fifo: the oldest units, one call at a time (a claim may take `prefetch` of them from
    the head, each ready, to be called in order); none: any ready unit up to concurrency."""
    slots = fifo_slots(policy, running) if policy.ordering == "fifo" else policy.concurrency
    if policy.ordering != "fifo":
        slots = max(0, slots - running)
    if slots == 0 or not candidates:
        return ClaimPlan()
    units = _units(candidates, policy)
    if policy.ordering == "fifo":
        ready = []
        for unit in units[:slots]:
            if unit.ready_at > now:
                break  # a later unit never passes one that is not due
            ready.append(unit)
        return ClaimPlan(ready, None if ready else units[0].ready_at)
    ready = [unit for unit in units if unit.ready_at <= now][:slots]
    waiting = [unit.ready_at for unit in units if unit.ready_at > now]
    return ClaimPlan(ready, min(waiting) if waiting else None)


def fifo_slots(policy: ClaimPolicy, running: int) -> int:
    """Units a fifo claim may take: none while one runs; `prefetch` without debounce."""
    if running:
        return 0
    debounced = policy.debounce_s is not None or policy.max_wait_s is not None
    return 1 if debounced else max(1, policy.prefetch)


def _units(candidates: Sequence[Candidate], policy: ClaimPolicy) -> list[Unit]:
    """Group candidates into units, in the order of each unit's oldest job."""
    batches: dict[str, list[Candidate]] = {}
    for job in candidates:
        if job.batch_id is not None:
            key = f"batch:{job.batch_id}"
        elif policy.debounce_s is not None or policy.max_wait_s is not None:
            key = f"window:{job.inputs_hash}"
        else:
            key = f"job:{job.id}"
        batches.setdefault(key, []).append(job)
    units = []
    for key, jobs in batches.items():
        jobs = jobs[: policy.max_batch]
        batch_id = jobs[0].batch_id or delivery_id(jobs[0].id)
        if key.startswith("window:"):
            ready_at = _window_closes(jobs, policy)
        else:
            ready_at = min(job.due_at for job in jobs)
        units.append(Unit(tuple(job.id for job in jobs), batch_id, ready_at))
    return units


def _window_closes(jobs: Sequence[Candidate], policy: ClaimPolicy) -> float:
    """No new job for debounce_s, or max_wait_s after the first job, whichever comes first."""
    opened = min(job.created_at for job in jobs)
    closes = []
    if policy.debounce_s is not None:
        closes.append(max(job.created_at for job in jobs) + policy.debounce_s)
    if policy.max_wait_s is not None:
        closes.append(opened + policy.max_wait_s)
    return min(closes)


def next_alerted(alerted: frozenset[AlertKind], kind: AlertKind) -> frozenset[AlertKind] | None:
    """The alert kinds an episode has had after raising `kind`, or None to stay silent.

    Once per episode: a kind already raised is not raised again, and "recovered" is only worth
    saying (and closes the episode) after a failing or dead alert went out.
    """
    if kind == "recovered":
        return frozenset() if alerted else None
    if kind in alerted:
        return None
    return alerted | {kind}
