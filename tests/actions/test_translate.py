"""`translate` through the official `deepl` SDK and the Management API's REST endpoints, each
against a local server speaking its wire protocol (tests/fakes/deepl.py, management.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.translate import TranslateAction
from bridge.cli import main
from bridge.config.model import EnvironmentConfig
from bridge.events import Event
from bridge.kontent.client import DeliveryClient
from bridge.kontent.variants import ManagementClient, RateLimiter, limiter_for
from tests.fakes.deepl import FakeDeepL
from tests.fakes.events import MakeCall, make_event
from tests.fakes.management import FakeManagement, language, step, workflow

pytestmark = pytest.mark.timeout(30)

ENV = "env-1"
ITEM = "11111111-1111-1111-1111-111111111111"
DEEPL_KEY = "deepl-key-0001:fx"
MAPI_KEY = "mapi-key-0002"
SOURCE_VERSION = "2026-11-30T10:00:00.1234567Z"
BODY = (
    '<p>Read <a href="https://example.com/docs" data-new-window="true">the docs</a>.</p>'
    '<object type="application/kenticocloud" data-type="component" '
    'data-id="c9f1b0a2-0000-4000-8000-000000000001"></object>'
    '<p>Also <a data-item-id="22222222-2222-2222-2222-222222222222" href="">this one</a></p>'
)
# A component as the Management API lists it: its type and elements by id.
CALLOUT = {
    "id": "f4cb13df-d61d-572e-8f3b-3afe7e3a7ea1",
    "codename": "callout",
    "elements": [
        {"id": "0b9173d6-1c94-5fb0-a010-86eef9013fd4", "codename": "note", "type": "text"},
    ],
}
COMPONENTS = [
    {
        "id": "c9f1b0a2-0000-4000-8000-000000000001",
        "type": {"id": CALLOUT["id"]},
        "elements": [
            {"element": {"id": "0b9173d6-1c94-5fb0-a010-86eef9013fd4"}, "value": "Mind the step"}
        ],
    }
]


def environment() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    flows = [
        workflow(
            "default",
            steps=[
                step("step-draft", "draft"),
                step("step-translate", "translate"),
                step("step-review", "review_translation"),
            ],
            published=step("step-published", "published"),
            archived=step("step-archived", "archived"),
        )
    ]
    languages = [
        language("00000000-0000-0000-0000-000000000000", "en", default=True),
        language("lang-de", "de-DE"),
        language("lang-fr", "fr-FR"),
    ]
    return flows, languages


@dataclass
class Reports:
    """Records follow-up jobs the action asks for (the real queue is tested end to end)."""

    names: frozenset[str] = frozenset({"content-team"})
    sent: list[dict[str, Any]] = field(default_factory=list)

    def known(self, name: str) -> bool:
        return name in self.names

    async def enqueue(
        self, targets: Sequence[str], *, text: str, event: Event, rule: str, key: str
    ) -> int:
        self.sent.append({"targets": list(targets), "text": text, "rule": rule, "key": key})
        return len(targets)


@dataclass
class World:
    deepl: FakeDeepL
    mapi: FakeManagement
    reports: Reports
    action: TranslateAction
    make_call: MakeCall

    def options(self, **extra: Any) -> dict[str, Any]:
        return {
            "deepl_auth_key": DEEPL_KEY,
            "deepl_server_url": self.deepl.url,
            "management_api_key": MAPI_KEY,
            "management_url": self.mapi.url + "/v2",
            "languages": {"de-DE": "DE", "fr-FR": "FR"},
            "source_lang": "EN",
            "step": "review_translation",
            "marker_element": "translation_source",
            "report_to": ["content-team"],
            **extra,
        }

    async def run(self, **extra: Any) -> str:
        event = make_event(
            action="workflow_step_changed", workflow_step="translate", delivery_slot="preview"
        )
        call = self.make_call(TranslateAction, self.options(**extra), [event])
        return (await self.action.send(call)).response

    def deepl_targets(self) -> list[str]:
        return [str(body["target_lang"]) for body in self.deepl.translations]


@pytest.fixture
async def world(http: aiohttp.ClientSession, make_call: MakeCall) -> AsyncIterator[World]:
    async with FakeDeepL(DEEPL_KEY) as deepl, FakeManagement(MAPI_KEY) as mapi:
        mapi.environments[ENV] = environment()
        mapi.put_type(ENV, CALLOUT)
        mapi.add_type(
            ENV,
            "article",
            {
                "title": "text",
                "summary": "text",
                "body": "rich_text",
                "views": "number",
                "translation_source": "text",
            },
        )
        mapi.add_variant(
            ENV,
            ITEM,
            "en",
            "article",
            {
                "title": "Hello world",
                "summary": "",
                "body": {"value": BODY, "components": COMPONENTS},
                "views": 3,
            },
            last_modified=SOURCE_VERSION,
            step_id="step-translate",
        )
        reports = Reports()
        action = TranslateAction("translate", Resources(http=http, follow_ups=reports))
        try:
            yield World(deepl, mapi, reports, action, make_call)
        finally:
            await action.close()


async def test_each_language_is_translated_written_moved_and_reported_once(world: World) -> None:
    response = await world.run()

    assert response == f"item {ITEM}; translated: de-DE, fr-FR"
    # Two DeepL requests per language: plain text (the component's too), then rich text as HTML.
    plain = [b for b in world.deepl.translations if "tag_handling" not in b]
    rich = [b for b in world.deepl.translations if b.get("tag_handling") == "html"]
    assert [(b["text"], b["target_lang"], b["source_lang"]) for b in plain] == [
        (["Hello world", "Mind the step"], "DE", "EN"),
        (["Hello world", "Mind the step"], "FR", "EN"),
    ]
    assert [b["text"] for b in rich] == [[BODY], [BODY]]
    for lang, code in (("de-DE", "DE"), ("fr-FR", "FR")):
        assert world.mapi.value(ENV, ITEM, lang, "title") == f"[{code}] Hello world"
        assert world.mapi.value(ENV, ITEM, lang, "summary") == ""  # empty: not sent, kept empty
        body = world.mapi.value(ENV, ITEM, lang, "body")
        assert (
            f'<a href="https://example.com/docs" data-new-window="true">[{code}] the docs' in body
        )
        assert 'data-type="component" data-id="c9f1b0a2-0000-4000-8000-000000000001">' in body
        assert 'data-item-id="22222222-2222-2222-2222-222222222222"' in body
        assert world.mapi.value(ENV, ITEM, lang, "views") is None  # not a text element
        assert world.mapi.value(ENV, ITEM, lang, "translation_source") == f"en@{SOURCE_VERSION}"
        assert world.mapi.step_of(ENV, ITEM, lang) == "review_translation"
    [upsert_de, _] = world.mapi.upserts
    rich_entry = next(e for e in upsert_de[2]["elements"] if e["element"]["codename"] == "body")
    [component] = rich_entry["components"]
    assert component["id"] == COMPONENTS[0]["id"] and component["type"] == COMPONENTS[0]["type"]
    assert component["elements"] == [
        {"element": {"id": "0b9173d6-1c94-5fb0-a010-86eef9013fd4"}, "value": "[DE] Mind the step"}
    ]
    assert world.mapi.moves == [
        (ITEM, "de-DE", "default", "review_translation"),
        (ITEM, "fr-FR", "default", "review_translation"),
    ]
    assert world.reports.sent == [
        {
            "targets": ["content-team"],
            "text": "Translated 'Hello world' to de-DE, fr-FR",
            "rule": "translate.report_to",
            "key": f"translate:{ITEM}:en@{SOURCE_VERSION}",
        }
    ]
    assert all(r.headers["Authorization"] == f"Bearer {MAPI_KEY}" for r in world.mapi.requests)


async def test_a_repeated_notification_translates_nothing_and_reports_nothing(
    world: World,
) -> None:
    await world.run()
    deepl_calls, writes = len(world.deepl.translations), len(world.mapi.upserts)

    assert await world.run() == f"item {ITEM}; already done: de-DE, fr-FR"

    assert len(world.deepl.translations) == deepl_calls
    assert len(world.mapi.upserts) == writes
    assert len(world.mapi.moves) == 2
    assert len(world.reports.sent) == 1


async def test_a_new_source_version_is_translated_again(world: World) -> None:
    await world.run()
    source = world.mapi.variants[(ENV, ITEM, "en")]
    source["last_modified"] = "2026-12-05T09:00:00.0000000Z"
    source["elements"][0]["value"] = "Hello again"

    await world.run()

    assert world.mapi.value(ENV, ITEM, "de-DE", "title") == "[DE] Hello again"
    assert world.mapi.value(ENV, ITEM, "fr-FR", "translation_source") == (
        "en@2026-12-05T09:00:00.0000000Z"
    )
    assert len(world.reports.sent) == 2


async def test_a_failed_language_is_retried_alone_and_the_report_lists_both(
    world: World,
) -> None:
    world.mapi.fail_request("PUT", "/variants/codename/fr-FR", 500)
    with pytest.raises(Retry) as failed:
        await world.run()
    assert "translated: de-DE" in failed.value.reason
    assert "failed: fr-FR" in failed.value.reason
    assert world.reports.sent == []

    before = list(world.deepl_targets())
    assert await world.run() == f"item {ITEM}; translated: fr-FR; already done: de-DE"
    assert world.deepl_targets()[len(before) :] == ["FR", "FR"]  # de was not translated again
    assert [r["text"] for r in world.reports.sent] == ["Translated 'Hello world' to de-DE, fr-FR"]


async def test_a_failed_move_is_done_on_retry_without_translating_again(world: World) -> None:
    world.mapi.fail_request("PUT", "/de-DE/change-workflow", 503, {"Retry-After": "7"})
    with pytest.raises(Retry) as failed:
        await world.run()
    assert failed.value.delay_s == 7.0
    assert world.mapi.step_of(ENV, ITEM, "de-DE") == "draft"
    calls = len(world.deepl.translations)

    assert await world.run() == f"item {ITEM}; moved: de-DE; already done: fr-FR"

    assert len(world.deepl.translations) == calls
    assert world.mapi.step_of(ENV, ITEM, "de-DE") == "review_translation"
    assert len(world.reports.sent) == 1


async def test_a_variant_people_published_is_not_moved_back(world: World) -> None:
    await world.run()
    world.mapi.variants[(ENV, ITEM, "de-DE")]["workflow"]["step_identifier"]["id"] = (
        "step-published"
    )
    assert await world.run() == f"item {ITEM}; already done: de-DE, fr-FR"
    assert world.mapi.step_of(ENV, ITEM, "de-DE") == "published"


async def test_without_a_marker_element_the_target_modified_after_the_source_is_done(
    world: World,
) -> None:
    await world.run(marker_element=None)
    assert world.mapi.value(ENV, ITEM, "de-DE", "translation_source") is None
    calls = len(world.deepl.translations)

    assert await world.run(marker_element=None) == f"item {ITEM}; already done: de-DE, fr-FR"
    assert len(world.deepl.translations) == calls


async def test_glossary_is_sent_and_applied(world: World) -> None:
    world.deepl.glossaries["gl-1"] = {"world": "Welt"}
    await world.run(glossary_id="gl-1", languages={"de-DE": "DE"})
    assert {b["glossary_id"] for b in world.deepl.translations} == {"gl-1"}
    assert world.mapi.value(ENV, ITEM, "de-DE", "title") == "[DE] Hello Welt"


def test_a_glossary_needs_a_source_language() -> None:
    with pytest.raises(ValueError, match="glossary_id needs source_lang"):
        TranslateAction.Options.model_validate(
            {"deepl_auth_key": "k", "languages": {"de": "DE"}, "glossary_id": "g"}
        )


async def test_deepl_quota_is_a_long_retry_and_rate_limit_a_retry(world: World) -> None:
    world.deepl.quota_exceeded_next()
    world.deepl.quota_exceeded_next()  # de and fr both meet the exhausted quota
    with pytest.raises(Retry) as quota:
        await world.run()
    assert quota.value.delay_s == 3600.0
    assert "DeepL quota exceeded" in quota.value.reason
    assert world.mapi.upserts == []

    world.deepl.rate_limit_next()
    with pytest.raises(Retry) as limited:
        await world.run()
    assert "DeepL rate limit" in limited.value.reason
    assert "failed: de-DE" in limited.value.reason  # fr went through in the same attempt
    assert len(world.deepl.requests) == 2 + 1 + 2  # the SDK did not retry by itself


async def test_deepl_retry_after_is_the_delay_of_the_retry(world: World) -> None:
    """Before: the SDK keeps no header of DeepL's answer, so a 429 or 503 with Retry-After: 120
    retried on the schedule (a minute), into the same limit. Both languages meet the limit
    here; the job waits the longest Retry-After asked."""
    world.deepl.rate_limit_next(retry_after_s=120)
    world.deepl.fail_next(503, {"message": "Service unavailable"}, {"Retry-After": "45"})
    with pytest.raises(Retry) as limited:
        await world.run()
    assert limited.value.delay_s == 120.0
    assert "DeepL rate limit" in limited.value.reason and "failed: de-DE, fr-FR" in (
        limited.value.reason
    )

    world.deepl.fail_next(503, {"message": "Service unavailable"}, {"Retry-After": "45"})
    with pytest.raises(Retry) as unavailable:
        await world.run()
    assert unavailable.value.delay_s == 45.0  # the other language went through: its 200 says none

    world.deepl.rate_limit_next(retry_after_s=30)  # the delay is this answer's, not a stale one
    world.deepl.fail_next(429, {"message": "Too many requests"})
    with pytest.raises(Retry) as without:
        await world.run()
    assert without.value.delay_s == 30.0


async def test_a_wrong_deepl_key_is_permanent(world: World) -> None:
    world.deepl.key = "another-key"
    with pytest.raises(PermanentFailure, match="DeepL refused the key"):
        await world.run()


async def test_management_api_rate_limit_retries_after_its_delay(world: World) -> None:
    world.mapi.fail_next(429, {"message": "Too Many Requests"}, {"Retry-After": "12"})
    with pytest.raises(Retry) as limited:
        await world.run()
    assert limited.value.delay_s == 12.0
    assert limited.value.status == 429
    assert world.deepl.translations == []


async def test_a_wrong_management_key_is_permanent_and_never_named(world: World) -> None:
    world.mapi.key = "other"
    with pytest.raises(PermanentFailure) as refused:
        await world.run()
    assert "answered 401" in refused.value.reason
    assert MAPI_KEY not in refused.value.reason


async def test_unknown_report_target_fails_before_anything_is_sent(world: World) -> None:
    with pytest.raises(PermanentFailure, match="report_to names unknown action"):
        await world.run(report_to=["nobody"])
    assert world.mapi.requests == [] and world.deepl.requests == []


def fake_limiter() -> tuple[RateLimiter, list[float], list[float]]:
    """A limiter on a fake clock, `now[0]`, that its waits (listed in `waits`) move on."""
    now = [0.0]
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)
        now[0] += delay

    return RateLimiter(clock=lambda: now[0], sleep=sleep), now, waits


async def test_the_limiter_keeps_ten_per_second_and_four_hundred_per_minute() -> None:
    limiter, now, waits = fake_limiter()
    for _ in range(10):
        await limiter.acquire()
    assert waits == []
    await limiter.acquire()  # the 11th within one second waits for the first to leave
    assert waits == [pytest.approx(1.0)]
    for _ in range(389):
        await limiter.acquire()
    assert now[0] == pytest.approx(39.0)  # 400 requests at 10 per second
    await limiter.acquire()  # the 401st waits until the first request is a minute old
    assert now[0] == pytest.approx(60.0)


CHECKED = """\
version: 1
webhooks:
  - {name: w, path: /w, secrets: [webhook-secret-1]}
