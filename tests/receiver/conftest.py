"""Receiver fixtures: a real config and app, an in-memory store for the unit tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.config import Config, parse_config
from bridge.delivery.model import Accepted, ActionState
from bridge.delivery.store import StoreUnavailable
from bridge.events import Notification
from bridge.plan import PlannedJob
from bridge.settings import Settings
from bridge.signatures import sign

URL = "/webhooks/kontent"
SEED = "current/content_item_published_published.json"
JSON = "application/json; charset=utf-8"
SECRETS = {"OLD_SECRET": "old-secret", "NEW_SECRET": "new-secret"}

RULES = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["${NEW_SECRET}", "${OLD_SECRET}"]
  - name: local
    path: /webhooks/local
    secrets: []
    verify: false
actions:
  audit: {type: log}
rules:
  - name: content
    when: {object_type: content_item}
    do: [audit]
"""


def signed(body: bytes, secret: str = "new-secret", *, legacy: bool = False) -> dict[str, str]:
    """Headers of a request Kontent.ai signed with `secret` (the production webhook's)."""
    header = "X-KC-Signature" if legacy else "X-Kontent-ai-Signature"
    return {"Content-Type": JSON, header: sign(body, secret)}


@pytest.fixture
def seed_batch(payload_bytes: Callable[[str], bytes]) -> Callable[[int], bytes]:
    """`seed_batch(1000)`: a body of that many copies of the seed, each a different item."""

    def make(count: int) -> bytes:
        template = json.loads(payload_bytes(SEED))["notifications"][0]
        items = []
        for index in range(count):
            item = json.loads(json.dumps(template))
            item["data"]["system"]["id"] = f"item-{index}"
            items.append(item)
        return json.dumps({"notifications": items}).encode()

    return make


@dataclass
class FakeStore:
    """accept() as the protocol promises (dedupe by key), and a switch to make it unavailable.

    Only for receiver unit tests: the real-socket test uses the SQLite store.
    """

    unavailable: bool = False
    broken: bool = False
    calls: list[tuple[list[Notification], list[PlannedJob], str | None]] = field(
        default_factory=list
    )
    keys: set[str] = field(default_factory=set)
    ping_error: Exception | None = None  # what probe_read() (the readiness probe) raises

    async def accept(
        self,
        notifications: Sequence[Notification],
        jobs: Sequence[PlannedJob],
        *,
        request_id: str | None,
    ) -> Accepted:
        if self.unavailable:
            raise StoreUnavailable("database is locked")
        if self.broken:
            raise RuntimeError("a bug in the store")
        self.calls.append((list(notifications), list(jobs), request_id))
        new = {n.key for n in notifications} - self.keys
        self.keys |= new
        kept = [j for j in jobs if j.notification_key in new]
        return Accepted(len(new), len(notifications) - len(new), len(kept))

    async def action_states(self) -> list[ActionState]:
        if self.unavailable:
            raise StoreUnavailable("database is locked")
        if self.ping_error is not None:
            raise self.ping_error
        return []

    async def probe_read(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("database is locked")
        if self.ping_error is not None:
            raise self.ping_error

    async def probe_write(self) -> None:
        if self.unavailable:
            raise StoreUnavailable("database is locked")


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def config() -> Config:
    return parse_config(RULES, env=SECRETS)


Client = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_for(config: Config, store: FakeStore) -> AsyncIterator[Client]:
    """`await client_for(max_body_bytes=...)`: an httpx client on a started app."""
    async with AsyncExitStack() as stack:

        async def make(**settings: Any) -> httpx.AsyncClient:
            app = create_app(
                replace(Settings(), **settings),
                config=config,
                store=store,  # type: ignore[arg-type]
                workers=False,
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://bridge")
            )

        yield make


@pytest.fixture
async def client(client_for: Client) -> httpx.AsyncClient:
    return await client_for()
