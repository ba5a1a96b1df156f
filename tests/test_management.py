"""Legacy workflow notifications: ids resolved to codenames through the Management API."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from bridge.app import create_app
from bridge.config import parse_config
from bridge.config.model import EnvironmentConfig, KontentConfig
from bridge.delivery.store import Store
from bridge.events import Notification
from bridge.kontent.management import ManagementResolver
from bridge.payloads import parse_body
from bridge.settings import Settings
from bridge.signatures import sign
from tests.fakes.management import DEFAULT_ID, FakeManagement, language, step, workflow

pytestmark = pytest.mark.timeout(30)

ENV = "195a50c1-f1b8-0066-9eb4-83f7246d5459"  # the legacy fixture's project_id
KEY = "management-key"
REVIEW_ID = "eee6db3b-545a-4785-8e86-e3772c8756f9"  # the fixture's transition_from
PUBLISHED_ID = "03b6ebd3-2f49-4621-92fd-4977b33681d1"  # the fixture's transition_to
SPANISH_ID = "d1f95fde-af02-b3b5-bd9e-f232311ccab8"
WORKFLOW_FIXTURE = "legacy/content_item_variant_change_workflow_step.json"
SECRET = "s3cret"


def _environment() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    workflows = [
        workflow(
            "default",
            steps=[
                step("b4363ccd-8f21-45fd-a840-5843d7b7f008", "draft"),
                step(REVIEW_ID, "review"),
            ],
            published=step(PUBLISHED_ID, "published"),
            archived=step("7a535a69-ad34-47f8-806a-def1fdf4d391", "archived"),
        )
    ]
    languages = [language(DEFAULT_ID, "en-US", default=True), language(SPANISH_ID, "es-ES")]
    return workflows, languages


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    fake: FakeManagement
    clock: Clock
    resolver: ManagementResolver
    kontent: list[KontentConfig] = field(default_factory=list)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    async with FakeManagement(KEY, page_size=1) as fake, aiohttp.ClientSession() as http:
        fake.environments[ENV] = _environment()
        clock = Clock()
        kontent = [_kontent(fake.url, KEY)]
        resolver = ManagementResolver(http, lambda: kontent[0], clock=clock, timeout_s=0.5)
        yield Setup(fake, clock, resolver, kontent)


def _kontent(url: str, key: str | None) -> KontentConfig:
    environments = {ENV: EnvironmentConfig(management_api_key=key)}
    return KontentConfig(environments=environments, management_url=f"{url}/v2")


def _workflow_notifications(
    payload_bytes: Callable[[str], bytes], **changes: Any
) -> list[Notification]:
    payload = json.loads(payload_bytes(WORKFLOW_FIXTURE))
    payload["data"]["items"][0].update(changes)
    return parse_body(json.dumps(payload).encode(), "production")


async def test_ids_become_codenames(setup: Setup, payload_bytes: Callable[[str], bytes]) -> None:
    notifications = _workflow_notifications(payload_bytes)
    [resolved] = await setup.resolver.resolve(notifications)
    event = resolved.events[0]
    assert (event.workflow, event.workflow_step) == ("default", "published")
    assert (event.previous_workflow, event.previous_workflow_step) == ("default", "review")
    assert event.language == "en-US"  # the all-zero id is the default language
    assert resolved.key == notifications[0].key  # redeliveries dedupe whether or not resolved
    assert resolved.raw == notifications[0].raw


async def test_listed_once_then_cached_and_refreshed_on_a_miss_once_a_minute(
    setup: Setup, payload_bytes: Callable[[str], bytes]
) -> None:
    await setup.resolver.resolve(_workflow_notifications(payload_bytes))
    await setup.resolver.resolve(_workflow_notifications(payload_bytes))
    assert setup.fake.listings() == 1
    languages = [r for r in setup.fake.requests if r.path.endswith("/languages")]
    assert len(languages) == 2  # page_size=1: the continuation token was followed
    assert languages[1].headers["x-continuation"] == "1"
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" for r in setup.fake.requests)

    # A new step appears: the first miss within the minute keeps the id ...
    new_id = "5a1c3b7e-0000-4000-8000-000000000001"
    workflows = setup.fake.environments[ENV][0]
    workflows[0]["steps"].append(step(new_id, "legal"))
    moved = _workflow_notifications(payload_bytes, transition_to={"id": new_id})
    [kept] = await setup.resolver.resolve(moved)
    assert kept.events[0].workflow_step == new_id
    assert setup.fake.listings() == 1
    # ... and once a minute has passed, a miss lists the workflows again.
    setup.clock.now += 61
    [resolved] = await setup.resolver.resolve(moved)
    assert resolved.events[0].workflow_step == "legal"
    assert setup.fake.listings() == 2
    await setup.resolver.resolve(moved)
    assert setup.fake.listings() == 2


async def test_a_named_language_id_is_resolved(
    setup: Setup, payload_bytes: Callable[[str], bytes]
) -> None:
    notifications = _workflow_notifications(payload_bytes, language={"id": SPANISH_ID})
    [resolved] = await setup.resolver.resolve(notifications)
    assert resolved.events[0].language == "es-ES"


@pytest.mark.parametrize("failure", ["status", "wrong-key", "timeout"])
async def test_a_failing_api_leaves_ids_and_warns(
    setup: Setup,
    payload_bytes: Callable[[str], bytes],
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    if failure == "status":
        setup.fake.fail_next(503, "busy")
    elif failure == "wrong-key":
        setup.kontent[0] = _kontent(setup.fake.url, "revoked-key")
    else:
        setup.fake.stalled = True
    notifications = _workflow_notifications(payload_bytes)
    with caplog.at_level(logging.WARNING, "bridge.kontent.management"):
        [kept] = await setup.resolver.resolve(notifications)
    setup.fake.released.set()
    event = kept.events[0]
    assert (event.workflow_step, event.previous_workflow_step) == (PUBLISHED_ID, REVIEW_ID)
    assert event.language == "default"
    [record] = caplog.records
    assert "legacy workflow notifications keep their ids" in record.getMessage()
    assert "revoked-key" not in record.getMessage() and KEY not in record.getMessage()


async def test_without_a_key_nothing_is_requested(
    setup: Setup, payload_bytes: Callable[[str], bytes]
) -> None:
    setup.kontent[0] = _kontent(setup.fake.url, None)
    notifications = _workflow_notifications(payload_bytes)
    [kept] = await setup.resolver.resolve(notifications)
    assert kept is notifications[0]
    assert setup.fake.requests == []


async def test_current_payloads_never_touch_the_api(
    setup: Setup, payload_bytes: Callable[[str], bytes]
) -> None:
    notifications = parse_body(payload_bytes("current/content_item_published_published.json"))
    assert await setup.resolver.resolve(notifications) == notifications
    assert setup.fake.requests == []


RULES = f"""\
version: 1
webhooks:
  - {{name: legacy, path: /webhooks/legacy, secrets: ["{SECRET}"]}}
