"""Store values to the parameters of the bigger named queries: one array per column.

A whole request (`accept`) or a group of attempts (`record_batch`) is one query with arrays, so
that it is one statement (PostgreSQL: one round trip) whatever its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from bridge import lifecycle
from bridge.delivery import records
from bridge.delivery.model import Batch, Outcome
from bridge.plan import PlannedJob

JOB_COLUMNS = (
    "action", "rule", "notification_key", "event", "inputs", "inputs_hash", "summary",
)  # fmt: skip


def insert_jobs_params(
    jobs: Sequence[PlannedJob], now: float, request_id: str | None
) -> dict[str, Any]:
    """The `insert_jobs` query's columns (plural names), for jobs created without dedupe."""
    params = [records.job_params(job, now=now, request_id=request_id) for job in jobs]
    cols = columns(params, *JOB_COLUMNS)
    return {
        "actions": cols["action"],
        "rules": cols["rule"],
        "notification_keys": cols["notification_key"],
        "events": cols["event"],
        "inputs": cols["inputs"],
        "inputs_hashes": cols["inputs_hash"],
        "summaries": cols["summary"],
        "request_id": request_id,
        "now": now,
    }


def columns(params: Sequence[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    """Row dicts to one list per column, for the `unnest(...)` inserts."""
    return {name: [p[name] for p in params] for name in names}


def accept_params(accept: records.AcceptRows, now: float, request_id: str | None) -> dict[str, Any]:
    """The columns of the one-statement `accept` query, one array per column."""
    sent, objects, checks = dedupe_plan(accept.notes)
    note = columns(sent, "content_key", "webhook", "format", "raw", "events", "rules", "summary")
    job = columns(
        accept.jobs, "action", "rule", "notification_key", "event", "inputs", "inputs_hash",
        "summary",
    )  # fmt: skip
    matches = [(key, rule) for key, matched in accept.rules.items() for rule in matched]
    return {
        "now": now,
        "request_id": request_id,
        "actions": sorted(set(job["action"])),
        "content_keys": note["content_key"],
        "note_objects": [obj for obj, _ in checks],
        "note_checks": [check for _, check in checks],
        "note_copies": copy_numbers(note["content_key"]),
        "obj_webhooks": [o[0][0] for o in objects],
        "obj_ids": [o[0][1] for o in objects],
        "obj_languages": [o[0][2] for o in objects],
        "obj_slots": [o[0][3] for o in objects],
        "obj_keys": [o[1]["content_key"] for o in objects],
        "obj_modified": [o[1]["last_modified"] for o in objects],
        "obj_runs": [o[1]["object_run"] for o in objects],
        "webhooks": note["webhook"],
        "formats": note["format"],
        "raws": note["raw"],
        "note_events": note["events"],
        "note_rules": note["rules"],
        "note_summaries": note["summary"],
        "job_actions": job["action"],
        "job_rules": job["rule"],
        "job_keys": job["notification_key"],
        "job_events": job["event"],
        "job_inputs": job["inputs"],
        "job_hashes": job["inputs_hash"],
        "job_summaries": job["summary"],
        "job_copies": accept.occurrences,
        "match_keys": [key for key, _ in matches],
        "match_rules": [rule for _, rule in matches],
    }


Check = Literal["key", "latest", "prior", "new"]


def copy_numbers(keys: Sequence[str]) -> list[int]:
    """1 for the first notification with its key in the request, 2 for the second, ..."""
    seen: dict[str, int] = {}
    numbers = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        numbers.append(seen[key])
    return numbers


def dedupe_plan(
    notes: Sequence[dict[str, Any]],
) -> tuple[
    list[dict[str, Any]],
    list[tuple[records.ObjectKey, dict[str, Any]]],
    list[tuple[int | None, Check]],
]:
    """What the `accept` statement needs to dedupe a request the way the SQLite store does,
    one notification after the other: the notifications worth sending (one repeating the
    previous one for its object in the same request is a redelivery, decided here), the
    objects in lock order, each with its last notification (its new latest), and for each
    notification sent its object's ordinal (1-based) and the check the statement applies (see
    the query)."""
    sent: list[dict[str, Any]] = []
    chains: dict[records.ObjectKey, list[int]] = {}  # object -> positions in `sent`
    for params in notes:
        obj = records.note_object(params)
        if obj is None:
            sent.append(params)
            continue
        chain = chains.setdefault(obj, [])
        if chain and sent[chain[-1]]["content_key"] == params["content_key"]:
            continue
        chain.append(len(sent))
        sent.append(params)
    order = sorted(chains)  # rows locked in one order by every replica: no deadlocks
    ordinal = {obj: number for number, obj in enumerate(order, 1)}
    checks: list[tuple[int | None, Check]] = [(None, "key")] * len(sent)
    for obj, chain in chains.items():
        checks[chain[0]] = (ordinal[obj], "latest" if len(chain) == 1 else "prior")
        for position in chain[1:]:
            checks[position] = (ordinal[obj], "new")
    return sent, [(obj, sent[chains[obj][-1]]) for obj in order], checks


def record_params(batch: Batch, outcome: Outcome) -> dict[str, Any]:
    failed = outcome.state != "succeeded"
    return {
        "action": batch.action,
        "ids": list(batch.job_ids),
        "worker": batch.claimed_by,
        "state": outcome.state,
        "failed": int(failed),
        "retry_index": outcome.retry_index,
        "first_failure_at": outcome.first_failure_at,
        "due_at": outcome.due_at,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "status": outcome.status,
        "response": records.excerpt(outcome.response),
        "error": None if outcome.error is None else records.storable(outcome.error),
        "job_ids": [job.id for job in batch.jobs],
        "numbers": [job.attempts + 1 for job in batch.jobs],
        "delivery_id": batch.delivery_id,
        "outcome": lifecycle.attempt_outcome(outcome.state),
        "request": outcome.request,  # what the attempt sent (JSON), migration 0004
    }


RECORD_COLUMNS = {  # record_batch's array: record_params' value
    "workers": "worker", "states": "state", "failed": "failed", "retry_indexes": "retry_index",
    "first_failures": "first_failure_at", "due_ats": "due_at", "started_ats": "started_at",
    "finished_ats": "finished_at", "statuses": "status", "responses": "response",
    "errors": "error", "delivery_ids": "delivery_id", "outcomes": "outcome",
    "requests": "request",
}  # fmt: skip


def record_batch_params(action: str, attempts: Sequence[tuple[Batch, Outcome]]) -> dict[str, Any]:
    """The `record_batch` query's arrays for attempts of one action, in order: one element per
    attempt, and one per job of each, with its attempt's ordinal (1-based)."""
    values = [record_params(batch, outcome) for batch, outcome in attempts]
    found: dict[str, Any] = {name: [v[key] for v in values] for name, key in RECORD_COLUMNS.items()}
    found["action"] = action
    found["job_attempts"] = [n for n, v in enumerate(values, 1) for _ in v["job_ids"]]
    found["job_ids"] = [job_id for v in values for job_id in v["job_ids"]]
    found["numbers"] = [number for v in values for number in v["numbers"]]
    return found
