"""Event factories for tests of actions and of anything that builds `Call`s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.actions.base import Call
from bridge.events import Event

MakeCall = Callable[..., Call[Any]]


def make_event(**fields: Any) -> Event:
    """A published content item event; override any field."""
    values: dict[str, Any] = {
        "object_type": "content_item",
        "action": "published",
        "delivery_slot": "published",
        "environment_id": "env-1",
        "id": "11111111-1111-1111-1111-111111111111",
        "name": "Hello world",
        "codename": "hello_world",
        "language": "en",
        "type": "article",
        "collection": "default",
    }
    values.update(fields)
    return Event(**values)
