"""Reading a request body under a size limit, enforced while reading rather than after."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Receive


class BodyError(Exception):
    """The body cannot be read; `status` and `reason` make the answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(headers: Headers, receive: Receive, limit_bytes: int) -> bytes:
    """The whole body, or BodyError(413) as soon as it passes `limit_bytes`.

    A declared Content-Length over the limit is refused before a byte is read; a chunked body
    (or one that lies about its length) is refused the moment the running total passes the
    limit, so a client cannot make the bridge buffer more than `limit_bytes`.
    """
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BodyError(400, f"Content-Length {declared!r} is not a number")
        if int(declared) > limit_bytes:
            raise BodyError(413, _too_large(limit_bytes))
    chunks: list[bytes] = []
    total = 0
    more = True
    while more:  # the ASGI messages themselves: no Request object on the hot path
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyError(400, "client disconnected before the body was complete")
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        total += len(chunk)
        if total > limit_bytes:
            raise BodyError(413, _too_large(limit_bytes))
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit_bytes: int) -> str:
    return f"body is larger than the limit of {limit_bytes} bytes (BRIDGE_MAX_BODY_BYTES)"
