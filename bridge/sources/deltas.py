"""Sync API deltas as Notifications, each holding one Event, like a webhook's.

A delta says only `changed` or `deleted`, on the slot the source polls (the Delivery API for
`published`, the Preview API for `preview`). Mapped onto the actions webhooks use, so that one
rule serves both:

| delta kind | slot      | changed           | deleted       |
|------------|-----------|-------------------|---------------|
| items      | published | published         | unpublished   |
| items      | preview   | changed           | deleted       |
| types      | either    | changed           | deleted       |
| languages  | either    | changed           | deleted       |
| taxonomies | either    | changed           | deleted       |

A published-slot delta is about what the Delivery API serves: a changed item there was
(re)published, a deleted one is no longer served (unpublished, or deleted with its published
version). Taxonomy deltas do not say whether terms or metadata changed, so they are `changed`
rather than one of the webhooks' finer `metadata_changed`/`term_*` actions.

A kind the Sync API may add later (a list of deltas beside those four) passes through with the
list's name as `object_type` and the change type as `action`, as unknown webhook object types
do: rules can still match them.

The raw notification keeps the webhook layout (`data.system`, `message`), so `where:` paths
written for webhooks work unchanged, plus the delta's own `change_type` and `timestamp`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.events import Event, Notification, content_key

OBJECT_TYPES: Mapping[str, str] = {
    "items": "content_item",
    "types": "content_type",
    "languages": "language",
    "taxonomies": "taxonomy",
}
ITEM_ACTIONS: Mapping[tuple[str, str], str] = {
    ("published", "changed"): "published",
    ("published", "deleted"): "unpublished",
    ("preview", "changed"): "changed",
    ("preview", "deleted"): "deleted",
}


def action_for(kind: str, slot: str, change_type: str) -> str:
    if kind == "items":
        return ITEM_ACTIONS.get((slot, change_type), change_type)
    return change_type  # `changed` / `deleted`, and anything newer passes through


def notifications(
    deltas: Mapping[str, list[dict[str, Any]]],
    *,
    webhook: str,
    environment_id: str,
    slot: str,
) -> Iterator[Notification]:
    """One notification per delta, in the API's order: items, types, languages, taxonomies,
    then any other kind."""
    kinds = [*OBJECT_TYPES, *(kind for kind in deltas if kind not in OBJECT_TYPES)]
    for kind in kinds:
        object_type = OBJECT_TYPES.get(kind, kind)
        for delta in deltas.get(kind) or []:
            yield notification(delta, kind, object_type, webhook, environment_id, slot)


def notification(
    delta: Mapping[str, Any],
    kind: str,
    object_type: str,
    webhook: str,
    environment_id: str,
    slot: str,
) -> Notification:
    data = delta.get("data") if isinstance(delta.get("data"), dict) else {}
    assert isinstance(data, dict)
    system = data.get("system") if isinstance(data.get("system"), dict) else {}
    assert isinstance(system, dict)
    change_type = str(delta.get("change_type") or "changed")
    message = {
        "environment_id": environment_id,
        "object_type": object_type,
        "action": action_for(kind, slot, change_type),
        "delivery_slot": slot,
    }
    raw = {
        "data": {"system": dict(system)},
        "message": message,
        "change_type": change_type,
        "timestamp": delta.get("timestamp"),
    }
    event = Event(
        object_type=object_type,
        action=message["action"],
        delivery_slot=slot,
        environment_id=environment_id,
        webhook=webhook,
        raw=raw,
        id=_text(system.get("id")),
        name=_text(system.get("name")),
        codename=_text(system.get("codename")),
        collection=_text(system.get("collection")),
        workflow=_text(system.get("workflow")),
        workflow_step=_text(system.get("workflow_step")),
        language=_text(system.get("language")),
        type=_text(system.get("type")),
        last_modified=_text(system.get("last_modified")),
    )
    # Same delta, same key: a page fetched again after a crash is recognised as a redelivery.
    return Notification(content_key(webhook, raw), webhook, "current", raw, (event,))


def is_newer(candidate: str | None, stored: str | None) -> bool:
    """True unless `stored` shows the change was already delivered (stored >= candidate).

    Compared as instants: Kontent.ai writes up to 7 fractional digits, which string order gets
    wrong ("…11.38Z" sorts after "…11.3801Z") and `datetime` cannot hold (6 digits at most).
    """
    if candidate is None or stored is None:
        return True
    new, old = parse_timestamp(candidate), parse_timestamp(stored)
    if new is None or old is None:
        return True
    return new > old


def parse_timestamp(value: str) -> tuple[datetime, int] | None:
    """(the instant to the second, in UTC; the fraction in nanoseconds), or None if unreadable."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    nanoseconds = 0
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        if digits == 0:
            return None
        nanoseconds = int(rest[:digits][:9].ljust(9, "0"))
        text = head + rest[digits:]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC), nanoseconds


def epoch_s(value: Any) -> float | None:
    """A timestamp as epoch seconds (for comparing with the store's clock), or None."""
    parsed = parse_timestamp(value) if isinstance(value, str) else None
    if parsed is None:
        return None
    instant, nanoseconds = parsed
    return instant.replace(microsecond=0).timestamp() + nanoseconds / 1e9


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None
