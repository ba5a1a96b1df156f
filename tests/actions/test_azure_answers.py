"""Azure AI Search answering a 2xx that is no index result: a Retry that says so."""

from __future__ import annotations

import pytest

from bridge.actions.azure_search import AzureSearchAction
from bridge.actions.base import Resources, Retry
from tests.actions.harness import opened
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            200,
            "<html>a proxy</html>",
            "answered something that is not an index result: JSONDecodeError",
        ),
        (200, [1, 2], "answered something that is not an index result: AttributeError"),
        (200, {"value": "x"}, "answered something that is not an index result: AttributeError"),
        (200, {}, "answered something that is not an index result: TypeError"),
        (204, "", "answered 204, which is no result for this request"),
    ],
    ids=["html", "list", "value-not-a-list", "no-value", "204"],
)
async def test_an_answer_that_is_no_index_result_retries_naming_azure(
    resources: Resources, make_call: MakeCall, status: int, body: object, reason: str
) -> None:
    """Before: the SDK's JSONDecodeError or AttributeError was the job's whole reason, and a
    204 read 'unreachable'."""
    async with Recorder(status, body) as azure:
        options = {"endpoint": azure.url, "api_key": "admin-key", "index": "articles"}
        call = make_call(AzureSearchAction, options, [make_event(action="unpublished")])
        async with opened(AzureSearchAction("search", resources)) as action:
            with pytest.raises(Retry, match=f"Azure AI Search {reason}"):
                await action.send(call)
