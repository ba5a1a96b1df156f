"""The Sync API client against answers the fake Sync API does not give."""

from __future__ import annotations

import pytest

from bridge.actions.httputil import client_session
from bridge.delivery.clock import SystemClock
from bridge.sources.client import MAX_RETRY_AFTER_S, SyncClient, SyncError
from tests.fakes.raw import RawAnswer
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


class Waits(SystemClock):
    """No waiting: records what the client was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.mark.parametrize("retry_after", ["inf", "99999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
async def test_a_retry_after_of_days_or_forever_does_not_hold_the_source(
    retry_after: str,
) -> None:
    """Before: the client slept what the 429 said (for 'inf', forever) inside the cycle."""
    answer = f"HTTP/1.1 429 Slow\r\nRetry-After: {retry_after}\r\nConnection: close\r\n\r\n"
    clock = Waits()
    async with client_session() as http, RawAnswer(answer.encode()) as api:
        client = SyncClient(http, clock, environment_id="env", base_url=api.url, api_key="k")
        with pytest.raises(SyncError, match="kept answering 429"):
            await client.init()
    assert clock.waits and max(clock.waits) <= MAX_RETRY_AFTER_S


async def test_a_page_nested_too_deep_is_a_sync_error_not_a_crash() -> None:
    """Before: json.loads raised RecursionError, no SyncError, which stopped the poller for
    good ('poller stopped by an unexpected error')."""
    body = b"[" * 100_000 + b"]" * 100_000
    head = b"HTTP/1.1 200 OK\r\nX-Continuation: t-2\r\nConnection: close\r\n"
    answer = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    async with client_session() as http, RawAnswer(answer) as api:
        client = SyncClient(http, Waits(), environment_id="env", base_url=api.url, api_key="k")
        with pytest.raises(SyncError, match=r"invalid JSON: .*nests deeper than 64 levels"):
            await client.sync("t-1")
