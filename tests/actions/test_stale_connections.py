"""A pooled connection the target closed while the bridge was sending on it costs no attempt.

A raw asyncio server plays a keep-alive target whose idle timeout has just run out: it answers
a connection's first requests, then closes the connection when the next one arrives, without
answering. The shared session (httpread.client_session) sends that request once more on a new
connection; a new connection closed without an answer, or a second close, is the caller's
failure as before (the job's schedule decides).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest

from bridge.actions.base import Resources
from bridge.actions.http import HttpAction
from tests.actions.harness import opened
from tests.fakes.events import MakeCall


@dataclass
class Target:
    """Per connection: answer while `answers(connection number)` says so, then close."""

    answers: Callable[[int], int]
    url: str = ""
    received: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, body)
    connections: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number, answered = self.connections, 0
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.received.append((number, await reader.readexactly(length)))
                if answered == self.answers(number):
                    break  # closed with the request unanswered
                answered += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def target(answers: Callable[[int], int]) -> AsyncIterator[Target]:
    state = Target(answers)
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def test_a_post_on_a_pooled_connection_the_target_closed_goes_again_on_a_new_one(
    http: aiohttp.ClientSession,
) -> None:
    # Connection 1 answers one request and closes on the next; later connections answer all.
    async with target(lambda n: 1 if n == 1 else 100) as hook:
        for body in (b"first", b"second", b"third"):
            async with http.post(hook.url, data=body) as answer:
                assert answer.status == 200
    assert hook.received == [(1, b"first"), (1, b"second"), (2, b"second"), (2, b"third")]


async def test_a_new_connection_closed_without_an_answer_is_not_sent_again(
    http: aiohttp.ClientSession,
) -> None:
    async with target(lambda n: 0) as hook:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await http.post(hook.url, data=b"once")
    assert hook.received == [(1, b"once")]


async def test_a_second_close_is_the_callers_failure(http: aiohttp.ClientSession) -> None:
    # Connection 1 answers once; connection 2, the retry's, closes on its first request.
    async with target(lambda n: 1 if n == 1 else 0) as hook:
        async with http.post(hook.url, data=b"first") as answer:
            assert answer.status == 200
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await http.post(hook.url, data=b"second")
    assert hook.received == [(1, b"first"), (1, b"second"), (2, b"second")]


async def test_a_get_is_sent_again_once_by_aiohttp_alone(http: aiohttp.ClientSession) -> None:
    async with target(lambda n: 1 if n == 1 else 0) as hook:
        async with http.get(hook.url) as answer:
            assert answer.status == 200
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await http.get(hook.url)
    assert [connection for connection, _ in hook.received] == [1, 1, 2]


async def test_the_http_action_succeeds_at_its_first_attempt_after_an_idle_close(
    resources: Resources, make_call: MakeCall
) -> None:
    async with (
        target(lambda n: 1 if n == 1 else 100) as hook,
        opened(HttpAction("hook", resources)) as action,
    ):
        first = await action.send(make_call(HttpAction, {"url": hook.url}, delivery_id="d1"))
        second = await action.send(make_call(HttpAction, {"url": hook.url}, delivery_id="d2"))
    assert first.status == second.status == 200
    assert [connection for connection, _ in hook.received] == [1, 1, 2]
