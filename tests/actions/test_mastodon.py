"""`mastodon` through the official Mastodon.py SDK against a local instance speaking its REST API
(tests/fakes/mastodon.py): a status with an image, visibility and scheduling, once per item and
language across restarts, a rate-limit and an error answer, the access token hidden in logs,
explain and the admin API."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.mastodon import MastodonAction
from bridge.config import load_config
from tests.actions.harness import ImageHost, opened
from tests.actions.secret_harness import ITEM, shown_after
from tests.fakes.events import MakeCall, make_event
from tests.fakes.mastodon import FakeMastodon

pytestmark = pytest.mark.timeout(30)

TOKEN = "mastodon-token-0001-abcdefgh"
PAGE = "https://www.example.com/articles/hello-world-and-a-rather-long-slug?utm_source=m&x=1"


@pytest.fixture
async def instance() -> AsyncIterator[FakeMastodon]:
    async with FakeMastodon(TOKEN) as fake:
        yield fake


def options(fake: FakeMastodon, **extra: Any) -> dict[str, Any]:
    return {
        "api_base_url": fake.url,
        "access_token": TOKEN,
        "text": f"New: Hello world {PAGE}",
        "url": PAGE,
        **extra,
    }


async def toot(
    action: MastodonAction,
    make_call: MakeCall,
    fake: FakeMastodon,
    language: str = "en",
    **extra: Any,
) -> str:
    call = make_call(MastodonAction, options(fake, **extra), [make_event(language=language)])
    return (await action.send(call)).response


async def test_a_status_with_an_image_visibility_and_language(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    image = b"\x89PNG\r\n\x1a\n" + b"\1" * 64
    async with (
        ImageHost(image, "/assets/hero.png") as assets,
        opened(MastodonAction("m", resources)) as action,
    ):
        answer = await toot(
            action,
            make_call,
            instance,
            image_url=f"{assets.url}/assets/hero.png",
            image_description="The hero image",
            visibility="unlisted",
            language="de-DE",
        )
    [status] = instance.statuses
    assert answer == f"posted {status['url']}"
    [post] = instance.posts
    assert post["status"] == f"New: Hello world {PAGE}"  # the link is the marker: not repeated
    assert post["visibility"] == "unlisted" and post["language"] == "de"
    [media] = instance.media
    assert media["bytes"] == image and media["mime"] == "image/png"
    assert media["description"] == "The hero image" and media["filename"] == "hero.png"
    assert post["media_ids"] == media["id"]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in instance.requests[2:])


async def test_a_republish_after_a_restart_does_not_post_twice_unless_repost_is_set(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    for _ in range(2):  # two processes: only the status's own marker remembers the first post
        async with opened(MastodonAction("m", resources)) as action:
            last = await toot(action, make_call, instance)
    assert last == f"already posted: {instance.statuses[0]['url']}"
    assert len(instance.posts) == 1
    async with opened(MastodonAction("m", resources)) as action:
        await toot(action, make_call, instance, repost=True)
        await toot(action, make_call, instance, repost=True)
    assert len(instance.posts) == 3
    assert "Idempotency-Key" not in instance.requests[-1].headers


async def test_without_a_link_the_marker_is_appended_and_found_again(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(MastodonAction("m", resources)) as action:
        await toot(action, make_call, instance, text="Hello world is out", url=None)
        again = await toot(action, make_call, instance, text="Hello world is out", url=None)
        other = await toot(action, make_call, instance, "de-DE", text="Hallo Welt", url=None)
    assert instance.posts[0]["status"] == f"Hello world is out\n\n[kontent:{ITEM}:en]"
    assert again.startswith("already posted") and other.startswith("posted")
    assert instance.posts[1]["status"].endswith(f"[kontent:{ITEM}:de-DE]")


async def test_a_retry_whose_status_is_not_visible_yet_is_caught_by_the_idempotency_key(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(MastodonAction("m", resources)) as action:
        await toot(action, make_call, instance)
        first_key = instance.requests[-1].headers["Idempotency-Key"]
        instance.statuses.clear()  # not in the timeline yet (or the answer was lost)
        await toot(action, make_call, instance)
    assert instance.requests[-1].headers["Idempotency-Key"] == first_key
    assert len(instance.posts) == 1


async def test_a_scheduled_post_is_scheduled_once(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    when = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    async with opened(MastodonAction("m", resources)) as action:
        answer = await toot(action, make_call, instance, scheduled_at=when.isoformat())
        again = await toot(action, make_call, instance, scheduled_at=when.isoformat())
        soon = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
        fr = f"{PAGE}&lang=fr"  # the marker is the link: one link per language variant
        now = await toot(action, make_call, instance, "fr-FR", text=fr, url=fr, scheduled_at=soon)
    [scheduled] = instance.scheduled
    assert answer.startswith(f"scheduled {scheduled['id']} for ")
    assert datetime.fromisoformat(instance.posts[0]["scheduled_at"].replace("Z", "+00:00")) == when
    assert again == f"already posted: scheduled {scheduled['id']}"
    assert now.startswith("posted ") and "scheduled_at" not in instance.posts[1]


async def test_rate_limit_waits_for_the_reset_and_a_bad_token_is_permanent(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(MastodonAction("m", resources)) as action:
        await action._client(MastodonAction.Options.model_validate(options(instance)))
        instance.rate_limit_next(reset_in_s=120)
        with pytest.raises(Retry) as retry:
            await toot(action, make_call, instance)
        assert retry.value.status == 429
        assert retry.value.delay_s is not None and 110 <= retry.value.delay_s <= 125  # clock skew
        assert not instance.posts
    instance.token = "another-token"
    fresh = MastodonAction("m2", resources)
    with pytest.raises(PermanentFailure) as failure:
        await toot(fresh, make_call, instance)
    assert failure.value.status == 401 and "access token is invalid" in failure.value.reason
    assert TOKEN not in failure.value.reason
    await fresh.close()


async def test_a_server_error_is_a_retry_and_a_refused_status_is_permanent(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    async with opened(MastodonAction("m", resources)) as action:
        await action._client(MastodonAction.Options.model_validate(options(instance)))
        instance.fail_next(503, {"error": "Service unavailable"})
        with pytest.raises(Retry) as retry:
            await toot(action, make_call, instance)
        assert retry.value.status == 503
        with pytest.raises(PermanentFailure) as failure:
            await toot(action, make_call, instance, text=" ", marker=" ")
        assert failure.value.status == 422 and "can't be blank" in failure.value.reason


RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["${{WEBHOOK_SECRET}}"]}}
actions:
  toot:
    type: mastodon
    api_base_url: "{url}"
    access_token: "${{MASTODON_TOKEN}}"
    text: "New: {{{{ event.name }}}} https://www.example.com/{{{{ event.codename }}}}"
    url: "https://www.example.com/{{{{ event.codename }}}}"
    retry: {{schedule: [100ms]}}
rules:
  - name: toot-articles
    when: {{object_type: content_item, action: published}}
    do: [toot]
"""


