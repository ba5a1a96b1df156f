"""An item name crafted against a rule's regex: the webhook is still answered 200 and stored,
the other rules' jobs are planned, and the operator sees the rule that did not run (a warning
without the text, bridge_regex_timeouts_total), through the real app on the real SQLite store.

On Python's `re` the request below never finished: `(a|aa)+$` ran for 6.2 s on 34 a's and a '!'
and about 1.6 times as long for each a more, on the event loop, while every other request
waited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bridge import metrics
from bridge.app import create_app
from bridge.config import Config, parse_config
from bridge.delivery.store import Store
from bridge.settings import Settings
from tests.receiver.conftest import SECRETS, SEED, URL, signed

CRAFTED = "a" * 40 + "!"

RULES = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["${NEW_SECRET}"]
actions:
  audit: {type: log}
  announce: {type: log}
rules:
  - name: announce-by-name
    where: [{path: "$.data.system.name", regex: '(a|aa)+$'}]
    do: [announce]
  - name: content
    when: {object_type: content_item}
    do: [audit]
"""


@pytest.fixture
def config() -> Config:
    return parse_config(RULES, env=SECRETS)


@pytest.fixture
async def client(config: Config, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    metrics.reset()
    app = create_app(Settings(), config=config, store=sqlite_store, workers=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        yield client


def body_of(payload_bytes: Callable[[str], bytes], names: list[str]) -> bytes:
    seed: dict[str, Any] = json.loads(payload_bytes(SEED))["notifications"][0]
    items = []
    for index, name in enumerate(names):
        item = json.loads(json.dumps(seed))
        item["data"]["system"]["id"] = f"item-{index}"
        item["data"]["system"]["name"] = name
        items.append(item)
    return json.dumps({"notifications": items}).encode()


@pytest.mark.timeout(60)
async def test_a_crafted_name_is_accepted_and_its_rule_reported(
    client: httpx.AsyncClient,
    sqlite_store: Store,
    payload_bytes: Callable[[str], bytes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = body_of(payload_bytes, [CRAFTED])
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}  # `content` only
    [row] = await sqlite_store.notifications()
    assert row.raw["data"]["system"]["name"] == CRAFTED  # stored, for a replay
    warnings = [r for r in caplog.records if r.name == "bridge.rules"]
    assert [r.getMessage() for r in warnings] == [
        "rule 'announce-by-name' did not run for an event: where[0] ($.data.system.name): regex "
        "'(a|aa)+$' gave up after 50 ms on a value of 41 characters (the notification is "
        "stored: bridge replay plans it again once the regex is fixed)"
    ]
    exposition = (await client.get("/metrics")).text
    assert 'bridge_regex_timeouts_total{rule="announce-by-name"} 1.0' in exposition


@pytest.mark.timeout(60)
async def test_a_batch_of_crafted_names_is_counted_once_each(
    client: httpx.AsyncClient, sqlite_store: Store, payload_bytes: Callable[[str], bytes]
) -> None:
    # Past the first match the inline plan gives up its place on the loop and starts again in
    # a worker thread: twenty matches, twenty reports, none from the abandoned attempt. The
    # honest names come first: past the batch's 1 s of slow matches, a dozen or so, every
    # further match is given up unrun (tests/rules/test_rules_regex_timeouts.py), counted too.
    names = ["aaaa", "Launch", *[CRAFTED] * 20]
    body = body_of(payload_bytes, names)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.json() == {"accepted": 22, "duplicates": 0, "jobs": 23}  # 22 + aaaa's
    assert len(await sqlite_store.notifications()) == 22
    exposition = (await client.get("/metrics")).text
    assert 'bridge_regex_timeouts_total{rule="announce-by-name"} 20.0' in exposition
