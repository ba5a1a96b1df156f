"""uvicorn's HTTP protocol with the limits it lacks: header and body deadlines, a bound on open
connections and on header bytes.

uvicorn closes idle keep-alive connections, but a connection that never finishes its headers,
or a body shorter than its Content-Length, is held open for ever: 1,100 such connections used up
the file descriptors and no real request got in. Here every connection must send its request's
headers within `header_timeout_s` of its first byte (or of being opened) and the body within
`body_timeout_s` of the headers; otherwise it gets 408 and is closed. Connections beyond
`max_connections` get 503 and are closed at once, rather than queued or holding a descriptor.

The deadlines cost nothing on the common path: the timers are (re)armed after the parser has
seen a whole packet, so a request that arrives in one packet never arms one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import ClassVar, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("bridge.receiver.connections")

Phase = Literal["headers", "body", "idle"]
MAX_HEADER_BYTES = 64 * 1024  # far above what Kontent.ai sends; llhttp itself has no limit


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    max_header_bytes: int = MAX_HEADER_BYTES


def _plain_response(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text
    )


# Written before the app sees the request, so they are built here rather than by Starlette.
REQUEST_TIMEOUT = _plain_response(b"408 Request Timeout", b'{"error":"request timeout"}')
HEADERS_TOO_LARGE = _plain_response(
    b"431 Request Header Fields Too Large", b'{"error":"request headers too large"}'
)
TOO_MANY_CONNECTIONS = _plain_response(
    b"503 Service Unavailable", b'{"error":"too many open connections, retry later"}'
)
INVALID_HTTP = _plain_response(b"400 Bad Request", b'{"error":"invalid HTTP request"}')


class GuardedHttpProtocol(HttpToolsProtocol):
    """Pass a subclass made by `guarded_protocol(limits)` to uvicorn as `http=`."""

    limits: ClassVar[ConnectionLimits]

    _phase: Phase = "headers"  # a new connection waits for its first request's headers
    _timer_phase: Phase = "idle"
    _timer: asyncio.TimerHandle | None = None
    _header_bytes = 0
    _rejected = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            # Not registered: the server neither counts nor waits for this connection.
            self._rejected = True
            self.transport = transport
            transport.write(TOO_MANY_CONNECTIONS)
            transport.close()
            log.warning(
                "refused a connection: %d connections are open (BRIDGE_MAX_CONNECTIONS)",
                len(self.connections),
            )
            return
        super().connection_made(transport)
        self._sync_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._rejected:
            return
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._rejected or self.transport.is_closing():
            return
        super().data_received(data)
        if self._phase == "headers" and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(HEADERS_TOO_LARGE)
                return
        self._sync_timer()

    def send_400_response(self, msg: str) -> None:
        """What the parser refuses is answered in JSON too, like every other refusal."""
        self._cancel_timer()
        self.transport.write(INVALID_HTTP)
        self.transport.close()

    # Parser callbacks: record where the request is; data_received arms the matching timer.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "headers"

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase = "body"
        self._header_bytes = 0

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = "idle"

    def _sync_timer(self) -> None:
        if self._phase == self._timer_phase:
            return
        self._cancel_timer()
        self._timer_phase = self._phase
        if self._phase == "headers":
            self._timer = self.loop.call_later(self.limits.header_timeout_s, self._timed_out)
        elif self._phase == "body":
            self._timer = self.loop.call_later(self.limits.body_timeout_s, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_phase = "idle"

    def _timed_out(self) -> None:
        self._timer = None
        self._timer_phase = "idle"
        if self.transport.is_closing():
            return
        cycle = self.cycle  # while a request's headers are incomplete, the previous request's
        answering = cycle is not None and not cycle.response_complete
        if answering and (cycle.response_started or self._phase == "headers"):
            # An answer is being made (for this request, or for one pipelined before it):
            # let it finish, then close instead of keeping the connection alive.
            cycle.keep_alive = False
        elif self._phase == "body" and cycle is not None and cycle.response_complete:
            self._refuse(b"")  # answered already (say 401 before reading): just close
        else:
            if self._phase == "body" and cycle is not None:
                # The app may be waiting for the rest of the body: tell it the client is gone.
                cycle.disconnected = True
                cycle.message_event.set()
            self._refuse(REQUEST_TIMEOUT)
        log.debug("a connection did not complete its request in time")

    def _refuse(self, response: bytes) -> None:
        self._cancel_timer()
        self.transport.write(response)
        self.transport.close()


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """The protocol class for one server: uvicorn builds protocols from a class, not a value."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})
