from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.actions import sent
from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.slack import SlackAction, SlackOptions
from tests.fakes.events import MakeCall, make_event
from tests.fakes.slack import FakeSlack


def bot(fake: FakeSlack, **extra: Any) -> dict[str, Any]:
    return {"token": fake.token, "channel": "#content", "base_url": fake.api_url, **extra}


async def test_posts_text_and_blocks_with_the_bot_token(
    resources: Resources, make_call: MakeCall
) -> None:
    blocks_yaml = "- type: section\n  text: {type: mrkdwn, text: '*Hello world* was published'}\n"
    async with FakeSlack() as slack:
        call = make_call(SlackAction, bot(slack, text="Published Hello", blocks=blocks_yaml))
        result = await SlackAction("team", resources).send(call)
    assert result.status == 200
    assert "C0CONTENT" in result.response
    [message] = slack.messages
    assert message["channel"] == "#content"
    assert message["text"] == "Published Hello"
    assert message["blocks"][0]["text"]["text"] == "*Hello world* was published"


async def test_a_batch_is_one_message_summarising_every_event(
    resources: Resources, make_call: MakeCall
) -> None:
    events = [make_event(name="First"), make_event(name="Second", action="unpublished")]
    async with FakeSlack() as slack:
        await SlackAction("team", resources).send(make_call(SlackAction, bot(slack), events))
    [message] = slack.messages
    assert message["text"].splitlines() == [
        "content_item published article 'First' (en) [published]",
        "content_item unpublished article 'Second' (en) [published]",
    ]


@pytest.mark.parametrize(
    "error", ["invalid_auth", "channel_not_found", "not_in_channel", "token_revoked", "is_archived"]
)
async def test_configuration_errors_are_permanent_with_the_reason(
    resources: Resources, make_call: MakeCall, error: str
) -> None:
    async with FakeSlack() as slack:
        slack.error_next(error)
        with pytest.raises(PermanentFailure, match=error):
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))


async def test_real_wrong_token_and_channel(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSlack() as slack:
        with pytest.raises(PermanentFailure, match="invalid_auth"):
            await SlackAction("t", resources).send(make_call(SlackAction, bot(slack, token="bad")))
        with pytest.raises(PermanentFailure, match="channel_not_found"):
            await SlackAction("t", resources).send(
                make_call(SlackAction, bot(slack, channel="#nope"))
            )


async def test_rate_limit_retries_at_retry_after(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSlack() as slack:
        slack.rate_limit_next(30)
        with pytest.raises(Retry) as caught:
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
        assert caught.value.delay_s == 30
        assert caught.value.status == 429
        await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
    assert len(slack.messages) == 1


async def test_other_errors_retry(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSlack() as slack:
        slack.error_next("internal_error")
        with pytest.raises(Retry, match="internal_error"):
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))


async def test_incoming_webhook(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSlack() as slack:
        call = make_call(SlackAction, {"webhook_url": slack.webhook_url, "text": "hi"})
        result = await SlackAction("hook", resources).send(call)
    assert result.response == "ok"
    assert slack.webhook_messages == [{"text": "hi"}]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, "no_service", PermanentFailure),
        (410, "channel_is_archived", PermanentFailure),
        (500, "oops", Retry),
    ],
)
async def test_incoming_webhook_errors(
    resources: Resources, make_call: MakeCall, status: int, body: str, expected: type[Exception]
) -> None:
    async with FakeSlack() as slack:
        slack.fail_next(status, body)
        with pytest.raises(expected, match=body):
            await SlackAction("hook", resources).send(
                make_call(SlackAction, {"webhook_url": slack.webhook_url, "text": "hi"})
            )


