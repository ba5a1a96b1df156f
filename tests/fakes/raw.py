"""A target that answers with exactly the bytes a test gives: broken HTTP an aiohttp app cannot
send (a body short of its Content-Length, a reset mid-body, a TLS record, bad gzip)."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Self


class RawAnswer:
    """Reads each request's head (and body, by its Content-Length), writes `answer`, then
    closes the connection, with a TCP reset when `reset` (SO_LINGER 0)."""

    def __init__(self, answer: bytes, *, reset: bool = False) -> None:
        self.answer = answer
        self.reset = reset
        self.requests = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            self.requests += 1
            writer.write(self.answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if self.reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            else:
                writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
