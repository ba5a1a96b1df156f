"""Fixtures for action tests: a shared HTTP session, Resources, and a Call factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp
import pytest

from bridge.actions.base import Action, Call, Item, Resources
from bridge.events import Event
from tests.fakes.events import MakeCall, make_event


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def resources(http: aiohttp.ClientSession) -> Resources:
    return Resources(http=http)


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