async def test_incoming_webhook_rate_limit(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSlack() as slack:
        slack.fail_next(429, "rate_limited", {"Retry-After": "5"})
        with pytest.raises(Retry) as caught:
            await SlackAction("hook", resources).send(
                make_call(SlackAction, {"webhook_url": slack.webhook_url, "text": "hi"})
            )
    assert caught.value.delay_s == 5


async def test_unreachable_slack_retries(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSlack() as slack:
        options = bot(slack)
    with pytest.raises(Retry, match="unreachable"):
        await SlackAction("team", resources).send(make_call(SlackAction, options))


async def test_invalid_blocks_are_permanent(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSlack() as slack:
        call = make_call(SlackAction, bot(slack, blocks="just: a mapping"))
        with pytest.raises(PermanentFailure, match="list of Block Kit"):
            await SlackAction("team", resources).send(call)
    assert slack.messages == []


def alias_bomb(levels: int) -> str:
    """Block Kit objects whose YAML aliases nest: a few hundred bytes, 9**levels values."""
    lines = ["- {type: section, l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]}"]
    for n in range(1, levels):
        lines.append(f"- {{type: section, l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]}}")
    return "\n".join(lines) + "\n"


async def test_blocks_whose_yaml_aliases_expand_past_a_bound_are_permanent(
    resources: Resources, make_call: MakeCall
) -> None:
    """`blocks` renders event data into YAML: an item name holding anchors and aliases (an
    alias bomb) parsed to a few shared lists, which the SDK then wrote out whole (9**6 values
    here, 9**9 from 400 bytes), in memory and to Slack."""
    async with FakeSlack() as slack:
        call = make_call(SlackAction, bot(slack, blocks=alias_bomb(6)))
        with pytest.raises(PermanentFailure, match="expands to more than 10000 values"):
            await SlackAction("team", resources).send(call)
        call = make_call(SlackAction, bot(slack, blocks="- &a {type: section, a: [*a]}"))
        with pytest.raises(PermanentFailure, match="expands to more than"):
            await SlackAction("team", resources).send(call)  # a list inside itself
        deep = "[" * 5_000 + "]" * 5_000  # past the YAML parser's recursion
        call = make_call(SlackAction, bot(slack, blocks=deep))
        with pytest.raises(PermanentFailure, match="blocks"):
            await SlackAction("team", resources).send(call)
    assert slack.messages == []


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"token": "t"},
        {"webhook_url": "https://hooks.slack.com/x", "token": "t", "channel": "c"},
    ],
)
def test_needs_exactly_one_way_to_post(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SlackOptions.model_validate(options)


def test_a_webhook_url_without_a_host_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="webhook_url must start with http"):
        SlackOptions(webhook_url="/services/T000/B000/XXX", text="hi")


async def test_the_sdk_request_is_recorded_with_the_token_hidden(
    resources: Resources, make_call: MakeCall
) -> None:
    async with FakeSlack() as slack:
        call = make_call(SlackAction, bot(slack, text="Published Hello"))
        with sent.recording() as recorder:
            await SlackAction("team", resources).send(call)
    stored = recorder.as_json()
    assert stored is not None and slack.token not in stored
    shown = json.loads(stored)
    assert (shown["method"], shown["url"]) == ("POST", f"{slack.api_url}chat.postMessage")
    assert shown["headers"]["Authorization"] == "***"
    assert json.loads(shown["body"]) == {"channel": "#content", "text": "Published Hello"}
    assert shown["requests_sent"] == 1


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "reason"),
    [
        (401, "nope", {}, PermanentFailure, "chat.postMessage answered 401"),
        (408, "slow", {}, Retry, "chat.postMessage answered 408"),
        (404, {"ok": False, "error": "unknown_method"}, {}, PermanentFailure, "unknown_method"),
        (503, "busy", {"Retry-After": "120"}, Retry, "chat.postMessage answered 503"),
    ],
    ids=["text-401", "text-408", "unknown-method-404", "503"],
)
async def test_an_answer_that_is_no_slack_error_is_judged_by_its_http_status(
    resources: Resources,
    make_call: MakeCall,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: type[Exception],
    reason: str,
) -> None:
    """A proxy's page or a bare 401 in front of Slack: the shared status rules
    (httputil.classify) decide, instead of an AttributeError retried for days (a 2xx that is
    no Slack answer is a message posted: the test below)."""
    async with FakeSlack() as slack:
        slack.fail_next(status, body, headers)
        with pytest.raises(expected, match=reason) as caught:
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
    if status == 503:
        assert isinstance(caught.value, Retry) and caught.value.delay_s == 120


@pytest.mark.parametrize(
    ("status", "expected"),
    [(204, None), (408, Retry), (409, Retry), (425, Retry), (403, PermanentFailure)],
)
async def test_incoming_webhook_answers_follow_the_shared_status_rules(
    resources: Resources, make_call: MakeCall, status: int, expected: type[Exception] | None
) -> None:
    async with FakeSlack() as slack:
        slack.fail_next(status, "" if status == 204 else "why")
        call = make_call(SlackAction, {"webhook_url": slack.webhook_url, "text": "hi"})
        if expected is None:
            result = await SlackAction("hook", resources).send(call)
            assert result.status == 204
        else:
            with pytest.raises(expected, match=f"Slack webhook answered {status}: why"):
                await SlackAction("hook", resources).send(call)


