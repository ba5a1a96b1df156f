"""Answers that are not well-formed HTTP: the status, when it came, decides (httputil.classify);
otherwise the job retries with a reason an operator can read (httpread.failure_reason)."""

from __future__ import annotations

import asyncio
import bz2
import zlib

import aiohttp
import pytest
from aiohttp import web

from bridge import httpread
from bridge.actions.base import PermanentFailure, Retry
from bridge.actions.httputil import request
from bridge.kontent.client import DeliveryClient
from bridge.kontent.variants import ManagementClient
from tests.fakes.raw import RawAnswer
from tests.fakes.server import FakeServer

SHORT_404 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 100\r\n\r\nno such hook"
BAD_GZIP_500 = b"HTTP/1.1 500 Oops\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nnotgz"
RESET_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nqueued"


async def test_a_404_whose_body_breaks_off_is_still_a_404(http: aiohttp.ClientSession) -> None:
    """Before: the ContentLengthError of the body made a Retry, so a wrong hook URL was
    retried for days instead of dead at once."""
    async with RawAnswer(SHORT_404) as target:
        with pytest.raises(PermanentFailure) as caught:
            await request(http, "POST", target.url + "/hook", what="hook")
    assert caught.value.status == 404
    assert caught.value.reason == "hook answered 404: no such hook"
    assert caught.value.response.startswith("no such hook… (the answer broke off after 12 bytes")
    assert "received 12 of 100 bytes" in caught.value.response


async def test_a_2xx_reset_mid_body_was_answered(http: aiohttp.ClientSession) -> None:
    async with RawAnswer(RESET_200, reset=True) as target:
        result = await request(http, "POST", target.url + "/hook", what="hook")
    assert result.status == 200
    assert result.response.startswith("queued… (the answer broke off after 6 bytes")


async def test_a_5xx_with_a_body_that_cannot_be_inflated_keeps_its_status(
    http: aiohttp.ClientSession,
) -> None:
    async with RawAnswer(BAD_GZIP_500) as target:
        with pytest.raises(Retry) as caught:
            await request(http, "POST", target.url + "/hook", what="hook")
    assert (caught.value.status, caught.value.reason) == (500, "hook answered 500")
    assert "Can not decode content-encoding: gzip" in caught.value.response


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            bytes.fromhex("160303002a020000260303") + bytes(40),  # a TLS ServerHello
            "hook sent an answer that is not valid HTTP: Bad status line: ",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            "hook sent an answer that is not valid HTTP: Invalid character in chunk size: b'zz'",
        ),
        (b"", "hook closed the connection without answering"),
    ],
    ids=["tls", "bad-chunk", "closed"],
)
async def test_no_usable_answer_retries_with_a_reason_that_names_it(
    http: aiohttp.ClientSession, answer: bytes, reason: str
) -> None:
    """Before: 'hook unreachable: ClientResponseError: 400, message=...', a 400 that was
    aiohttp's parser, not the target."""
    async with RawAnswer(answer) as target:
        with pytest.raises(Retry) as caught:
            await request(http, "POST", target.url + "/hook", what="hook")
    assert caught.value.reason.startswith(reason), caught.value.reason
    assert "400" not in caught.value.reason and "unreachable" not in caught.value.reason
    assert caught.value.status is None


async def test_a_delivery_api_404_whose_body_breaks_off_is_kontent_ais_answer(
    http: aiohttp.ClientSession,
) -> None:
    """The Delivery API reads error answers with the same read_prefix: its status decides."""
    answer = b'HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\n{"message": "bad key"'
    async with RawAnswer(answer) as api:
        client = DeliveryClient(http, api.url, api.url)
        with pytest.raises(PermanentFailure) as caught:
            await client.fetch_item("env-1", "id-1", "en", preview=False)
    assert caught.value.status == 401


BZ2_BOMB = bz2.compress(b"x" * (64 << 20), 9)  # 64 MiB in a few hundred bytes