kontent:
  management_url: "${{MANAGEMENT_URL}}"
  environments:
    "{ENV}": {{management_api_key: "${{MANAGEMENT_KEY:-}}"}}
actions:
  audit: {{type: log}}
rules:
  - name: approved
    when:
      action: workflow_step_changed
      previous_workflow_step: review
      workflow_step: published
    do: [audit]
  - name: english
    when: {{language: en-US}}
    do: [audit]
"""


async def _post_through_the_receiver(
    store: Store, fake: FakeManagement, key: str, body: bytes
) -> httpx.Response:
    config = parse_config(RULES, env={"MANAGEMENT_URL": f"{fake.url}/v2", "MANAGEMENT_KEY": key})
    app = create_app(Settings(), config=config, store=store, workers=False)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge")
        )
        headers = {"Content-Type": "application/json", "X-KC-Signature": sign(body, SECRET)}
        return await client.post("/webhooks/legacy", content=body, headers=headers)


async def test_the_receiver_resolves_before_planning(
    payload_bytes: Callable[[str], bytes], sqlite_store: Store
) -> None:
    payload = json.loads(payload_bytes(WORKFLOW_FIXTURE))
    async with FakeManagement(KEY) as fake:
        fake.environments[ENV] = _environment()
        response = await _post_through_the_receiver(
            sqlite_store, fake, KEY, json.dumps(payload).encode()
        )
        # Both rules matched: the one on step codenames and the one on the language codename.
        assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 2}
        assert fake.listings() == 1

        # Without a key the ids stay and rules on codenames cannot match.
        payload["message"]["id"] = "another-message"
        response = await _post_through_the_receiver(
            sqlite_store, fake, "", json.dumps(payload).encode()
        )
        assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 0}
        assert fake.listings() == 1


async def test_a_redelivery_is_recognised_whether_or_not_the_lookup_worked_either_time(
    payload_bytes: Callable[[str], bytes], sqlite_store: Store
) -> None:
    """The object's latest was keyed by the resolved language: a retry whose lookup went
    otherwise (a cold cache after a restart, a slow Management API) named another object, so
    it was accepted again and every job ran twice."""
    payload = json.loads(payload_bytes(WORKFLOW_FIXTURE))
    async with FakeManagement(KEY) as fake:
        fake.environments[ENV] = _environment()
        for message_id, keys in (("resolved-first", (KEY, "")), ("ids-first", ("", KEY))):
            payload["message"]["id"] = message_id
            body = json.dumps(payload).encode()
            answers = [
                (await _post_through_the_receiver(sqlite_store, fake, key, body)).json()
                for key in keys
            ]
            assert answers[1] == {"accepted": 0, "duplicates": 1, "jobs": 0}, answers
    # One stored each, its events as the first delivery resolved them (or not).
    notes = await sqlite_store.notifications()
    assert len(notes) == 2
    assert sorted("(en-US)" in n.summary for n in notes) == [False, True]


def test_check_notes_a_missing_management_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("${MANAGEMENT_URL}", "http://127.0.0.1:9/v2"))
    assert main(["check", str(rules)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("OK: 1 webhooks, 1 actions, 2 rules")
    assert "note: no kontent.environments.<id>.management_api_key" in captured.err
    assert "legacy workflow notifications" in captured.err

    with_key = RULES.replace("${MANAGEMENT_URL}", "http://127.0.0.1:9/v2").replace(
        "${MANAGEMENT_KEY:-}", "a-key"
    )
    rules.write_text(with_key)
    assert main(["check", str(rules)]) == 0
    assert "management_api_key" not in capsys.readouterr().err


def test_the_key_is_a_secret_logs_redact() -> None:
    from bridge.redaction import secrets_of

    config = parse_config(
        RULES, env={"MANAGEMENT_URL": "http://127.0.0.1:9/v2", "MANAGEMENT_KEY": "mk-123"}
    )
    assert config.kontent.environments[ENV].management_api_key == "mk-123"
    assert config.kontent.management_url == "http://127.0.0.1:9/v2"
    assert "mk-123" in secrets_of(config)


def test_default_management_url() -> None:
    config = parse_config(RULES.replace('  management_url: "${MANAGEMENT_URL}"\n', ""), env={})
    assert replace(config.kontent).management_url == "https://manage.kontent.ai/v2"
