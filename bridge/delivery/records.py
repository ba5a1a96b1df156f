"""How values are written to and read from store rows (shared by the SQLite and PG stores)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from bridge.delivery.model import DeliveryRow
from bridge.events import Event, Notification
from bridge.plan import PlannedJob

RESPONSE_EXCERPT_BYTES = 2048


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def inputs_hash(inputs: Mapping[str, Any]) -> str:
    """Jobs with equal `with:` inputs may share a debounced call; others are coalesced apart."""
    return hashlib.sha256(dumps(dict(inputs)).encode()).hexdigest()[:16]


def excerpt(text: str | None, limit: int = RESPONSE_EXCERPT_BYTES) -> str | None:
    """A bounded excerpt of a response body for the log (UTF-8 bytes, cut on a character)."""
    if text is None:
        return None
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + " [...]"


def event_fields_json(event: Event) -> str:
    """An event without its raw notification, which is stored once, on the notification."""
    return dumps(event.fields())


def event_from_row(fields_json: str, raw_json: str | None) -> Event:
    raw = json.loads(raw_json) if raw_json else {}
    return Event.from_json(json.loads(fields_json) | {"raw": raw})


def notification_params(
    notification: Notification, rules: Sequence[str], *, now: float, request_id: str | None
) -> dict[str, Any]:
    return {
        "key": notification.key,
        "webhook": notification.webhook,
        "format": notification.format,
        "received_at": now,
        "request_id": request_id,
        "raw": dumps(dict(notification.raw)),
        "events": dumps([event.fields() for event in notification.events]),
        "rules": dumps(list(rules)),
        "summary": "; ".join(event.summary() for event in notification.events)[:500],
    }


def notification_from_row(
    key: str, webhook: str | None, format: str, raw_json: str, events_json: str
) -> Notification:
    raw = json.loads(raw_json)
    events = tuple(Event.from_json(fields | {"raw": raw}) for fields in json.loads(events_json))
    return Notification(key, webhook, "legacy" if format == "legacy" else "current", raw, events)


def job_params(job: PlannedJob, *, now: float, request_id: str | None) -> dict[str, Any]:
    return {
        "action": job.action,
        "rule": job.rule,
        "notification_key": job.notification_key,
        "event": event_fields_json(job.event),
        "inputs": dumps(dict(job.inputs)),
        "inputs_hash": inputs_hash(job.inputs),
        "request_id": request_id,
        "summary": job.event.summary()[:500],
        "now": now,
    }


def rules_by_notification(jobs: Sequence[PlannedJob]) -> dict[str, list[str]]:
    """Which rules matched each notification, in rule order, each once."""
    found: dict[str, list[str]] = {}
    for job in jobs:
        rules = found.setdefault(job.notification_key, [])
        if job.rule not in rules:
            rules.append(job.rule)
    return found


def delivery_row(row: Sequence[Any]) -> DeliveryRow:
    """From the columns of the `deliveries` query, in order."""
    (job_id, action, rule, state, attempts, created_at, last_attempt_at, last_status) = row[:8]
    (last_response, summary, batch_id, due_at, last_error, failures) = row[8:14]
    waiting = state in ("pending", "retrying")
    return DeliveryRow(
        job_id=job_id,
        action=action,
        rule=rule,
        state=state,
        attempts=attempts,
        created_at=created_at,
        last_attempt_at=last_attempt_at,
        last_status=last_status,
        last_response=last_response,
        summary=summary,
        delivery_id=batch_id,
        next_attempt_at=due_at if waiting else None,
        last_error=last_error,
        failures=failures,
    )
