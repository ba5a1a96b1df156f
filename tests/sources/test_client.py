"""The Sync API client against answers the fake Sync API does not give."""

from __future__ import annotations

import pytest

from bridge.actions.httputil import client_session
from bridge.delivery.clock import SystemClock
from bridge.sources.client import SyncClient, SyncError
from tests.fakes.server import Recorder, Redirector


async def test_a_redirect_is_an_answer_not_followed_and_the_key_stays_home() -> None:
    """On the shared session, which refuses redirects (httpread.client_session), a followed
    one would escape the client as no SyncError and stop the poller."""
    async with (
        client_session() as http,
        Recorder() as elsewhere,
        Redirector(elsewhere, status=302) as api,
    ):
        client = SyncClient(
            http, SystemClock(), environment_id="env", base_url=api.url, api_key="key-1234"
        )
        with pytest.raises(SyncError) as caught:
            await client.init()
    assert elsewhere.requests == []
    assert caught.value.status == 302
