"""Fixtures for action tests: a shared HTTP session, Resources, and a Call factory."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.actions.base import Action, Call, Item, Resources
from bridge.events import Event

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # makes `tests.fakes` importable


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def resources(http: aiohttp.ClientSession) -> Resources:
    return Resources(http=http)


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


MakeCall = Callable[..., Call[Any]]


@pytest.fixture
def make_call() -> MakeCall:
    """Build a Call as the worker would: options validated per event and over the batch.

    `per_event(event) -> dict` gives options rendered for one event (what templates would do);
    `options` are the batch options. Both are validated with the action's Options model.
    """

    def build(
        action: type[Action[Any]],
        options: Mapping[str, Any],
        events: list[Event] | None = None,
        *,
        per_event: Callable[[Event], Mapping[str, Any]] | None = None,
        templates: Mapping[str, Any] | None = None,
        delivery_id: str = "dlv-1",
    ) -> Call[Any]:
        events = events if events is not None else [make_event()]
        model = action.Options
        items = tuple(
            Item(
                event, model.model_validate({**options, **(per_event(event) if per_event else {})})
            )
            for event in events
        )
        return Call(
            delivery_id=delivery_id,
            action="under-test",
            options=model.model_validate(dict(options)),
            items=items,
            templates=dict(templates or {}),
        )

    return build