CUT = {"cut": True}  # `{"ok": true, "chan` and the connection closed, 100 bytes short
UNREADABLE_2XX = [
    (CUT, "its answer broke off (Not enough data to satisfy content length header"),
    ({"body": b"<<garbage", "content_type": "application/json"}, "is not a Slack answer"),
    ({"body": b"<html>Welcome</html>", "content_type": "text/html"}, "is not a Slack answer"),
    ({"body": b"plain words", "content_type": "text/plain"}, "is not a Slack answer"),
    ({"body": b"", "content_type": "text/plain"}, "is not a Slack answer"),
    ({"body": b"[1, 2]", "content_type": "application/json"}, "is not a Slack answer"),
    ({"body": b"[" * 100_000, "content_type": "application/json"}, "nests too deeply to parse"),
]
UNREADABLE_IDS = ["cut-off", "not-json", "html", "text", "empty", "json-list", "too-deep"]


@pytest.mark.parametrize(("broken", "why"), UNREADABLE_2XX, ids=UNREADABLE_IDS)
async def test_a_2xx_whose_answer_cannot_be_read_is_a_message_posted_once(
    resources: Resources, make_call: MakeCall, broken: dict[str, Any], why: str
) -> None:
    """Before: each retried, and the retry posted the message a second time."""
    async with FakeSlack() as slack:
        slack.broken_next(**broken)
        result = await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
    assert len(slack.messages) == 1
    assert result.status == 200
    assert result.response.startswith("accepted: Slack answered 200, but ")
    assert why in result.response
    assert result.response.endswith(
        "; taken as posted, since sending it again could post the message twice"
    )


async def test_slacks_ok_in_another_2xx_is_a_message_posted_once(
    resources: Resources, make_call: MakeCall
) -> None:
    """slack-sdk raises for any status but 200; a 201 saying ok was retried, a second post."""
    async with FakeSlack() as slack:
        slack.broken_next(b'{"ok": true, "channel": "C1", "ts": "1.2"}', status=201)
        result = await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
    assert len(slack.messages) == 1
    assert (result.status, result.response) == (201, "posted to C1 ts=1.2")


async def test_a_readable_answer_is_judged_as_before_and_a_5xx_cut_off_still_retries(
    resources: Resources, make_call: MakeCall
) -> None:
    async with FakeSlack() as slack:
        slack.broken_next(b'{"ok": false, "error": "channel_not_found"}')  # a 200, read whole
        with pytest.raises(PermanentFailure, match="channel_not_found"):
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
        slack.broken_next(b'{"ok": false, "error": "internal_error"}')
        with pytest.raises(Retry, match="internal_error"):
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
        slack.broken_next(b'{"ok": false, "err', cut=True, status=500)  # the status decides
        with pytest.raises(Retry, match="the answer broke off"):
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))


@pytest.mark.parametrize(
    ("broken", "response"),
    [
        (
            CUT,
            "accepted: Slack answered 200, but its answer broke off (Not enough data to satisfy "
            "content length header (received 18 of 118 bytes)); taken as posted, since sending "
            "it again could post the message twice",
        ),
        ({"body": b"<html>Welcome</html>", "content_type": "text/html"}, "<html>Welcome</html>"),
    ],
    ids=["cut-off", "html"],
)
async def test_an_incoming_webhook_2xx_whose_answer_cannot_be_read_was_posted_once(
    resources: Resources, make_call: MakeCall, broken: dict[str, Any], response: str
) -> None:
    async with FakeSlack() as slack:
        slack.broken_next(**broken)
        call = make_call(SlackAction, {"webhook_url": slack.webhook_url, "text": "hi"})
        result = await SlackAction("hook", resources).send(call)
    assert slack.webhook_messages == [{"text": "hi"}]
    assert (result.status, result.response) == (200, response)


async def test_an_error_answer_names_slacks_error_once(
    resources: Resources, make_call: MakeCall
) -> None:
    """A Slack error outside the known permanent ones, with a non-2xx status: the reason read
    `Slack chat.postMessage (two_factor_setup_required) answered 403: two_factor_setup_required`."""
    async with FakeSlack() as slack:
        slack.fail_next(403, {"ok": False, "error": "two_factor_setup_required"})
        with pytest.raises(PermanentFailure) as caught:
            await SlackAction("team", resources).send(make_call(SlackAction, bot(slack)))
    assert caught.value.reason == ("Slack chat.postMessage answered 403: two_factor_setup_required")
