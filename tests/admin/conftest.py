"""Fixtures of the admin tests: an app holding only the admin routes over a fake store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bridge import admin, metrics
from tests.admin.fakes import FakeStore, fake_config, row, state
from tests.fakes.sync import FakeSync

TOKEN = "admin-token-0123456789"

AdminClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
def store() -> FakeStore:
    fake = FakeStore()
    fake.states = {
        "content-team": state("content-team", "working"),
        "rebuild-site": state(
            "rebuild-site",
            "failing",
            failing_since=1_700_000_000.0 - 900,
            pending=2,
            failed_attempts=4,
        ),
    }
    fake.rows = [
        row(1, "content-team"),
        row(
            2,
            "rebuild-site",
            "retrying",
            attempts=4,
            last_status=502,
            last_response="Bad gateway from upstream",
            failures=4,
        ),
        row(3, "rebuild-site", "succeeded", attempts=2, failures=1),
    ]
    return fake


@pytest.fixture
def make_client(store: FakeStore) -> Callable[..., httpx.AsyncClient]:
    """Factory: a client for an app with the admin mounted (token None = admin off)."""

    def make(token: str | None = TOKEN, *, config: Any = None, **headers: str) -> httpx.AsyncClient:
        config = config or fake_config(
            **{
                "content-team": {"channel": "#content", "token": "xoxb-very-secret"},
                "rebuild-site": {"url": "https://hooks.example/build", "webhook_url": "https://s"},
            }
        )
        runtime = SimpleNamespace(config=config)
        settings = SimpleNamespace(admin_token=token)
        app = Starlette(routes=admin.routes(runtime, store, settings))
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bridge.test", headers=headers
        )

    return make


@pytest.fixture
async def api(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(Authorization=f"Bearer {TOKEN}") as client:
        yield client


async def sign_in(client: httpx.AsyncClient) -> None:
    """The dashboard's sign-in form, as a person submits it."""
    answer = await client.post("/admin/login", data={"token": TOKEN, "next": "/admin"})
    assert answer.status_code == 303


@pytest.fixture
async def signed_in(
    make_client: Callable[..., httpx.AsyncClient],
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as client:
        await sign_in(client)
        yield client


def csrf_of(html: str) -> str:
    """The CSRF value a dashboard page's forms carry."""
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


# -- the sources' tests (tests/admin/sourcing.py) ----------------------------------------------
@pytest.fixture
def fresh_metrics() -> metrics.Metrics:
    """The sources' readings live with the metrics registry: a test using this starts from none."""
    return metrics.reset()


@pytest.fixture
async def sync_api() -> AsyncIterator[FakeSync]:
    """The local Sync API a bridge's sources poll."""
    async with FakeSync() as fake:
        yield fake