@pytest.mark.parametrize(
    ("charset", "body", "shown"),
    [
        ("bz2", BZ2_BOMB, "BZh9"),  # not inflated: bz2 is no text encoding
        ("zlib", zlib.compress(b"y" * 1000), "x"),
        ("rot13", b"uryyb", "uryyb"),  # a str-to-str codec raised TypeError
        ("utf-16", b"\x00\xd8", "\x00\ufffd"),  # no BOM: UnicodeError, even with 'replace'
        ("undefined", b"abc", "abc"),
        ("unicode_escape", b"a\\ud800b", "a\ufffdb"),  # a lone surrogate no store keeps
        ("latin-1", b"caf\xe9", "café"),
    ],
    ids=["bz2", "zlib", "rot13", "utf-16", "undefined", "unicode_escape", "latin-1"],
)
async def test_the_charset_a_target_names_is_used_only_when_it_is_a_text_encoding(
    http: aiohttp.ClientSession, charset: str, body: bytes, shown: str
) -> None:
    """The charset picks a Python codec: `bz2` or `zlib` would inflate the 8 KiB prefix into
    gigabytes, others raised out of read_prefix (a bare AssertionError as the job's reason)."""
    head = f"HTTP/1.1 500 X\r\nContent-Type: text/plain; charset={charset}\r\n"
    answer = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    async with RawAnswer(answer) as target:
        with pytest.raises(Retry) as caught:
            await request(http, "POST", target.url + "/hook", what="hook")
    # The reason quotes a text answer's words, never bytes it could not decode.
    assert caught.value.reason in ("hook answered 500", f"hook answered 500: {shown}")
    assert caught.value.response.startswith(shown)
    assert len(caught.value.response) < 1000


class Trickle(FakeServer):
    """Answers `status` at once, then one byte of body and nothing more, never ending."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status
        self.stop = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=self.status)
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"q")
        await self.stop.wait()
        return response


@pytest.mark.parametrize(("status", "expected"), [(200, None), (404, PermanentFailure)])
async def test_an_answered_request_whose_body_never_ends_is_judged_by_its_status(
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    expected: type[Exception] | None,
) -> None:
    """Before: the excerpt's read ran into the attempt's timeout, so a 200 was a timed-out
    Retry (the hook called again on every attempt) and a 404 was retried for days."""
    monkeypatch.setattr(httpread, "BODY_READ_S", 0.05)
    async with Trickle(status) as target:
        try:
            if expected is None:
                result = await request(http, "POST", target.url + "/hook", what="hook")
                response = result.response
            else:
                with pytest.raises(expected) as caught:
                    await request(http, "POST", target.url + "/hook", what="hook")
                response = caught.value.response
        finally:
            target.stop.set()
    assert response == "q… (the answer broke off after 1 bytes: it had not ended after 0.05 s)"


async def test_a_management_api_error_whose_body_breaks_off_is_still_that_error(
    http: aiohttp.ClientSession,
) -> None:
    """Before: the Management API client read every answer whole first, so a 401 whose body
    broke off was 'unreachable' and retried instead of dead."""
    answer = b'HTTP/1.1 401 Unauthorized\r\nContent-Length: 100\r\n\r\n{"message": "bad key"'
    async with RawAnswer(answer) as api:
        client = ManagementClient(http, api.url, "env-1", "key-1234")
        with pytest.raises(PermanentFailure) as caught:
            await client.variant("item-1", "en")
    assert caught.value.status == 401
    assert caught.value.response.startswith('{"message": "bad key"')


async def test_a_delivery_api_answer_nested_too_deep_retries_saying_so(
    http: aiohttp.ClientSession,
) -> None:
    """Before: a RecursionError out of json.loads, the job's whole reason."""
    body = b"[" * 100_000 + b"]" * 100_000
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    async with RawAnswer(answer) as api:
        client = DeliveryClient(http, api.url, api.url)
        with pytest.raises(
            Retry, match=r"something that is not JSON \(.*nests deeper than 64 levels"
        ):
            await client.fetch_item("env-1", "id-1", "en", preview=False)


@pytest.mark.parametrize(
    ("status", "headers", "expected", "reason"),
    [
        (408, "", Retry, "answered 408"),
        (409, "", Retry, "answered 409"),
        (204, "", Retry, "answered 204"),
        (302, "Location: https://elsewhere.example/x\r\n", PermanentFailure, "redirected"),
        (410, "", PermanentFailure, "answered 410"),
    ],
)
async def test_delivery_api_statuses_follow_the_shared_rules(
    http: aiohttp.ClientSession,
    status: int,
    headers: str,
    expected: type[Exception],
    reason: str,
) -> None:
    """Before: a 408 or 409 (a CDN in front of the API) and a 204 killed the job at once."""
    head = f"HTTP/1.1 {status} X\r\n{headers}Content-Length: 0\r\n\r\n"
    async with RawAnswer(head.encode()) as api:
        client = DeliveryClient(http, api.url, api.url)
        with pytest.raises(expected, match=reason):
            await client.fetch_item("env-1", "id-1", "en", preview=False)
