"""The translation round trip through the whole bridge, and its secrets kept out of sight.

A signed `workflow_step_changed` to "translate" → receiver → rules → SQLite store → worker →
`translate` (fake DeepL through the `deepl` SDK, fake Management API) → two variants written
and moved → a follow-up job → `slack` (fake Slack through slack-sdk): one message listing both
languages. The same notification again, and a new notification about the unchanged source,
change nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bridge.config import load_config
from bridge.settings import Settings
from tests.actions import harness
from tests.actions.harness import admin_bridge, captured_log, explain_json, item_system, signed
from tests.actions.test_translate import BODY, CALLOUT, COMPONENTS, ENV, ITEM, environment
from tests.admin.harness import eventually
from tests.fakes.deepl import FakeDeepL
from tests.fakes.management import FakeManagement
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.timeout(60)

SECRET = "webhook-secret-e2e"
ADMIN = "admin-token-e2e-0001"
DEEPL_KEY = "deepl-e2e-key-0003:fx"
MAPI_KEY = "mapi-e2e-key-0004"
SLACK_TOKEN = "xoxb-e2e-0005"
BEARER = {"Authorization": f"Bearer {ADMIN}"}

RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["${{WEBHOOK_SECRET}}"]}}
kontent:
  management_url: "{mapi}/v2"
  environments:
    "{env}": {{management_api_key: "${{MAPI_KEY}}"}}
actions:
  content-team: {{type: slack, token: "${{SLACK_TOKEN}}", channel: "#content",
                  base_url: "{slack}"}}
  translate:
    type: translate
    deepl_auth_key: "${{DEEPL_KEY}}"
    deepl_server_url: "{deepl}"
    source_lang: EN
    languages: {{de-DE: DE, fr-FR: FR}}
    workflow: default
    step: review_translation
    marker_element: translation_source
    report_to: [content-team]
rules:
  - name: translate-articles
    when: {{object_type: content_item, action: workflow_step_changed,
            workflow_step: translate, language: en}}
    do:
      - action: translate
        with: {{management_api_key: "${{MAPI_KEY}}"}}
"""
ENV_VARS = {
    "WEBHOOK_SECRET": SECRET,
    "MAPI_KEY": MAPI_KEY,
    "SLACK_TOKEN": SLACK_TOKEN,
    "DEEPL_KEY": DEEPL_KEY,
}


def notification(last_modified: str = "2026-11-30T10:00:00.1234567Z") -> bytes:
    system = item_system(ITEM, step="translate", last_modified=last_modified)
    context = {"previous_workflow": "default", "previous_workflow_step": "draft"}
    return harness.notification(
        system, ENV, "workflow_step_changed", "preview", action_context=context
    )


