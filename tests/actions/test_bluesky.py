"""`bluesky` through the official `atproto` SDK against a local XRPC server
(tests/fakes/bluesky.py): a post with a link card (and its image), once per item and language
across restarts, a rate-limit and an error answer, the app password hidden in logs, explain and
the admin API."""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.bluesky import BlueskyAction, record_key
from bridge.config import load_config
from tests.actions.harness import ImageHost, opened
from tests.actions.secret_harness import shown_after
from tests.fakes.bluesky import DID, FakeBluesky
from tests.fakes.events import MakeCall, make_event

pytestmark = pytest.mark.timeout(30)

HANDLE = "news.example.com"
PASSWORD = "app-pass-abcd-efgh-0001"
PAGE = "https://www.example.com/articles/hello-world"


@pytest.fixture
async def pds() -> AsyncIterator[FakeBluesky]:
    async with FakeBluesky(HANDLE, PASSWORD) as fake:
        yield fake


def options(fake: FakeBluesky, **extra: Any) -> dict[str, Any]:
    return {
        "identifier": HANDLE,
        "password": PASSWORD,
        "base_url": fake.url,
        "text": "New: Hello world",
        "url": PAGE,
        "description": "What the article is about",
        **extra,
    }


async def post(
    action: BlueskyAction,
    make_call: MakeCall,
    fake: FakeBluesky,
    language: str = "en",
    **extra: Any,
) -> str:
    call = make_call(BlueskyAction, options(fake, **extra), [make_event(language=language)])
    return (await action.send(call)).response


