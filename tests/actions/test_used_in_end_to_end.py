"""A teaser used by two pages changes: both pages' records are refreshed and their keys purged;
a renamed taxonomy term refreshes the records of the items tagged with it.

Signed webhook → receiver → rules → SQLite store → workers → `algolia` (official SDK, fake
Algolia) and `fastly` (aiohttp, a local Fastly purge endpoint), both with `expand: used_in`
against the fake Delivery API's used-in listing.
"""

from __future__ import annotations

import json
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
from tests.fakes.server import Recorder

ENV = "5f313984-9216-0158-9068-1d194f578bce"
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
    index: "site_{{{{ event.language }}}}"
    hosts: ["{algolia}"]
    expand: used_in
  cdn:
    type: fastly
    service_id: SVC1
    token: "${{FASTLY_TOKEN}}"
    keys: "item-{{{{ event.codename }}}}"
    api_url: {fastly}
    expand: {{used_in: true, depth: 2, max_items: 100}}
rules:
  - name: refresh
    when: {{object_type: [content_item, asset, taxonomy], delivery_slot: published}}
    do: [search, cdn]
"""


def teaser(text: str) -> dict[str, Any]:
    summary = {"type": "rich_text", "name": "Summary", "value": f"<p>{text}</p>"}
    return item_json("coffee_teaser", id="id-teaser", type="teaser", elements={"summary": summary})


def page(codename: str, with_component: bool = False) -> dict[str, Any]:
    html = '<p>Welcome</p><object type="application/kenticocloud" data-type="item" '
    html += 'data-rel="link" data-codename="coffee_teaser"></object>'
    codenames = ["coffee_teaser"]
    if with_component:
        html += '<object type="application/kenticocloud" data-type="item" '
        html += 'data-rel="component" data-codename="n1_faq"></object>'
        codenames.append("n1_faq")
    body = {"type": "rich_text", "name": "Body", "value": html, "modular_content": codenames}
    return item_json(codename, id=f"id-{codename}", type="page", elements={"body": body})


def faq() -> dict[str, Any]:
    answer = {"type": "text", "name": "Answer", "value": "Grind just before brewing"}
    return item_json("n1_faq", id="id-faq", type="faq", elements={"answer": answer})


def notification(codename: str, item_id: str, type: str) -> bytes:
    system = item_system(item_id, name=codename, codename=codename, type=type)
    return harness.notification(system, ENV)


@dataclass
class Bridge:
    running: RunningBridge
    delivery: FakeDelivery
    algolia: FakeAlgolia
    fastly: Recorder


@pytest.fixture
async def bridge(start_bridge: StartBridge) -> AsyncIterator[Bridge]:
    async with (
        FakeDelivery() as delivery,
        FakeAlgolia(api_key="algolia-secret") as algolia,
        Recorder(body='{"status": "ok"}') as fastly,
    ):
        config = parse_config(
            RULES.format(delivery=delivery.url, algolia=algolia.url, fastly=fastly.url),
            env={"WEBHOOK_SECRET": SECRET, "ALGOLIA_KEY": "algolia-secret", "FASTLY_TOKEN": "ft"},
        )
        async with start_bridge(config, SECRET) as running:
            yield Bridge(running, delivery, algolia, fastly)


def purged_keys(fastly: Recorder) -> set[str]:
    return {key for r in fastly.requests for key in r.json()["surrogate_keys"]}


@pytest.mark.slow
async def test_a_teaser_change_refreshes_and_purges_both_pages_using_it(bridge: Bridge) -> None:
    bridge.delivery.publish(ENV, teaser("Old beans"))
    bridge.delivery.publish(ENV, page("home", with_component=True), components={"n1_faq": faq()})
    bridge.delivery.publish(ENV, page("about"))
    bridge.delivery.publish(ENV, item_json("unrelated", id="id-unrelated", type="page"))

    bridge.delivery.publish(ENV, teaser("Fresh single-origin beans"))
    result = await bridge.running.post(notification("coffee_teaser", "id-teaser", "teaser"))
    assert result["jobs"] == 2

    await bridge.algolia.wait_until(
        lambda: {"home_en", "about_en"} <= set(bridge.algolia.indexes.get("site_en", {}))
    )
    index = bridge.algolia.indexes["site_en"]
    await bridge.fastly.wait_for(1)

    assert set(index) == {"coffee_teaser_en", "home_en", "about_en"}  # not "unrelated"
    home = index["home_en"]
    assert home["body"] == "Welcome"
    assert home["content"] == [
        {
            "id": "id-teaser",
            "codename": "coffee_teaser",
            "name": "Coffee Teaser",
            "type": "teaser",
            "kind": "linked_item",
            "parents": ["home"],
            "text": "Fresh single-origin beans",
        },
        {
            "id": "id-faq",
            "codename": "n1_faq",
            "name": "N1 Faq",
            "type": "faq",
            "kind": "component",
            "parents": ["home"],
            "text": "Grind just before brewing",
        },
    ]
    assert index["about_en"]["content"][0]["text"] == "Fresh single-origin beans"
    assert index["about_en"]["content_codenames"] == ["coffee_teaser"]

    assert purged_keys(bridge.fastly) == {"item-coffee_teaser", "item-home", "item-about"}
    purge = bridge.fastly.requests[0]
    assert purge.path == "/service/SVC1/purge"
    assert purge.headers["Fastly-Key"] == "ft"

    used_in = [r for r in bridge.delivery.requests if r.path.endswith("/used-in")]
    assert f"/{ENV}/items/coffee_teaser/used-in" in {r.path for r in used_in}
    assert all(r.headers["X-KC-Wait-For-Loading-New-Content"] == "true" for r in used_in)


@pytest.mark.slow
async def test_an_asset_change_reindexes_the_items_using_it(bridge: Bridge) -> None:
    photo = {"name": "beans.jpg", "description": "Beans", "url": "https://a/beans.jpg"}
    image = {"type": "asset", "name": "Image", "value": [{**photo, "codename": "beans_jpg"}]}
    bridge.delivery.publish(ENV, item_json("gallery", id="id-gallery", elements={"image": image}))
    body = {
        "notifications": [
            {
                "data": {"system": {"id": "a1", "name": "beans.jpg", "codename": "beans_jpg"}},
                "message": {
                    "environment_id": ENV,
                    "object_type": "asset",
                    "action": "changed",
                    "delivery_slot": "published",
                },
            }
        ]
    }
    await bridge.running.post(json.dumps(body).encode())
    await bridge.algolia.wait_until(
        lambda: "gallery_en" in bridge.algolia.indexes.get("site_en", {})
    )
    record = bridge.algolia.indexes["site_en"]["gallery_en"]
    assert record["image_assets"][0]["description"] == "Beans"
    await bridge.fastly.wait_for(1)
    assert purged_keys(bridge.fastly) == {"item-gallery", "item-beans_jpg"}


@pytest.mark.slow
async def test_a_renamed_term_refreshes_the_records_of_the_items_tagged_with_it(
    bridge: Bridge,
) -> None:
    def phone(term_name: str) -> dict[str, Any]:
        value = [{"name": term_name, "codename": "handheld"}]
        category = {"type": "taxonomy", "name": "Category", "taxonomy_group": "category"}
        return item_json(
            "phone", id="id-phone", elements={"category": {**category, "value": value}}
        )

    bridge.delivery.publish(ENV, phone("Handheld devices"))  # its term, as renamed
    body = {
        "notifications": [
            {
                "data": {
                    "system": {
                        "id": "t1",
                        "name": "Handheld devices",
                        "codename": "handheld",
                        "last_modified": "2026-12-03T10:00:00Z",
                        "taxonomy_group": "category",
                    }
                },
                "message": {
                    "environment_id": ENV,
                    "object_type": "taxonomy",
                    "action": "term_changed",
                    "delivery_slot": "published",
                },
            }
        ]
    }
    await bridge.running.post(json.dumps(body).encode())
    await bridge.algolia.wait_until(lambda: "phone_en" in bridge.algolia.indexes.get("site_en", {}))
    record = bridge.algolia.indexes["site_en"]["phone_en"]
    assert (record["category"], record["category_names"]) == (["handheld"], ["Handheld devices"])
    await bridge.fastly.wait_for(1)
    assert purged_keys(bridge.fastly) == {"item-handheld", "item-phone"}
