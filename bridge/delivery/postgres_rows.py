"""PostgreSQL rows to the store's values, and values to the parameters of the bigger queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from bridge.delivery import records, rows
from bridge.delivery.model import (
    Batch,
    NotificationRow,
    Outcome,
    StoredNotification,
)
from bridge.delivery.postgres_db import CHANNEL
from bridge.plan import PlannedJob


def notification_row(row: Any) -> NotificationRow:
    key, webhook, at, request_id, summary, rules, raw = row
    return NotificationRow(
        key, webhook, at, request_id, summary, records.shown_json(rules), records.shown_mapping(raw)
    )


def stored_notification(row: Any) -> StoredNotification:
    seq, at, *rest = row
    return StoredNotification(seq, at, records.notification_from_row(*rest))


def columns(params: Sequence[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    """Row dicts to one list per column, for the `unnest(...)` inserts."""
    return {name: [p[name] for p in params] for name in names}


def accept_params(
    accept: records.AcceptRows,
    jobs: Sequence[PlannedJob],
    now: float,
    request_id: str | None,
    sender: str,
) -> dict[str, Any]:
    """The columns of the one-statement `accept` query, one array per column."""
    sent, objects, checks = dedupe_plan(accept.notes)
    note = columns(sent, "content_key", "webhook", "format", "raw", "events", "rules", "summary")
    job_params = [
        records.job_params(job, now=now, request_id=request_id, cache=accept.cache) for job in jobs
    ]
    job = columns(
        job_params, "action", "rule", "notification_key", "event", "inputs", "inputs_hash",
        "summary",
    )  # fmt: skip
    matches = [(key, rule) for key, matched in accept.rules.items() for rule in matched]
    return {
        "now": now,
        "request_id": request_id,
        "channel": CHANNEL,
        "sender": sender,
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
        if params["object_id"] is None:
            sent.append(params)
            continue
        obj = (
            params["object_webhook"],
            params["object_id"],
            params["object_language"],
            params["object_slot"],
        )
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
        "error": outcome.error,
        "job_ids": [job.id for job in batch.jobs],
        "numbers": [job.attempts + 1 for job in batch.jobs],
        "delivery_id": batch.delivery_id,
        "outcome": rows.attempt_outcome(outcome),
    }
