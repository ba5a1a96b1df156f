"""The drain bench's target: a raw asyncio Protocol on uvloop answering every request at once.

    .venv/bin/python bench/sink.py --port 8999

HTTP/1.1 keep-alive, requests framed by Content-Length (what aiohttp and wrk send). Every
`POST /hook` is answered `200 ok` and counted, with the time of the first and the last; a JSON
body with `"n"` (the job's number) is checked to arrive in non-decreasing order. `GET /count`
answers those numbers as JSON, `POST /reset` zeroes them. An ASGI app on uvicorn answered
2.5-5.7k calls/s here, barely above the 5,000 calls/s goal of `bench/drain.py`; this one answers
tens of thousands (drain.py measures it with wrk and prints it), so the bridge is what a drain
measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

import uvloop

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
LENGTH = b"\r\ncontent-length:"
# {"n": "12"}: the job's number, found without json.loads (which would cost more per call)
NUMBER = re.compile(rb'"n"\s*:\s*"?(-?\d+)')


class Counts:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.last_n: int | None = None
        self.in_order = True

    def hook(self, body: bytes) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += 1
        found = NUMBER.search(body)
        if found is None:
            return
        n = int(found.group(1))
        if self.last_n is not None and n < self.last_n:
            self.in_order = False
        self.last_n = n

    def answer(self) -> bytes:
        names = ("count", "first", "last", "in_order")
        body = json.dumps({name: getattr(self, name) for name in names}).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"Content-Type: application/json\r\n\r\n" + body


class Sink(asyncio.Protocol):
    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] (uvloop's is no asyncio class)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (request := self._next_request()) is not None:
            assert self.transport is not None
            self.transport.write(self._answer(*request))

    def _next_request(self) -> tuple[bytes, bytes] | None:
        """The head and body of the first complete request in the buffer, taken out of it."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end])
        at = head.lower().find(LENGTH)
        length = 0 if at < 0 else int(head[at + len(LENGTH) : head.find(b"\r\n", at + 2)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return None
        body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        return head, body

    def _answer(self, head: bytes, body: bytes) -> bytes:
        path = head.split(b" ", 2)[1]
        if path == b"/hook":
            self.counts.hook(body)
        elif path == b"/count":
            return self.counts.answer()
        elif path == b"/reset":
            self.counts.reset()
        return OK


async def serve(port: int) -> None:
    counts = Counts()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Sink(counts), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
