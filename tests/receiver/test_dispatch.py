"""Webhook paths go straight to the endpoint; every other path still goes through Starlette."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.config import Config
from bridge.receiver.dispatch import BridgeApp
from bridge.settings import Settings
from tests.receiver.conftest import SEED, URL, FakeStore, signed

pytestmark = pytest.mark.timeout(60)


class CountingRouter:
    """Wraps the app's router: how many requests of each path reached Starlette's routing."""

    def __init__(self, app: BridgeApp) -> None:
        self.paths: list[str] = []
        self.router = app.router

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.router(scope, receive, send)


async def test_webhook_posts_skip_starlette_and_other_paths_do_not(
    config: Config, store: FakeStore, payload_bytes: Callable[[str], bytes]
) -> None:
    app = create_app(
        replace(Settings()),
        config=config,
        store=store,  # type: ignore[arg-type]
        workers=False,
    )
    assert isinstance(app, BridgeApp)
    counting = CountingRouter(app)
    # Starlette's middleware stack ends in the router: count what reaches it.
    app.router = counting  # type: ignore[assignment]
    async with counting.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            body = payload_bytes(SEED)
            accepted = await client.post(URL, content=body, headers=signed(body))
            trailing = await client.post(URL + "/", content=body, headers=signed(body))
            health = await client.get("/healthz")
            unknown = await client.post("/not-a-webhook", content=b"{}")
    assert accepted.status_code == 200, accepted.text
    assert accepted.content == b'{"accepted":1,"duplicates":0,"jobs":1}'
    assert accepted.headers["content-type"] == "application/json"
    assert accepted.headers["X-Request-Id"]
    assert trailing.json()["duplicates"] == 1  # the same path, as the router matched it
    assert health.status_code == 200
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no webhook is configured at this path"}
    assert counting.paths == ["/healthz", "/not-a-webhook"]


async def test_a_worker_app_has_no_webhook_shortcut(config: Config, store: FakeStore) -> None:
    app = create_app(
        Settings(),
        role="worker",
        config=config,
        store=store,  # type: ignore[arg-type]
        workers=False,
    )
    assert isinstance(app, BridgeApp)
    assert app.webhooks is None
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            answer = await client.post(
                URL, content=b"{}", headers={"Content-Type": "application/json"}
            )
    assert answer.status_code in (404, 405)
    assert store.calls == []


def test_before_the_config_is_loaded_nothing_is_a_webhook_path(
    config: Config, store: FakeStore
) -> None:
    app = create_app(Settings(), config=config, store=store, workers=False)  # type: ignore[arg-type]
    assert isinstance(app, BridgeApp) and app.webhooks is not None
    scope = {"type": "http", "path": URL, "root_path": "", "method": "POST"}
    assert app.webhooks.serves(scope) is False