@dataclass
class Bridge:
    client: httpx.AsyncClient
    deepl: FakeDeepL
    mapi: FakeManagement
    slack: FakeSlack
    config: Path
    log: io.StringIO

    async def post(self, body: bytes) -> dict[str, Any]:
        answer = await self.client.post(
            "/webhooks/kontent", content=body, headers=signed(body, SECRET)
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def deliveries(self) -> list[dict[str, Any]]:
        answer = await self.client.get("/admin/api/deliveries", headers=BEARER)
        rows: list[dict[str, Any]] = answer.json()["items"]
        return rows


@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A SQLite file, or a PostgreSQL database of its own (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/bridge.db"
        return
    dsn = os.environ.get("BRIDGE_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("BRIDGE_TEST_POSTGRES_DSN is not set")
    name = f"t_translate_{uuid.uuid4().hex[:10]}"
    try:
        yield dsn.rsplit("/", 1)[0] + "/" + name
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def bridge(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bridge]:
    for name, value in ENV_VARS.items():
        monkeypatch.setenv(name, value)
    with captured_log() as log:  # the deepl SDK logs its requests at DEBUG
        async with (
            database(request.param, tmp_path) as db,
            FakeDeepL(DEEPL_KEY) as deepl,
            FakeManagement(MAPI_KEY) as mapi,
            FakeSlack(SLACK_TOKEN) as slack,
        ):
            mapi.environments[ENV] = environment()
            mapi.put_type(ENV, CALLOUT)
            mapi.add_type(
                ENV,
                "article",
                {"title": "text", "body": "rich_text", "translation_source": "text"},
            )
            mapi.add_variant(
                ENV,
                ITEM,
                "en",
                "article",
                {"title": "Hello world", "body": {"value": BODY, "components": COMPONENTS}},
                last_modified="2026-11-30T10:00:00.1234567Z",
                step_id="step-translate",
            )
            config = tmp_path / "rules.yaml"
            config.write_text(
                RULES.format(env=ENV, slack=slack.api_url, deepl=deepl.url, mapi=mapi.url)
            )
            settings = Settings(config=config, db=db, admin_token=ADMIN)
            async with admin_bridge(settings) as client:
                yield Bridge(client, deepl, mapi, slack, config, log)


async def test_workflow_step_to_translate_round_trip_and_a_repeat_changes_nothing(
    bridge: Bridge,
) -> None:
    assert (await bridge.post(notification()))["jobs"] == 1
    await bridge.slack.wait_until(lambda: len(bridge.slack.messages) == 1)

    # DeepL got the item's text: the title and the body's component as text, the body as HTML.
    sent = [(b["target_lang"], b["text"], b.get("tag_handling")) for b in bridge.deepl.translations]
    assert sent == [
        ("DE", ["Hello world", "Mind the step"], None),
        ("DE", [BODY], "html"),
        ("FR", ["Hello world", "Mind the step"], None),
        ("FR", [BODY], "html"),
    ]
    # Two variants written and moved to the configured step.
    for lang, code in (("de-DE", "DE"), ("fr-FR", "FR")):
        assert bridge.mapi.value(ENV, ITEM, lang, "title") == f"[{code}] Hello world"
        assert bridge.mapi.step_of(ENV, ITEM, lang) == "review_translation"
    assert [(item, lang) for item, lang, _ in bridge.mapi.upserts] == [
        (ITEM, "de-DE"),
        (ITEM, "fr-FR"),
    ]
    assert [m[1] for m in bridge.mapi.moves] == ["de-DE", "fr-FR"]
    # One Slack message listing both languages.
    [message] = bridge.slack.messages
    assert message["text"] == "Translated 'Hello world' to de-DE, fr-FR"
    assert message["channel"] == "#content"

    async def both_succeeded() -> bool:
        rows = await bridge.deliveries()
        return len(rows) == 2 and all(r["state"] == "succeeded" for r in rows)

    await eventually(both_succeeded)
    requests = (len(bridge.deepl.requests), len(bridge.mapi.upserts), len(bridge.mapi.moves))

    # The same notification again: recognised as a duplicate; no job.
    again = await bridge.post(notification())
    assert again["duplicates"] == 1 and again["jobs"] == 0
    # A new notification about the unchanged source: a job, which finds both languages done.
    assert (await bridge.post(notification("2026-11-30T10:05:00Z")))["jobs"] == 1

    async def third_succeeded() -> bool:
        rows = await bridge.deliveries()
        return len(rows) == 3 and all(r["state"] == "succeeded" for r in rows)

    await eventually(third_succeeded)
    [latest, *_] = await bridge.deliveries()
    assert latest["action"] == "translate"
    assert "already done: de-DE, fr-FR" in (latest["last_response"] or "")
    assert (
        len(bridge.deepl.requests),
        len(bridge.mapi.upserts),
        len(bridge.mapi.moves),
    ) == requests
    assert len(bridge.slack.messages) == 1

    # The keys went out (DeepL, Management API) and appear nowhere they are shown.
    assert bridge.deepl.requests[0].headers["Authorization"] == f"DeepL-Auth-Key {DEEPL_KEY}"
    assert all(r.headers["Authorization"] == f"Bearer {MAPI_KEY}" for r in bridge.mapi.requests)
    shown = {
        path: (await bridge.client.get(f"/admin/api/{path}", headers=BEARER)).text
        for path in ("actions", "deliveries", "rules", "notifications")
    }
    for row in await bridge.deliveries():
        job = await bridge.client.get(f"/admin/api/jobs/{row['job_id']}", headers=BEARER)
        shown[f"job {row['job_id']}"] = job.text
    translate_job = next(
        json.loads(text) for text in shown.values() if '"management_api_key"' in text
    )
    assert translate_job["inputs"]["management_api_key"] == "***"
    logging.getLogger("bridge.test").warning("a key in a message: %s %s", DEEPL_KEY, MAPI_KEY)
    shown["log"] = bridge.log.getvalue()
    assert "Request to DeepL API" in shown["log"]  # the SDK's own lines are in the log
    for name, text in shown.items():
        assert DEEPL_KEY not in text and MAPI_KEY not in text, name
        assert DEEPL_KEY.split(":")[0] not in text, name


def test_explain_shows_the_translate_options_with_the_keys_hidden(
    bridge: Bridge, tmp_path: Path
) -> None:
    printed = explain_json(bridge.config, notification(), tmp_path)
    assert '"deepl_auth_key": "***"' in printed
    assert '"management_api_key": "***"' in printed
    assert DEEPL_KEY not in printed and MAPI_KEY not in printed
    config = load_config(bridge.config)
    assert config.actions["translate"].action_class.secret_options == {
        "deepl_auth_key",
        "management_api_key",
    }
