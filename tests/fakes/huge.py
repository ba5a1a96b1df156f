"""A target whose answer is far larger than anything the bridge should hold: generated, streamed.

The body is produced one chunk at a time and never exists whole, so the test process stays
small and any memory growth measured in a client is the client's own. `sent_bytes` says how much
the server managed to write before the client hung up: a client that reads a bounded prefix and
releases the connection leaves most of the answer unsent.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import web

from tests.fakes.server import FakeServer

CHUNK_BYTES = 1 << 20


class HugeAnswer(FakeServer):
    """Any path answers `status` with `total_bytes` of `fill`, in 1 MiB chunks.

    `prefix` starts the body (a JSON opening, an HTML tag); `content_length=False` sends the
    answer chunked, so the client cannot know its size in advance.
    """

    def __init__(
        self,
        total_bytes: int,
        *,
        status: int = 200,
        content_type: str = "text/plain",
        prefix: bytes = b"",
        fill: bytes = b"x",
        content_length: bool = True,
    ) -> None:
        super().__init__()
        self.total_bytes = total_bytes
        self.status = status
        self.content_type = content_type
        self.prefix = prefix
        self.fill = fill
        self.content_length = content_length
        self.sent_bytes = 0
        self.finished = asyncio.Event()  # the answer ended: written whole or cut by the client

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=self.status)
        response.content_type = self.content_type
        if self.content_length:
            response.content_length = self.total_bytes
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = (self.fill * (CHUNK_BYTES // len(self.fill) + 1))[:CHUNK_BYTES]
        try:
            head = self.prefix[: self.total_bytes]
            await response.write(head)
            self.sent_bytes += len(head)
            while self.sent_bytes < self.total_bytes:
                part = chunk[: self.total_bytes - self.sent_bytes]
                await response.write(part)
                self.sent_bytes += len(part)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up: exactly what a bounded reader does
        finally:
            self.finished.set()
        return response


class GzipBomb(FakeServer):
    """Answers `status` with `Content-Encoding: gzip`: a few kilobytes that inflate to
    `inflated_bytes` of zeros, compressed as they are sent (never held, compressed or not)."""

    def __init__(self, inflated_bytes: int, *, status: int = 200) -> None:
        super().__init__()
        self.inflated_bytes = inflated_bytes
        self.status = status
        self.sent_bytes = 0
        self.finished = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=self.status, headers={"Content-Encoding": "gzip"})
        response.content_type = "text/plain"
        await response.prepare(request)
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
        block = bytes(CHUNK_BYTES)
        try:
            for _ in range(self.inflated_bytes // CHUNK_BYTES):
                if out := compressor.compress(block):
                    await response.write(out)
                    self.sent_bytes += len(out)
            await response.write(compressor.flush())
            await response.write_eof()
        except ConnectionError:
            pass
        finally:
            self.finished.set()
        return response
