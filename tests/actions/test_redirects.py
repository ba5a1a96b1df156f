"""A target that redirects to another host never gets the request, nor its credentials, there.

The bridge's own requests say `allow_redirects=False` (test_http.py); these are the SDKs' on
the shared session (httpread.client_session refuses the redirect) and azure-core's pipeline,
which follows redirects itself (azure_client: permit_redirects=False). Either way the job is
dead at once with the Location in its reason, as `classify` makes any 3xx.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bridge.actions.algolia import AlgoliaAction
from bridge.actions.azure_search import AzureSearchAction
from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.slack import SlackAction
from bridge.httpread import RedirectRefused
from tests.actions.harness import opened
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder, Redirector

SECRET = "the-admin-api-key-0123456789"


def nothing_sent_elsewhere(elsewhere: Recorder) -> None:
    assert elsewhere.requests == [], [dict(r.headers) for r in elsewhere.requests]


async def test_the_shared_session_refuses_a_redirect_an_sdk_would_follow(
    http: aiohttp.ClientSession,
) -> None:
    async with Recorder() as elsewhere, Redirector(elsewhere, status=302) as target:
        with pytest.raises(RedirectRefused) as caught:
            await http.post(target.url + "/hook/path-secret", headers={"X-Api-Key": SECRET})
    nothing_sent_elsewhere(elsewhere)
    assert caught.value.status == 302
    assert f"{target.url} redirected (302);" in caught.value.reason
    assert "configure the final URL: http://localhost:" in caught.value.reason


async def test_algolia_does_not_send_its_key_to_the_host_a_redirect_names(
    resources: Resources, make_call: MakeCall
) -> None:
    options: dict[str, Any] = {"app_id": "APP", "api_key": SECRET, "index": "articles"}
    async with Recorder(body='{"taskID": 1}') as elsewhere, Redirector(elsewhere) as target:
        options["hosts"] = [target.url]
        call = make_call(AlgoliaAction, options, [make_event(action="unpublished")])
        async with opened(AlgoliaAction("search", resources)) as action:
            refused = r"redirected \(307\);.*configure the final URL: http://localhost"
            with pytest.raises(PermanentFailure, match=refused):
                await action.send(call)
    nothing_sent_elsewhere(elsewhere)


async def test_azure_search_does_not_send_its_api_key_to_the_host_a_redirect_names(
    resources: Resources, make_call: MakeCall
) -> None:
    body = '{"value": [{"key": "hello_world_en", "status": true, "statusCode": 200}]}'
    async with Recorder(body=body) as elsewhere, Redirector(elsewhere) as target:
        options = {"endpoint": target.url, "api_key": SECRET, "index": "articles"}
        call = make_call(AzureSearchAction, options, [make_event(action="unpublished")])
        async with opened(AzureSearchAction("search", resources)) as action:
            with pytest.raises(PermanentFailure) as caught:
                await action.send(call)
    nothing_sent_elsewhere(elsewhere)
    assert caught.value.status == 307
    assert "Azure AI Search redirected (307); configure the final URL: http://localhost:" in (
        caught.value.reason
    )


async def test_a_slack_webhook_message_is_not_posted_where_a_redirect_points(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder() as elsewhere, Redirector(elsewhere, status=308) as target:
        call = make_call(SlackAction, {"webhook_url": target.url + "/services/T/B/hook-secret"})
        with pytest.raises(PermanentFailure, match=r"redirected \(308\)"):
            await SlackAction("team", resources).send(call)
    nothing_sent_elsewhere(elsewhere)
