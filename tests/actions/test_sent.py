"""The trace that records what SDKs send (bridge/actions/sent.py), on a session of
httputil.client_session against a local server."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bridge.actions import sent
from bridge.actions.base import Success
from bridge.actions.httputil import request
from tests.fakes.server import Recorder

pytestmark = pytest.mark.timeout(30)


def stored(recorder: sent.Recorder) -> dict[str, Any]:
    text = recorder.as_json()
    assert text is not None
    shown: dict[str, Any] = json.loads(text)
    return shown


async def test_a_form_body_has_its_credential_named_values_hidden(
    http: aiohttp.ClientSession,
) -> None:
    async with Recorder() as target:
        with sent.recording() as recorder:
            form = {"token": "xoxb-form-secret", "channel": "#content"}
            async with http.post(f"{target.url}/api/auth.test?x=1", data=form) as resp:
                await resp.read()
    shown = stored(recorder)
    assert (shown["method"], shown["url"]) == ("POST", f"{target.url}/api/auth.test?x=1")
    assert shown["body"] == "token=***&channel=%23content"
    assert "xoxb-form-secret" not in json.dumps(shown)


async def test_a_long_body_keeps_its_start_and_says_it_was_cut(
    http: aiohttp.ClientSession,
) -> None:
    async with Recorder() as target:
        with sent.recording() as recorder:
            async with http.put(target.url, data=b"x" * (sent.BODY_BYTES + 10)) as resp:
                await resp.read()
    body = stored(recorder)["body"]
    assert body.startswith("x" * sent.BODY_CHARS) and body.endswith("more characters)")
    assert len(body) < sent.BODY_CHARS + 100


async def test_what_httputil_noted_is_not_noted_again(http: aiohttp.ClientSession) -> None:
    async with Recorder() as target:
        with sent.recording() as recorder:
            headers = {"Authorization": "Bearer hook-secret"}
            result = await request(
                http, "POST", f"{target.url}/build", what="hook", headers=headers, json={}
            )
    assert isinstance(result, Success)
    shown = stored(recorder)
    assert shown["requests_sent"] == 1 and shown["body"] == "{}"
    assert shown["headers"] == {"Authorization": "***"}  # httputil's note: the caller's headers
