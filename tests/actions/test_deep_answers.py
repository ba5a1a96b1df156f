"""A 2xx nested too deep for json.loads, to the SDK-based actions: a Retry that names the
service. Before: the SDKs let json.loads's RecursionError out, the job's whole reason."""

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
            SlackAction,
            lambda url: {"token": "xoxb-1", "channel": "C1", "base_url": url + "/api/"},
            "Slack chat.postMessage answered something other than a JSON object",
        ),
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
    ids=["slack", "algolia", "azure_search"],
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
