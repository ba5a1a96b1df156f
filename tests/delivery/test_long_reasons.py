"""Through the whole bridge: a failure reason that quotes a target's answer is bounded.

Algolia's error `message` (up to the 8 MiB an SDK may read) was the job's whole reason: stored
in every attempt, logged on one line, repeated by alerts and every view.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from bridge.app import create_app
from bridge.config import parse_config
from bridge.delivery.model import DeliveryRow
from bridge.delivery.opening import open_store
from bridge.delivery.records import RESPONSE_EXCERPT_BYTES
from bridge.settings import Settings
from tests.actions import harness
from tests.admin.harness import eventually
from tests.fakes.server import Recorder

SECRET = "long-reason-secret"
ENV = "5f313984-9216-0158-9068-1d194f578bce"
RULES = """\
version: 1
kontent: {{delivery_url: "{delivery}"}}
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["{secret}"]}}
actions:
  search: {{type: algolia, app_id: APP, api_key: admin-key, index: articles, hosts: ["{url}"]}}
rules:
  - {{name: index, when: {{object_type: content_item}}, do: [search]}}
"""


async def test_a_megabyte_error_message_is_stored_as_an_excerpt(tmp_path: Path) -> None:
    system = harness.item_system("32022d85-ee58-4655-9016-e130c375820a")
    body = harness.notification(system, ENV, action="unpublished")
    store = open_store(f"sqlite:///{tmp_path}/bridge.db")
    await store.open()
    rows: list[DeliveryRow] = []

    async def attempted() -> bool:
        rows[:] = await store.deliveries(limit=5)
        return bool(rows) and rows[0].attempts >= 1 and rows[0].state != "running"

    try:
        async with (
            Recorder(400, {"message": "no " * (1 << 20)}) as algolia,
            # The unpublished item is gone from the Delivery API: the record is to be deleted.
            Recorder(200, {"items": [], "modular_content": {}}) as delivery,
        ):
            text = RULES.format(secret=SECRET, url=algolia.url, delivery=delivery.url)
            rules = parse_config(text)
            app = create_app(Settings(), config=rules, store=store)
            transport = httpx.ASGITransport(app=app)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=transport, base_url="http://b") as http,
            ):
                headers = harness.signed(body, SECRET)
                answer = await http.post("/webhooks/kontent", content=body, headers=headers)
                assert answer.status_code == 200, answer.text
                await eventually(attempted)
                job = await store.job(rows[0].job_id)
    finally:
        await store.close()
    assert rows[0].state == "dead"
    error = rows[0].last_error or ""
    assert error.startswith("Algolia answered 400: no no")
    assert error.endswith(" [...] (permanent: not retried)")
    assert len(error.encode()) <= RESPONSE_EXCERPT_BYTES + len(" [...] (permanent: not retried)")
    assert job is not None and len((job.attempts[0].error or "").encode()) == len(error.encode())
