"""Claiming: one claimer per action at a time, reading only what it needs.

The decisions (ordering, concurrency, debounce windows) are `policy.plan_claim`'s; this module
feeds it candidates inside the claiming transaction, after `begin_claim` took the action's claim
lock (PostgreSQL: its row `FOR UPDATE SKIP LOCKED`, so a replica that finds it taken skips the
action for this round; SQLite: the write lock) and gave expired leases back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.delivery import records, rows
from bridge.delivery.connectors import Tx
from bridge.delivery.model import Batch, Claim, ClaimPolicy
from bridge.delivery.policy import Candidate, Unit, fifo_slots, plan_claim


async def claim(tx: Tx, action: str, policy: ClaimPolicy, worker_id: str, now: float) -> Claim:
    in_order = policy.ordering == "fifo"
    lock = await tx.fetch_one("begin_claim", action=action, now=now, in_order=in_order)
    if lock is None:  # no job was ever created for it, another replica is claiming it now,
        # or (PostgreSQL, fifo) a call of it is in flight under a live lease
        return Claim()
    if not lock["enabled"]:
        return Claim()
    running = int(await tx.fetch_value("count_running", action=action))
    slots = fifo_slots(policy, running) if in_order else policy.concurrency - running
    if slots <= 0:
        return Claim()
    later: float | None = None
    if policy.debounce_s is None and policy.max_wait_s is None:
        candidates, later = await _head(tx, action, policy, slots, now)
    else:
        summary = await _window_summary(tx, action, policy)
        if summary is not None:
            ahead = plan_claim(summary, policy, running, now)
            if not ahead.units:
                return Claim((), ahead.next_due_at)
        if in_order:
            found = await tx.fetch("claim_candidates", action=action, limit=policy.max_batch)
        else:
            found = await tx.fetch(
                "claim_candidates_unordered",
                action=action,
                limit=policy.max_batch,
                batches=slots,
                now=now,
            )
        candidates = [_candidate(row) for row in found]
    plan = plan_claim(candidates, policy, running, now)
    batches = await _mark(tx, action, plan.units, worker_id, now, policy) if plan.units else []
    due = [t for t in (plan.next_due_at, later) if t is not None]
    return Claim(tuple(batches), min(due) if due else None)


async def _head(
    tx: Tx, action: str, policy: ClaimPolicy, slots: int, now: float
) -> tuple[list[Candidate], float | None]:
    """fifo: the head unit, due or not; none: up to `slots` due jobs, or when the next is due.

    A claim that starts calls needs no due time: each call's end wakes the dispatcher, whose
    next claim asks again (reading it scans every waiting job: not once per claim)."""
    fifo = policy.ordering == "fifo"
    found = await tx.fetch("claim_head", action=action, fifo=fifo, now=now, limit=slots)
    later = None
    if not fifo and not found:
        later = await tx.fetch_value("next_due", action=action, now=now)
    return [_candidate(row) for row in found], later


async def _window_summary(tx: Tx, action: str, policy: ClaimPolicy) -> list[Candidate] | None:
    """Two stand-in candidates per window (its first and last job), one per retried batch.

    `plan_claim` finds the same ready times on them as on every row; None when a window is
    larger than `max_batch` (then only the rows themselves give the right answer).
    """
    stand_ins = []
    for row in await tx.fetch("window_summary", action=action):
        if row["jobs"] > policy.max_batch:
            return None
        first = Candidate(
            row["first_id"], row["batch_id"], row["inputs_hash"], row["first_created"],
            row["first_due"],
        )  # fmt: skip
        stand_ins.append(first)
        if row["batch_id"] is None and row["last_id"] != row["first_id"]:
            stand_ins.append(
                Candidate(
                    row["last_id"], None, row["inputs_hash"], row["last_created"], row["last_due"]
                )
            )
    stand_ins.sort(key=lambda c: c.id)
    return stand_ins


async def _mark(
    tx: Tx,
    action: str,
    units: Sequence[Unit],
    worker_id: str,
    now: float,
    policy: ClaimPolicy,
) -> list[Batch]:
    """Every unit of the claim marked running in one statement, then split into batches."""
    lease_until = now + policy.lease_s
    ids = [job_id for unit in units for job_id in unit.job_ids]
    batch_ids = [unit.batch_id for unit in units for _ in unit.job_ids]
    marked = await tx.fetch(
        "mark_running", ids=ids, batch_ids=batch_ids, worker=worker_id, lease_until=lease_until
    )
    found = {}
    for row in marked:
        try:
            job = rows.claimed_job(row)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            # Retrying cannot fix a stored row; raising would fail every claim of the action.
            error = records.excerpt(f"stored job cannot be read: {type(exc).__name__}: {exc}")
            await tx.execute("kill_unreadable", id=row["id"], error=error, now=now)
        else:
            found[job.id] = job
    batches = []
    for unit in units:
        jobs = tuple(found[job_id] for job_id in unit.job_ids if job_id in found)
        if jobs:
            batches.append(Batch(unit.batch_id, action, jobs, worker_id, lease_until))
    return batches


def _candidate(row: Any) -> Candidate:
    return Candidate(
        row["id"], row["batch_id"], row["inputs_hash"], row["created_at"], row["due_at"]
    )
