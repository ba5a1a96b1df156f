"""Fixtures for action tests: a shared HTTP session, Resources, a Call factory, a whole bridge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bridge.actions.base import Action, Call, Item, Resources
from bridge.actions.httputil import client_session
from bridge.app import create_app
from bridge.config import Config
from bridge.delivery.opening import open_store
from bridge.events import Event
from bridge.settings import Settings
from bridge.signatures import sign
from tests.fakes.events import MakeCall, make_event


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with client_session() as session:  # bounded reads, as the runtime's session
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


@dataclass
class RunningBridge:
    """The whole bridge (receiver, SQLite store, workers) behind an in-process client."""

    client: httpx.AsyncClient
    secret: str

    async def post(self, body: bytes, path: str = "/webhooks/kontent") -> dict[str, Any]:
        """Post `body` signed as Kontent.ai would; the bridge must accept it."""
        headers = {
            "Content-Type": "application/json",
            "X-Kontent-ai-Signature": sign(body, self.secret),
        }
        response = await self.client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


StartBridge = Callable[[Config, str], AbstractAsyncContextManager[RunningBridge]]


@pytest.fixture
def start_bridge(tmp_path: Path) -> StartBridge:
    """`async with start_bridge(config, secret) as bridge`: started, and stopped on exit."""

    @asynccontextmanager
    async def start(config: Config, secret: str) -> AsyncIterator[RunningBridge]:
        store = open_store(f"sqlite:///{tmp_path}/bridge.db")
        await store.open()
        app = create_app(Settings(), config=config, store=store)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bridge"
                ) as client,
            ):
                yield RunningBridge(client, secret)
        finally:
            await store.close()

    return start
