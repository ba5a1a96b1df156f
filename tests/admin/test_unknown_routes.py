"""A path no admin route has, or a method a route does not take, is answered in the admin's
form by the whole app (bridge.app): JSON under /admin/api, whose every answer is JSON
(docs/admin-api.md), and the dashboard's error page elsewhere under /admin. Starlette's own
answer was a plain-text "Not Found" or "Method Not Allowed"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bridge.app import create_app
from bridge.config import parse_config
from bridge.settings import Settings

TOKEN = "unknown-routes-admin-token-0123"
RULES = """\
version: 1
webhooks:
  - {name: production, path: /webhooks/kontent, secrets: ["s3cret"]}
actions:
  audit: {type: log}
rules:
  - {name: all, when: {object_type: content_item}, do: [audit]}
"""
API = [
    ("GET", "/admin/api/nothing", 404),
    ("GET", "/admin/api/", 404),
    ("GET", "/admin/api/jobs/1/retry", 405),
    ("DELETE", "/admin/api/actions", 405),
    ("GET", "/admin/api/replay", 405),
    ("OPTIONS", "/admin/api/actions", 405),
]
DASHBOARD = [
    ("GET", "/admin/nothing", 404),
    ("GET", "/admin/static/nope.js", 404),
    ("GET", "/admin/logout", 405),
    ("PUT", "/admin/jobs/1", 405),
    ("GET", "/admin/jobs/1/retry", 405),
]


async def client_for(tmp_path: Path, token: str | None) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(db=f"sqlite:///{tmp_path}/bridge.db", admin_token=token)
    app = create_app(settings, config=parse_config(RULES, env={}), workers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for made in client_for(tmp_path, TOKEN):
        yield made


@pytest.mark.parametrize(("method", "path", "status"), API)
async def test_the_api_answers_json(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    answer = await client.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]
    if status == 405:
        assert answer.headers["allow"]


@pytest.mark.parametrize(("method", "path", "status"), DASHBOARD)
async def test_the_dashboard_answers_its_error_page(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    answer = await client.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert "Not available" in answer.text and "<html" in answer.text
    # The headers of every other dashboard page, the content security policy included.
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["referrer-policy"] == "same-origin"


async def test_an_admin_that_is_off_answers_json_404(tmp_path: Path) -> None:
    async for client in client_for(tmp_path, None):
        api = await client.get("/admin/api/actions")
        assert api.status_code == 404 and api.json()["error"]
        page = await client.get("/admin")
        assert page.status_code == 404 and "Not available" in page.text
