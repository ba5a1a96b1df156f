"""Through the whole bridge (receiver, SQLite store, worker): what the delivery log shows.

A wrong `delivery_url` leaves the search record alone and the job retrying with a reason that
names the setting; a huge target answer is stored as an excerpt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from bridge.app import create_app
from bridge.config import parse_config
from bridge.delivery.model import DeliveryRow
from bridge.delivery.opening import open_store
from bridge.delivery.records import RESPONSE_EXCERPT_BYTES
from bridge.delivery.store import Store
from bridge.settings import Settings
from tests.actions import harness
from tests.actions.harness import signed
from tests.admin.harness import eventually
from tests.fakes.algolia import FakeAlgolia
from tests.fakes.azure_search import FakeAzureSearch
from tests.fakes.huge import HugeAnswer
from tests.fakes.server import Recorder

SECRET = "e2e-secret"
ENV = "5f313984-9216-0158-9068-1d194f578bce"
ITEM = "32022d85-ee58-4655-9016-e130c375820a"

RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["{secret}"]}}
kontent:
  delivery_url: {delivery}
actions:
  {action}: {target}
rules:
  - name: index
    when: {{object_type: content_item, delivery_slot: published}}
    do: [{action}]
"""


def notification() -> bytes:
    system = {"id": ITEM, "codename": "hello", "language": "en", "type": "article"}
    return harness.notification(system, ENV)


@asynccontextmanager
async def bridge(tmp_path: Path, rules: str) -> AsyncIterator[Store]:
    """The bridge running `rules`, one notification posted; yields its store."""
    store = open_store(f"sqlite:///{tmp_path}/bridge.db")
    await store.open()
    app = create_app(Settings(), config=parse_config(rules), store=store)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http,
        ):
            body = notification()
            answer = await http.post(
                "/webhooks/kontent", content=body, headers=signed(body, SECRET)
            )
            assert answer.status_code == 200, answer.text
            yield store
    finally:
        await store.close()


async def first_attempt(store: Store) -> DeliveryRow:
    rows: list[DeliveryRow] = []

    async def attempted() -> bool:
        rows[:] = await store.deliveries(limit=5)
        return bool(rows) and rows[0].attempts >= 1 and rows[0].state != "running"

    await eventually(attempted)
    return rows[0]


def rules(action: str, target: str, delivery: str = "http://127.0.0.1:9") -> str:
    return RULES.format(secret=SECRET, delivery=delivery, action=action, target=target)


async def test_a_wrong_delivery_url_keeps_the_record_and_the_job_failing_loudly(
    tmp_path: Path,
) -> None:
    page = "<html><body>Not Found</body></html>"
    async with Recorder(404, page) as wrong, FakeAlgolia() as algolia:
        algolia.indexes["articles"] = {"hello_en": {"objectID": "hello_en", "title": "kept"}}
        search = (
            "{type: algolia, app_id: APPID, api_key: admin-key, index: articles, "
            f'hosts: ["{algolia.url}"]}}'
        )
        async with bridge(tmp_path, rules("search", search, delivery=wrong.url)) as store:
            await wrong.wait_for(1)
            row = await first_attempt(store)
    assert algolia.indexes["articles"] == {"hello_en": {"objectID": "hello_en", "title": "kept"}}
    assert algolia.batches == []
    assert row.state == "retrying"
    assert row.last_status == 404
    assert "without Kontent.ai's 'content item not found' error" in (row.last_error or "")
    assert "check kontent.delivery_url" in (row.last_error or "")


async def test_a_wrong_delivery_url_keeps_the_azure_document_and_the_job_failing_loudly(
    tmp_path: Path,
) -> None:
    """As for Algolia: a proxy's HTML 200 at the configured URL is no item listing, so the
    document stays and the job retries naming the setting, instead of emptying the index."""
    async with (
        Recorder(200, "<html><body>Sign in</body></html>") as wrong,
        FakeAzureSearch() as azure,
    ):
        azure.indexes["articles"] = {"hello_en": {"key": "hello_en", "title": "kept"}}
        search = (
            f"{{type: azure_search, endpoint: '{azure.url}', api_key: admin-key, index: articles}}"
        )
        async with bridge(tmp_path, rules("search", search, delivery=wrong.url)) as store:
            await wrong.wait_for(1)
            row = await first_attempt(store)
    assert azure.indexes["articles"] == {"hello_en": {"key": "hello_en", "title": "kept"}}
    assert azure.batches == []
    assert row.state == "retrying"
    assert "answered 200 with something that is not JSON" in (row.last_error or "")
    assert "check kontent.delivery_url" in (row.last_error or "")


async def test_a_huge_target_answer_is_stored_as_an_excerpt(tmp_path: Path) -> None:
    async with HugeAnswer(64 << 20, status=502, content_length=False) as target:
        hook = f'{{type: http, url: "{target.url}/hook"}}'
        async with bridge(tmp_path, rules("hook", hook)) as store:
            await target.wait_for(1)
            row = await first_attempt(store)
            await target.finished.wait()
    assert row.state == "retrying"
    stored = row.last_response or ""
    assert stored.startswith("xxxx")
    assert "more than 8192 bytes; only the first 8192 read" in stored
    assert len(stored.encode()) <= RESPONSE_EXCERPT_BYTES
    assert target.sent_bytes < 32 << 20  # the bridge hung up after the prefix
