"""Event factories for tests of actions and of anything that builds `Call`s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.actions.base import Action, Call
from bridge.delivery.model import Batch, ClaimedJob
from bridge.delivery.render import build_call
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


def rendered_call(
    action: type[Action[Any]], options: dict[str, Any], events: list[Event]
) -> Call[Any]:
    """The Call a worker builds for `events` claimed together: `options` (templates included)
    rendered per event and over the batch, then validated, by bridge.delivery.render."""
    jobs = tuple(
        ClaimedJob(n, "under-test", "rule", None, event, {}, 0, 0, None, 0.0, None)
        for n, event in enumerate(events, 1)
    )
    return build_call(Batch("dlv-1", "under-test", jobs, "worker", 0.0), options, action.Options)
