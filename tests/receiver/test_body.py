"""Reading a body under a size limit and a deadline, from the ASGI messages themselves."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.datastructures import Headers
from starlette.types import Message

from bridge.receiver.body import BodyError, read_body


async def read(
    messages: list[Message],
    *,
    limit: int = 1000,
    timeout_s: float | None = 0.2,
    headers: dict[str, str] | None = None,
) -> bytes:
    """`messages` one by one; after the last, receive() waits as a stalled client makes it."""
    pending = iter(messages)
    never = asyncio.Event()

    async def receive() -> Message:
        for message in pending:
            return message
        await never.wait()
        raise AssertionError("unreachable")

    return await read_body(Headers(headers or {}), receive, limit, timeout_s)


def chunk(body: bytes, more: bool) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_one_message_is_the_body() -> None:
    assert await read([chunk(b"{}", False)], timeout_s=None) == b"{}"


async def test_chunks_are_joined() -> None:
    body = await read([chunk(b"{", True), chunk(b"", True), chunk(b"}", False)])
    assert body == b"{}"


async def test_a_body_that_stops_short_is_408_after_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(BodyError) as raised:
        await read([chunk(b'{"notifications": [', True)], timeout_s=0.2)
    assert raised.value.status == 408
    assert raised.value.reason == "the body did not arrive within 0.2 s (BRIDGE_BODY_TIMEOUT_S)"
    assert 0.2 <= time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("messages", "headers", "status"),
    [
        ([chunk(b"x" * 600, True), chunk(b"x" * 600, False)], {}, 413),
        ([], {"content-length": "1001"}, 413),
        ([], {"content-length": "ten"}, 400),
        ([chunk(b"{", True), {"type": "http.disconnect"}], {}, 400),
    ],
)
async def test_limits_and_disconnects(
    messages: list[Message], headers: dict[str, str], status: int
) -> None:
    with pytest.raises(BodyError) as raised:
        await read(messages, headers=headers)
    assert raised.value.status == status