async def test_a_post_with_a_link_card_under_the_items_record_key(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(BlueskyAction("b", resources)) as action:
        answer = await post(action, make_call, pds)
    rkey = record_key(make_event())
    assert answer == f"posted at://{DID}/app.bsky.feed.post/{rkey}"
    assert re.fullmatch(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}", rkey)
    [created] = pds.created
    assert created["repo"] == DID and created["rkey"] == rkey
    record = created["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == "New: Hello world"
    assert record["langs"] == ["en"]
    assert record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {
            "$type": "app.bsky.embed.external#external",
            "uri": PAGE,
            "title": "Hello world",
            "description": "What the article is about",
        },
    }
    login = pds.requests[0]
    assert login.path == "/xrpc/com.atproto.server.createSession"
    assert login.json()["password"] == PASSWORD


async def test_a_republish_after_a_restart_does_not_post_twice_unless_repost_is_set(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    for _ in range(2):  # two processes: nothing but the record key remembers the first post
        async with opened(BlueskyAction("b", resources)) as action:
            last = await post(action, make_call, pds)
    assert last.startswith("already posted at://") and len(pds.created) == 1
    async with opened(BlueskyAction("b", resources)) as action:
        await post(action, make_call, pds, language="de-DE")  # another language: its own post
        assert len(pds.created) == 2
        await post(action, make_call, pds, repost=True)
        await post(action, make_call, pds, repost=True)
    assert len(pds.created) == 4
    assert "rkey" not in pds.created[-1]  # the server chose fresh keys
    assert pds.sessions == 3  # one login per process and account


async def test_a_create_that_finds_the_key_taken_counts_as_posted(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    # Another replica posted between the lookup and the create: the PDS refuses the duplicate.
    rkey = record_key(make_event())
    async with opened(BlueskyAction("b", resources)) as action:
        await action._client(BlueskyAction.Options.model_validate(options(pds)))
        pds.fail_next(400, {"error": "RecordNotFound", "message": "Could not locate record"})
        pds.records[("app.bsky.feed.post", rkey)] = {"text": "earlier"}
        answer = await post(action, make_call, pds)
    assert answer == f"already posted at://{DID}/app.bsky.feed.post/{rkey}"
    assert not pds.created


async def test_the_cards_image_is_downloaded_bounded_and_uploaded_as_a_blob(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    image = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    async with ImageHost(image) as assets, opened(BlueskyAction("b", resources)) as action:
        await post(action, make_call, pds, thumb_url=f"{assets.url}/hero.png")
    [(_, uploaded)] = pds.blobs
    assert uploaded == image
    thumb = pds.created[0]["record"]["embed"]["external"]["thumb"]
    assert thumb["$type"] == "blob" and thumb["size"] == len(image)


async def test_rate_limit_waits_for_the_reset_and_a_wrong_password_is_permanent(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(BlueskyAction("b", resources)) as action:
        await action._client(BlueskyAction.Options.model_validate(options(pds)))
        pds.rate_limit_next(reset_in_s=60)
        with pytest.raises(Retry) as retry:
            await post(action, make_call, pds)
        assert retry.value.status == 429 and "RateLimitExceeded" in retry.value.reason
        assert retry.value.delay_s is not None and 55 <= retry.value.delay_s <= 60
        assert not pds.created
        pds.password = "another-password"
        fresh = BlueskyAction("b2", resources)
        with pytest.raises(PermanentFailure) as failure:
            await post(fresh, make_call, pds)
        assert (
            failure.value.status == 401 and "Invalid identifier or password" in failure.value.reason
        )
        assert PASSWORD not in failure.value.reason
        await fresh.close()


async def test_a_server_error_is_a_retry_and_an_expired_session_logs_in_again(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(BlueskyAction("b", resources)) as action:
        await action._client(BlueskyAction.Options.model_validate(options(pds)))
        pds.fail_next(502, "Bad Gateway")
        with pytest.raises(Retry):
            await post(action, make_call, pds)
        pds.tokens.clear()  # the PDS no longer accepts the session's token
        with pytest.raises(Retry) as retry:
            await post(action, make_call, pds)
        assert retry.value.status == 401
        assert (await post(action, make_call, pds)).startswith("posted ")
        assert pds.sessions == 2


async def test_too_long_a_text_is_permanent_before_anything_is_sent(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    action = BlueskyAction("b", resources)
    with pytest.raises(PermanentFailure, match="allows 300"):
        await post(action, make_call, pds, text="x" * 301)
    assert not pds.requests


RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["${{WEBHOOK_SECRET}}"]}}
actions:
  skeet:
    type: bluesky
    identifier: {handle}
    password: "${{BLUESKY_APP_PASSWORD}}"
    base_url: "{url}"
    text: "New: {{{{ event.name }}}}"
    url: "https://www.example.com/articles/{{{{ event.codename }}}}"
    retry: {{schedule: [100ms]}}
rules:
  - name: post-articles
    when: {{object_type: content_item, action: published}}
    do: [skeet]
"""


async def test_the_app_password_is_hidden_in_logs_explain_and_the_admin_api(
    pds: FakeBluesky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first login fails with an answer echoing the password (a hostile or buggy server).
    pds.fail_next(500, {"error": "InternalServerError", "message": f"bad password {PASSWORD}"})
    rules = RULES.format(handle=HANDLE, url=pds.url)
    shown = await shown_after(
        tmp_path,
        monkeypatch,
        rules,
        {"BLUESKY_APP_PASSWORD": PASSWORD},
        lambda rows: len(rows) == 1 and rows[0]["state"] == "succeeded",
    )
    assert len(pds.created) == 1
    assert '"password": "***"' in shown.texts["explain"]
    assert any("InternalServerError" in text for text in shown.texts.values())
    job = next(text for where, text in shown.texts.items() if where.startswith("job"))
    assert "com.atproto.repo.createRecord" in job and "app.bsky.feed.post" in job  # recorded
    shown.assert_hidden(PASSWORD)
    config = load_config(tmp_path / "rules.yaml")
    assert config.actions["skeet"].action_class.secret_options == {"password"}


async def test_without_the_bluesky_extra_the_job_fails_permanently_and_says_what_to_install(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "atproto_client", None)  # the import raises ImportError
    with pytest.raises(PermanentFailure, match=r"pip install 'kontent-bridge\[bluesky\]'"):
        await post(BlueskyAction("b", resources), make_call, pds)
    assert not pds.requests


async def test_a_language_codename_that_is_no_language_tag_is_not_sent_as_langs(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(BlueskyAction("b", resources)) as action:
        await post(action, make_call, pds, language="default")
        await post(action, make_call, pds, language="pt-BR")
    assert "langs" not in pds.created[0]["record"]
    assert pds.created[1]["record"]["langs"] == ["pt-BR"]


async def test_a_server_error_waits_for_its_retry_after(
    pds: FakeBluesky, resources: Resources, make_call: MakeCall
) -> None:
    """Before: only a 429's Retry-After was honoured; a 503 asking for two minutes was tried
    again at the schedule's first step."""
    async with opened(BlueskyAction("b", resources)) as action:
        await action._client(BlueskyAction.Options.model_validate(options(pds)))
        pds.fail_next(503, "Busy", {"Retry-After": "120"})
        with pytest.raises(Retry) as retry:
            await post(action, make_call, pds)
    assert (retry.value.status, retry.value.delay_s) == (503, 120)
