"""`azure_search` through the whole bridge, and its api_key kept out of every output.

A signed webhook → rules → SQLite store → worker → the action → fresh content from the fake
Delivery API → the fake Azure AI Search. The service first answers 503 with Retry-After and an
error text that echoes the key (as a misbehaving proxy might): the job retries not before the
Retry-After, and the key is in none of the logs, `bridge explain`, the admin API, the
dashboard or the database.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.logformat import configure
from bridge.settings import Settings
from tests.actions import harness
from tests.actions.harness import admin_bridge, explain_json, item_system, signed
from tests.admin.harness import eventually
from tests.fakes.azure_search import FakeAzureSearch
from tests.fakes.kontent import FakeDelivery, item_json

pytestmark = pytest.mark.timeout(60)
ENV = "5f313984-9216-0158-9068-1d194f578bce"
ITEM = "32022d85-ee58-4655-9016-e130c375820a"
SECRET = "azure-e2e-webhook-secret"
ADMIN = "azure-e2e-admin-token"
API_KEY = "azure-admin-key-0042-secret"
BEARER = {"Authorization": f"Bearer {ADMIN}"}

RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["{secret}"]}}
kontent:
  delivery_url: {delivery}
defaults:
  retry: {{schedule: [1s], give_up_after: 1h}}
actions:
  search:
    type: azure_search
    endpoint: {azure}
    api_key: "${{AZURE_SEARCH_KEY}}"
    index: "articles-{{{{ event.language }}}}"
    record: {{title: "{{title}}", url: "/articles/{{slug}}"}}
rules:
  - name: index-articles
    when: {{object_type: content_item, delivery_slot: published}}
    do: [search]
"""


def notification() -> bytes:
    return harness.notification(item_system(ITEM), ENV)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def bridge(tmp_path: Path, config: Path) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    settings = Settings(config=config, db=f"sqlite:///{tmp_path}/bridge.db", admin_token=ADMIN)
    return admin_bridge(settings)


async def test_a_throttled_index_retries_at_retry_after_and_the_key_shows_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_SEARCH_KEY", API_KEY)
    logs = io.StringIO()
    handler = configure("json", "DEBUG", logs)  # every logger, the SDK's included
    pages: dict[str, str] = {}
    try:
        async with (
            FakeDelivery() as delivery,
            FakeAzureSearch(api_key=API_KEY, indexes=("articles-en",)) as azure,
        ):
            elements = {
                "title": {"type": "text", "name": "Title", "value": "Hello from Kontent.ai"},
                "slug": {"type": "url_slug", "name": "Slug", "value": "hello-world"},
            }
            delivery.publish(ENV, item_json("hello_world", id=ITEM, elements=elements))
            config = tmp_path / "rules.yaml"
            config.write_text(RULES.format(secret=SECRET, delivery=delivery.url, azure=azure.url))
            echo = {"error": {"code": "", "message": f"throttled for api-key {API_KEY}"}}
            azure.fail_next(503, echo, {"Retry-After": "2"})
            async with bridge(tmp_path, config) as client:
                body = notification()
                headers = signed(body, SECRET)
                answer = await client.post("/webhooks/kontent", content=body, headers=headers)
                assert answer.status_code == 200, answer.text
                await azure.wait_for(1)
                rows: list[dict[str, Any]] = []

                async def failed_once() -> bool:
                    nonlocal rows
                    found = await client.get("/admin/api/deliveries", headers=BEARER)
                    rows = found.json()["items"]
                    return bool(rows) and rows[0]["attempts"] == 1 and rows[0]["last_attempt_at"]

                await eventually(failed_once)
                failed_row = rows[0]
                job = failed_row["job_id"]
                pages["failing job"] = (
                    await client.get(f"/admin/api/jobs/{job}", headers=BEARER)
                ).text
                failing = json.loads(pages["failing job"])
                await azure.wait_until(lambda: "hello_world_en" in azure.indexes["articles-en"])

                async def recorded_success() -> bool:
                    # The index has the document before the bridge has recorded the attempt.
                    found = await client.get(f"/admin/api/jobs/{job}", headers=BEARER)
                    pages["job"] = found.text
                    return bool(found.json()["state"] == "succeeded")

                await eventually(recorded_success)
                pages["deliveries"] = (
                    await client.get("/admin/api/deliveries", headers=BEARER)
                ).text
                pages["actions"] = (await client.get("/admin/api/actions", headers=BEARER)).text
                login = await client.post("/admin/login", data={"token": ADMIN, "next": "/admin"})
                assert login.status_code == 303
                pages["dashboard job"] = (await client.get(f"/admin/jobs/{job}")).text
            database = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("bridge.db*")))  # noqa: ASYNC240
    finally:
        logging.getLogger().removeHandler(handler)
    first, _ = azure.requests
    assert first.headers["api-key"] == API_KEY  # the key did go out, to the service only
    assert azure.indexes["articles-en"]["hello_world_en"] == {
        "key": "hello_world_en",
        "title": "Hello from Kontent.ai",
        "url": "/articles/hello-world",
    }
    text = json.dumps(failing["attempt_log"])
    assert "Azure AI Search answered 503" in text and "***" in text  # the echo was kept, hidden
    # The schedule says 1 s; the service's Retry-After (2 s) wins.
    delay = at(failed_row["next_attempt_at"]) - at(failed_row["last_attempt_at"])
    assert delay.total_seconds() >= 1.9, failed_row
    # Each attempt keeps the request the SDK sent (the session's trace), its api-key hidden.
    attempts = json.loads(pages["job"])["requests"]
    assert [a["number"] for a in attempts] == [1, 2]
    for attempt in attempts:
        sent = attempt["request"]
        assert sent["method"] == "POST"
        assert sent["url"].startswith(f"{azure.url}/indexes('articles-en')/docs/search.index?")
        assert sent["headers"]["api-key"] == "***"
    [shown] = json.loads(pages["actions"])["actions"]
    assert shown["options"]["api_key"] == "***"

    pages["explain"] = explain_json(config, notification(), tmp_path)
    assert '"api_key": "***"' in pages["explain"]

    pages["logs"] = logs.getvalue()
    assert "Azure AI Search answered 503" in pages["logs"]  # the failure was logged, redacted
    for name, text in pages.items():
        assert API_KEY not in text, name
    assert API_KEY.encode() not in database
