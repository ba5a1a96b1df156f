"""Retries render the rule's `with:` as the config says now, so a fixed template rescues its jobs.

Through the whole bridge: the real app (receiver, SQLite store, workers, admin) and a real HTTP
target. A template error kills both jobs at once; the file is fixed and reloaded; `bridge
retry` (a separate process, as an operator runs it) and the dashboard's Retry button (a session
and its CSRF token) each deliver one with the fixed template. On the code before this change
both died again with the same error.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.app import create_app
from bridge.config import parse_config
from bridge.delivery.model import ClaimedJob, DeliveryRow
from bridge.delivery.render import current_inputs
from bridge.delivery.store import Store
from bridge.events import Event
from bridge.reload import Reloader
from bridge.runtime import Runtime
from bridge.settings import Settings
from bridge.signatures import sign
from tests.admin.harness import eventually
from tests.fakes.server import Recorded, Recorder

pytestmark = pytest.mark.timeout(60)

SECRET = "current-config-secret"
TOKEN = "admin-token-0123456789abcdef"
BROKEN = "{{ event.raw.data.system.nam }}"  # `nam`: not a key of the raw system object
FIXED = "{{ event.raw.data.system.name }}"

RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["{secret}"]}}
actions:
  hook: {{type: http, url: "{url}/hook", retry: {{schedule: [1m], give_up_after: 3d}}}}
rules:
  - name: announce
    when: {{object_type: content_item, action: published}}
    do:
      - action: hook
        with: {{body: "{body}"}}
"""


def rules(url: str, body: str) -> str:
    return RULES.format(secret=SECRET, url=url, body=body)


def notification(n: int) -> bytes:
    item = {
        "data": {"system": {"id": f"item-{n}", "name": f"Article {n}", "codename": f"a_{n}"}},
        "message": {"object_type": "content_item", "action": "published"},
    }
    return json.dumps({"notifications": [item]}).encode()


@dataclass
class Running:
    http: httpx.AsyncClient
    runtime: Runtime
    db: str
    config: Path

    @property
    def store(self) -> Store:
        assert self.runtime.store is not None
        return self.runtime.store

    async def rows(self) -> dict[int, DeliveryRow]:
        return {row.job_id: row for row in await self.store.deliveries(limit=50)}


@asynccontextmanager
async def running(tmp_path: Path, target: Recorder) -> AsyncIterator[Running]:
    config = tmp_path / "rules.yaml"
    config.write_text(rules(target.url, BROKEN))
    db = f"sqlite:///{tmp_path}/bridge.db"
    app = create_app(Settings(config=config, db=db, admin_token=TOKEN))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as http,
    ):
        yield Running(http, app.state.runtime, db, config)


async def post(bridge: Running, n: int) -> None:
    body = notification(n)
    headers = {"Content-Type": "application/json", "X-Kontent-ai-Signature": sign(body, SECRET)}
    answer = await bridge.http.post("/webhooks/kontent", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


async def delivered(target: Recorder, count: int) -> list[Recorded]:
    async with asyncio.timeout(20):
        return await target.wait_for(count)


async def fix_and_reload(bridge: Running, target: Recorder) -> None:
    bridge.config.write_text(rules(target.url, FIXED))
    assert await Reloader(bridge.config, bridge.runtime).reload("test")


async def bridge_cli(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def dashboard_retry(bridge: Running, job_id: int) -> None:
    signed_in = await bridge.http.post("/admin/login", data={"token": TOKEN, "next": "/admin"})
    assert signed_in.status_code == 303, signed_in.text
    page = await bridge.http.get(f"/admin/jobs/{job_id}")
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, "no CSRF field on the job page"
    answer = await bridge.http.post(f"/admin/jobs/{job_id}/retry", data={"csrf": found.group(1)})
    assert answer.status_code == 303, answer.text


async def test_a_fixed_template_rescues_dead_jobs_through_bridge_retry_and_the_dashboard(
    tmp_path: Path,
) -> None:
    async with Recorder() as target, running(tmp_path, target) as bridge:
        await post(bridge, 1)
        await post(bridge, 2)

        async def both_dead() -> bool:
            rows = await bridge.rows()
            return len(rows) == 2 and all(row.state == "dead" for row in rows.values())

        await eventually(both_dead)
        rows = await bridge.rows()
        for row in rows.values():
            assert row.attempts == 1  # a template error is permanent: dead at once
            assert "cannot render options" in (row.last_error or "")
            assert "nam" in (row.last_error or "")
        assert target.requests == []
        first, second = sorted(rows)

        await fix_and_reload(bridge, target)

        code, output = await bridge_cli("retry", "--db", bridge.db, str(first))
        assert code == 0, output
        sent = await delivered(target, 1)
        assert sent[0].text == "Article 1"

        await dashboard_retry(bridge, second)
        sent = await delivered(target, 2)
        assert sent[1].text == "Article 2"

        async def both_succeeded() -> bool:
            return all(row.state == "succeeded" for row in (await bridge.rows()).values())

        await eventually(both_succeeded)


# -- which inputs a job renders: the unit rules behind the end-to-end test ---------------------

CONFIG = """\
version: 1
webhooks:
  - {name: production, path: /webhooks/kontent, secrets: ["s"]}
actions:
  hook: {type: http, url: "http://127.0.0.1:9/hook"}
  other: {type: http, url: "http://127.0.0.1:9/other"}
rules:
  - name: once
    when: {object_type: content_item}
    do:
      - action: hook
        with: {body: "now"}
  - name: twice
    when: {object_type: content_item}
    do:
      - action: hook
        with: {body: "first now"}
      - action: hook
        with: {body: "second"}
      - other
"""


def job(rule: str, action: str, inputs: Mapping[str, Any], **event: Any) -> ClaimedJob:
    return ClaimedJob(
        id=1,
        action=action,
        rule=rule,
        notification_key="k",
        event=Event(object_type=event.get("object_type", "content_item")),
        inputs=inputs,
        attempts=0,
        retry_index=0,
        first_failure_at=None,
        created_at=0.0,
        request_id=None,
    )


def test_a_rule_naming_its_action_once_gives_its_current_inputs() -> None:
    config = parse_config(CONFIG)
    assert current_inputs(config, job("once", "hook", {"body": "then"})) == {"body": "now"}


def test_a_removed_rule_or_item_keeps_the_stored_inputs() -> None:
    config = parse_config(CONFIG)
    assert current_inputs(config, job("gone", "hook", {"body": "then"})) == {"body": "then"}
    assert current_inputs(config, job("once", "other", {"body": "then"})) == {"body": "then"}


def test_an_action_named_twice_in_a_rule_matches_an_unchanged_item_or_keeps_the_stored() -> None:
    config = parse_config(CONFIG)
    unchanged = job("twice", "hook", {"body": "second"})
    assert current_inputs(config, unchanged) == {"body": "second"}
    # Which of the two items this came from cannot be told once its `with:` changed.
    changed = job("twice", "hook", {"body": "first then"})
    assert current_inputs(config, changed) == {"body": "first then"}


def test_an_alert_keeps_its_own_inputs_even_under_a_rule_of_the_same_name() -> None:
    config = parse_config(CONFIG.replace("name: once", "name: alerts"))
    alert = job("alerts", "hook", {"body": "hook is failing"}, object_type="bridge_alert")
    assert current_inputs(config, alert) == {"body": "hook is failing"}
