"""A 2xx nested too deep for json.loads, to the SDK-based actions: a Retry that names the
service (Slack: a message posted, tests/actions/test_slack.py). Before: the SDKs let
json.loads's RecursionError out, the job's whole reason."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.actions.algolia import AlgoliaAction
from bridge.actions.azure_search import AzureSearchAction
from bridge.actions.base import Action, Resources, Retry
from bridge.actions.slack import SlackAction
from tests.actions.harness import opened
from tests.fakes.events import MakeCall, make_event
from tests.fakes.raw import RawAnswer

DEEP = b"[" * 100_000 + b"]" * 100_000
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(DEEP)
    + DEEP
)


@pytest.mark.parametrize(
    ("action", "options", "reason"),
    [
        (
            AlgoliaAction,
            lambda url: {"app_id": "A", "api_key": "K", "index": "x", "hosts": [url]},
            "Algolia answered something its SDK cannot read: RecursionError",
        ),
        (
            AzureSearchAction,
            lambda url: {"endpoint": url, "api_key": "K", "index": "articles"},
            "Azure AI Search answered something that is not an index result: RecursionError",
        ),
    ],
    ids=["algolia", "azure_search"],
)
async def test_an_answer_nested_too_deep_retries_naming_the_service(
    resources: Resources,
    make_call: MakeCall,
    action: type[Action[Any]],
    options: Any,
    reason: str,
) -> None:
    async with RawAnswer(ANSWER) as target:
        call = make_call(action, options(target.url), [make_event(action="unpublished")])
        async with opened(action("under-test", resources)) as sender:
            with pytest.raises(Retry, match=reason):
                await sender.send(call)


async def test_a_slack_answer_nested_too_deep_is_a_message_posted(
    resources: Resources, make_call: MakeCall
) -> None:
    """A 2xx from chat.postMessage: Slack took the message, and a retry would post it twice."""
    async with RawAnswer(ANSWER) as target:
        options = {"token": "xoxb-1", "channel": "C1", "base_url": target.url + "/api/"}
        async with opened(SlackAction("under-test", resources)) as sender:
            result = await sender.send(make_call(SlackAction, options, [make_event()]))
    assert result.status == 200
    assert "its answer nests too deeply to parse; taken as posted" in result.response