async def test_the_access_token_is_hidden_in_logs_explain_and_the_admin_api(
    instance: FakeMastodon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first call fails with an answer echoing the token (a hostile or buggy server).
    instance.fail_next(500, {"error": f"token {TOKEN} is not welcome"})
    shown = await shown_after(
        tmp_path,
        monkeypatch,
        RULES.format(url=instance.url),
        {"MASTODON_TOKEN": TOKEN},
        lambda rows: len(rows) == 1 and rows[0]["state"] == "succeeded",
    )
    assert len(instance.posts) == 1
    assert any(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in instance.requests)
    assert '"access_token": "***"' in shown.texts["explain"]
    assert any("is not welcome" in text for text in shown.texts.values())
    job = next(text for where, text in shown.texts.items() if where.startswith("job"))
    assert "/api/v1/statuses" in job and "New: Hello world" in job  # the request, recorded
    shown.assert_hidden(TOKEN)
    config = load_config(tmp_path / "rules.yaml")
    assert config.actions["toot"].action_class.secret_options == {"access_token"}


async def test_a_redirect_is_refused_and_the_token_does_not_follow_it(
    instance: FakeMastodon, resources: Resources, make_call: MakeCall
) -> None:
    async with FakeMastodon(TOKEN) as elsewhere:
        instance.fail_next(
            302, "", {"Location": f"{elsewhere.url}/api/v1/accounts/verify_credentials"}
        )
        action = MastodonAction("m", resources)
        with pytest.raises(PermanentFailure, match="redirected"):
            await toot(action, make_call, instance)
        await action.close()
    assert elsewhere.requests == []


async def test_without_the_mastodon_extra_the_job_fails_permanently_and_says_what_to_install(
    instance: FakeMastodon,
    resources: Resources,
    make_call: MakeCall,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "mastodon", None)  # `import mastodon` raises ImportError
    with pytest.raises(PermanentFailure, match=r"pip install 'kontent-bridge\[mastodon\]'"):
        await toot(MastodonAction("m", resources), make_call, instance)
    assert not instance.requests
