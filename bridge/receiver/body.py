"""Reading a request body under a size limit, enforced while reading rather than after, and
under a budget shared by every request of the process (`BodyBudget`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.types import Message, Receive


class BodyError(Exception):
    """The body cannot be read; `status` and `reason` make the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BodyBudget:
    """The bytes of request bodies the process holds at once, across every connection.

    Each body is bounded by its own limit, and connections by BRIDGE_MAX_CONNECTIONS, but the
    two multiply (5 MiB times 4,096 connections is 20 GiB): a reader takes its chunks from this
    budget as they arrive and the request gives them back once its answer is made. Past the
    budget a request gets a 503 (Kontent.ai retries it) instead of the process its memory.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.limit_bytes:
            raise BodyError(503, _too_busy(self.limit_bytes))
        self.held += size

    def give_back(self, size: int) -> None:
        self.held = max(0, self.held - size)


async def read_body(
    headers: Mapping[str, str],
    receive: Receive,
    limit_bytes: int,
    timeout_s: float | None = None,
    budget: BodyBudget | None = None,
) -> bytes:
    """The whole body, or BodyError(413) as soon as it passes `limit_bytes`, or BodyError(408)
    when it is not complete within `timeout_s`, or BodyError(503) when it would take the
    bodies being held past the process's `budget`.

    A declared Content-Length over the limit is refused before a byte is read; a chunked body
    (or one that lies about its length) is refused the moment the running total passes the
    limit, so a client cannot make the bridge buffer more than `limit_bytes`. The bytes read
    are taken from `budget`: the caller gives `len(body)` back when it is done with the body
    (on an error, what was taken is given back here).
    """
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BodyError(400, f"Content-Length {declared!r} is not a number")
        if int(declared) > limit_bytes:
            raise BodyError(413, _too_large(limit_bytes))
    # The ASGI messages themselves: no Request object on the hot path. The first message
    # nearly always holds the whole body (it came in the packet with the headers), so the
    # deadline (a timer) is only armed when more is to come; uvicorn's protocol
    # (receiver/protocol.py) also closes a connection whose body stalls before its first byte.
    total = 0
    try:
        first, more = _chunk(await receive(), 0, limit_bytes)
        _take(budget, len(first))
        total = len(first)
        if not more:
            return first
        chunks = [first]
        try:
            async with asyncio.timeout(timeout_s):
                while more:
                    chunk, more = _chunk(await receive(), total, limit_bytes)
                    _take(budget, len(chunk))
                    total += len(chunk)
                    chunks.append(chunk)
        except TimeoutError:
            raise BodyError(408, _too_slow(timeout_s)) from None
        return b"".join(chunks)
    except BaseException:
        if budget is not None:
            budget.give_back(total)
        raise


def _take(budget: BodyBudget | None, size: int) -> None:
    if budget is not None:
        budget.take(size)


def _chunk(message: Message, total: int, limit_bytes: int) -> tuple[bytes, bool]:
    """(body bytes, more to come) of one ASGI message, checked against the limit."""
    if message["type"] == "http.disconnect":
        raise BodyError(400, "client disconnected before the body was complete")
    if message["type"] != "http.request":
        return b"", True
    chunk: bytes = message.get("body", b"")
    if total + len(chunk) > limit_bytes:
        raise BodyError(413, _too_large(limit_bytes))
    return chunk, bool(message.get("more_body", False))


def _too_slow(timeout_s: float | None) -> str:
    return f"the body did not arrive within {timeout_s:g} s (BRIDGE_BODY_TIMEOUT_S)"


def _too_busy(limit_bytes: int) -> str:
    return (
        f"the bridge holds its limit of {limit_bytes} bytes of request bodies at once "
        "(BRIDGE_MAX_PENDING_BODY_BYTES); try again shortly"
    )


def _too_large(limit_bytes: int) -> str:
    return f"body is larger than the limit of {limit_bytes} bytes (BRIDGE_MAX_BODY_BYTES)"
