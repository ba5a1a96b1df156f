"""The notifications and jobs the store and delivery tests accept: one place builds them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bridge.delivery.store import Store
from bridge.events import Event, Notification
from bridge.plan import PlannedJob


def notification(n: int, *, webhook: str = "production") -> Notification:
    """Notification `key-{n}`: one published article `item-{n}`, distinct for each n."""
    raw = {
        "data": {"system": {"id": f"item-{n}", "name": f"Item {n}", "type": "article"}},
        "message": {"object_type": "content_item", "action": "published", "n": n},
    }
    event = Event(
        object_type="content_item",
        action="published",
        id=f"item-{n}",
        name=f"Item {n}",
        type="article",
        webhook=webhook,
        raw=raw,
    )
    return Notification(f"key-{n}", webhook, "current", raw, (event,))


def planned(
    note: Notification, action: str, *, rule: str = "r1", inputs: Mapping[str, Any] | None = None
) -> PlannedJob:
    return PlannedJob(action, rule, note.key, note.events[0], dict(inputs or {}))


async def accept(
    store: Store,
    numbers: Sequence[int],
    actions: Sequence[str] = ("a",),
    *,
    rule: str = "r1",
    inputs: Mapping[str, Any] | None = None,
) -> None:
    """Accept notifications `numbers`, each matched for every one of `actions`."""
    notes = [notification(n) for n in numbers]
    jobs = [planned(n, a, rule=rule, inputs=inputs) for n in notes for a in actions]
    await store.accept(notes, jobs, request_id="req-1")
