"""From a signed webhook to a record in (the fake) Algolia, through the whole bridge.

Receiver → rules → SQLite store → worker → `algolia` action → fresh content from the fake
Delivery API → batch + task polling on the fake Algolia; then an unpublish deletes the record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bridge.config import parse_config
from tests.actions import harness
from tests.actions.conftest import RunningBridge, StartBridge
from tests.actions.harness import item_system
from tests.fakes.algolia import FakeAlgolia
from tests.fakes.kontent import FakeDelivery, item_json

ENV = "5f313984-9216-0158-9068-1d194f578bce"
ITEM = "32022d85-ee58-4655-9016-e130c375820a"
SECRET = "e2e-secret"

RULES = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["${{WEBHOOK_SECRET}}"]
kontent:
  delivery_url: {delivery}
  preview_url: {delivery}/preview
actions:
  search:
    type: algolia
    app_id: APPID
    api_key: "${{ALGOLIA_KEY}}"
    index: "articles_{{{{ event.language }}}}"
    hosts: ["{algolia}"]
    record: {{title: "{{title}}", body: "{{body}}", url: "/articles/{{slug}}"}}
rules:
  - name: index-articles
    when: {{object_type: content_item, type: article, delivery_slot: published}}
    do: [search]
"""


def notification(action: str) -> bytes:
    return harness.notification(item_system(ITEM), ENV, action)


@dataclass
class Bridge:
    running: RunningBridge
    delivery: FakeDelivery
    algolia: FakeAlgolia

    async def post(self, body: bytes) -> dict[str, Any]:
        return await self.running.post(body)


@pytest.fixture
async def bridge(start_bridge: StartBridge) -> AsyncIterator[Bridge]:
    async with FakeDelivery() as delivery, FakeAlgolia(api_key="algolia-secret") as algolia:
        config = parse_config(
            RULES.format(delivery=delivery.url, algolia=algolia.url),
            env={"WEBHOOK_SECRET": SECRET, "ALGOLIA_KEY": "algolia-secret"},
        )
        async with start_bridge(config, SECRET) as running:
            yield Bridge(running, delivery, algolia)


@pytest.mark.slow
async def test_publish_saves_fresh_content_and_unpublish_deletes_it(bridge: Bridge) -> None:
    elements = {
        "title": {"type": "text", "name": "Title", "value": "Hello from the Delivery API"},
        "body": {"type": "rich_text", "name": "Body", "value": "<p>Fresh <b>content</b></p>"},
        "slug": {"type": "url_slug", "name": "Slug", "value": "hello-world"},
    }
    bridge.delivery.publish(ENV, item_json("hello_world", id=ITEM, elements=elements))

    assert (await bridge.post(notification("published")))["jobs"] == 1
    await bridge.algolia.wait_until(
        lambda: "hello_world_en" in bridge.algolia.indexes.get("articles_en", {})
    )
    assert bridge.algolia.indexes["articles_en"] == {
        "hello_world_en": {
            "objectID": "hello_world_en",
            "title": "Hello from the Delivery API",
            "body": "Fresh content",
            "url": "/articles/hello-world",
        }
    }
    fetch = bridge.delivery.requests[0]
    assert fetch.query["system.id"] == ITEM
    assert fetch.headers["X-KC-Wait-For-Loading-New-Content"] == "true"

    bridge.delivery.unpublish(ENV, ITEM, "en")
    assert (await bridge.post(notification("unpublished")))["jobs"] == 1
    await bridge.algolia.wait_until(lambda: len(bridge.algolia.batches) == 2)
    assert bridge.algolia.indexes["articles_en"] == {}
    assert bridge.algolia.batches[-1] == [
        {"action": "deleteObject", "body": {"objectID": "hello_world_en"}}
    ]