actions:
  content-team: {type: slack, token: xoxb-1234, channel: "#c"}
  translator:
    type: translate
    deepl_auth_key: deepl-key-1234
    languages: {de-DE: DE}
    report_to: [TARGET]
rules:
  - name: r
    when: {object_type: content_item}
    do: [translator]
"""


def test_check_names_a_misspelt_report_target_and_counts_report_targets_as_used(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CHECKED.replace("TARGET", "content-teem"))
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        f"{path}:10:17: actions.translator.report_to[0]: unknown action 'content-teem' "
        "(did you mean 'content-team'?)"
    ]
    path.write_text(CHECKED.replace("TARGET", "content-team"))
    assert main(["check", str(path)]) == 0
    assert "not used" not in capsys.readouterr().err  # content-team is used by report_to


async def test_every_management_request_passes_the_environments_limiter(
    world: World, http: aiohttp.ClientSession
) -> None:
    limiter, _, waits = fake_limiter()
    client = ManagementClient(http, world.mapi.url + "/v2", ENV, MAPI_KEY, limiter=limiter)
    for _ in range(11):
        assert await client.variant(ITEM, "en") is not None
    assert waits == [pytest.approx(1.0)]
    assert len(world.mapi.requests) == 11
    assert limiter_for(world.mapi.url + "/v2/", ENV) is limiter_for(world.mapi.url + "/v2", ENV)


async def test_the_management_key_and_url_default_to_the_kontent_section(
    world: World, http: aiohttp.ClientSession
) -> None:
    kontent = DeliveryClient(
        http, environments={ENV: EnvironmentConfig(management_api_key=MAPI_KEY)}
    )
    resources = Resources(http=http, kontent=kontent, management_url=world.mapi.url + "/v2")
    world.action = TranslateAction("translate", resources)
    unset: dict[str, Any] = {"management_api_key": None, "management_url": None, "report_to": []}
    assert "translated: de-DE, fr-FR" in await world.run(**unset)
    assert world.mapi.requests[0].headers["Authorization"] == f"Bearer {MAPI_KEY}"

    world.action = TranslateAction("translate", Resources(http=http))
    with pytest.raises(PermanentFailure, match="no Management API key for environment env-1"):
        await world.run(management_api_key=None, report_to=[])


async def test_a_marker_element_the_type_lacks_is_permanent_before_any_translation(
    world: World,
) -> None:
    with pytest.raises(PermanentFailure, match="marker_element 'nope' is not a text element"):
        await world.run(marker_element="nope")
    with pytest.raises(PermanentFailure, match="marker_element 'body' is not a text element"):
        await world.run(marker_element="body")
    assert world.deepl.requests == [] and world.mapi.upserts == []


async def test_without_the_translate_extra_the_job_fails_permanently_and_says_what_to_install(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "deepl", None)  # `import deepl` raises ImportError
    with pytest.raises(PermanentFailure, match=r"pip install 'kontent-bridge\[translate\]'"):
        await world.run()


@pytest.mark.parametrize(
    ("status", "expected"), [(409, Retry), (425, Retry), (400, PermanentFailure)]
)
async def test_deepl_4xx_answers_follow_the_shared_status_rules(
    world: World, status: int, expected: type[Exception]
) -> None:
    """Before: 409 and 425, which every other target retries (RETRYABLE_4XX), were permanent."""
    world.deepl.fail_next(status, {"message": "not now"})
    with pytest.raises(expected, match="not now"):
        await world.run()


async def test_an_item_named_like_a_report_field_is_reported_by_its_name(world: World) -> None:
    # The report was filled field after field: `{item}` put the name in, and `{languages}` in
    # the name became the languages ("Translated 'de-DE, fr-FR' to de-DE, fr-FR").
    event = make_event(
        action="workflow_step_changed",
        workflow_step="translate",
        delivery_slot="preview",
        name="{languages} {item}",
    )
    await world.action.send(world.make_call(TranslateAction, world.options(), [event]))
    assert [r["text"] for r in world.reports.sent] == [
        "Translated '{languages} {item}' to de-DE, fr-FR"
    ]
