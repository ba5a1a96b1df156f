"""Reading a body under a size limit and a deadline, from the ASGI messages themselves."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.datastructures import Headers
from starlette.types import Message

from bridge.receiver.body import BodyBudget, BodyError, read_body


async def read(
    messages: list[Message],
    *,
    limit: int = 1000,
    timeout_s: float | None = 0.2,
    headers: dict[str, str] | None = None,
    budget: BodyBudget | None = None,
) -> bytes:
    """`messages` one by one; after the last, receive() waits as a stalled client makes it."""
    pending = iter(messages)
    never = asyncio.Event()

    async def receive() -> Message:
        for message in pending:
            return message
        await never.wait()
        raise AssertionError("unreachable")

    return await read_body(Headers(headers or {}), receive, limit, timeout_s, budget)


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


async def test_the_budget_holds_what_is_read_until_it_is_given_back() -> None:
    budget = BodyBudget(1000)
    first = await read([chunk(b"x" * 300, True), chunk(b"x" * 300, False)], budget=budget)
    assert budget.held == 600
    with pytest.raises(BodyError) as raised:  # 600 held + 500 would pass the 1000
        await read([chunk(b"y" * 250, True), chunk(b"y" * 250, False)], budget=budget)
    assert raised.value.status == 503
    assert "BRIDGE_MAX_PENDING_BODY_BYTES" in raised.value.reason
    assert budget.held == 600  # the refused body's first chunk was given back
    budget.give_back(len(first))
    assert await read([chunk(b"y" * 500, False)], budget=budget) == b"y" * 500
    assert budget.held == 500


@pytest.mark.parametrize(
    ("messages", "status"),
    [
        ([chunk(b"x" * 600, True), chunk(b"x" * 600, False)], 413),
        ([chunk(b"x" * 600, True), {"type": "http.disconnect"}], 400),
        ([chunk(b"x" * 600, True)], 408),
    ],
)
async def test_a_body_that_fails_gives_back_what_it_took(
    messages: list[Message], status: int
) -> None:
    budget = BodyBudget(10_000)
    with pytest.raises(BodyError) as raised:
        await read(messages, timeout_s=0.05, budget=budget)
    assert raised.value.status == status
    assert budget.held == 0
