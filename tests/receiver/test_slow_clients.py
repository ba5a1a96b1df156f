"""Stalled clients against a real `bridge serve`: they cannot lock real senders out, they are closed
after the header or body deadline, connections over the bound are refused at once, and the log
stays small throughout."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bridge.signatures import sign
from tests.admin.harness import eventually
from tests.receiver.test_real_server import EXAMPLE, PAYLOADS, SECRET, free_port

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 60.0
DEADLINE_S = 2.0  # BRIDGE_HEADER_TIMEOUT_S and BRIDGE_BODY_TIMEOUT_S in these tests
PAYLOAD = PAYLOADS / "current/content_item_published_published.json"

PARTIAL_HEADERS = b"POST /webhooks/kontent HTTP/1.1\r\nHost: bridge\r\nContent-Type: appl"
PARTIAL_BODY = (
    b"POST /webhooks/kontent HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n" + b'{"notifications": ['
)


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    log: bytearray = field(default_factory=bytearray)
    _grew: asyncio.Event = field(default_factory=asyncio.Event)

    async def collect(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self.log += chunk
            self._grew.set()
        self._grew.set()

    async def wait_for(self, text: bytes, timeout_s: float) -> None:
        async with asyncio.timeout(timeout_s):
            while text not in self.log:
                if self.process.returncode is not None:
                    raise AssertionError(f"server exited:\n{self.log.decode(errors='replace')}")
                self._grew.clear()
                await self._grew.wait()


Start = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    servers: list[tuple[Server, asyncio.Task[None]]] = []

    async def run(fd_limit: int | None = None, **env: str) -> Server:
        def limit_fds() -> None:
            if fd_limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        port = free_port()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "serve", "--no-workers", "--config", str(EXAMPLE),
            "--host", "127.0.0.1", "--port", str(port),
            env=os.environ | {
                "BRIDGE_DB": f"sqlite:///{tmp_path}/bridge-{port}.db",
                "BRIDGE_LOG_FORMAT": "text",
                "KONTENT_WEBHOOK_SECRET": SECRET,
                **env,
            },
            stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            preexec_fn=limit_fds,
        )  # fmt: skip
        server = Server(process, port)
        servers.append((server, asyncio.create_task(server.collect())))
        await server.wait_for(b"Uvicorn running on", STARTUP_TIMEOUT_S)
        return server

    yield run
    for server, reading in servers:
        if server.process.returncode is None:
            server.process.terminate()
            try:  # a server that keeps stalled connections open may wait for them for ever
                await asyncio.wait_for(server.process.wait(), 15)
            except TimeoutError:
                server.process.kill()
                await server.process.wait()
        await reading


@pytest.fixture
def connections() -> Iterator[list[asyncio.StreamWriter]]:
    """Every connection a test opens, closed at the end even when the test fails."""
    writers: list[asyncio.StreamWriter] = []
    yield writers
    for writer in writers:
        writer.close()


async def hold(
    port: int, data: bytes, writers: list[asyncio.StreamWriter]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writers.append(writer)
    if data:
        writer.write(data)
        await writer.drain()
    return reader, writer


async def answer_and_close(reader: asyncio.StreamReader, timeout_s: float) -> bytes:
    """What the server sends before it closes the connection (EOF), within `timeout_s`."""
    return await asyncio.wait_for(reader.read(), timeout_s)


async def signed_post(port: int, timeout_s: float) -> httpx.Response:
    body = PAYLOAD.read_bytes()
    headers = {"Content-Type": "application/json", "X-Kontent-ai-Signature": sign(body, SECRET)}
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        return await client.post(
            f"http://127.0.0.1:{port}/webhooks/kontent", content=body, headers=headers
        )


@pytest.mark.timeout(180)
async def test_stalled_clients_are_closed_and_do_not_lock_senders_out(
    start: Start, connections: list[asyncio.StreamWriter]
) -> None:
    server = await start(
        BRIDGE_HEADER_TIMEOUT_S=str(DEADLINE_S),
        BRIDGE_BODY_TIMEOUT_S=str(DEADLINE_S),
        BRIDGE_MAX_CONNECTIONS="1000",
    )
    log_at_start = len(server.log)
    opened = time.monotonic()
    held = await asyncio.gather(
        *(hold(server.port, b"", connections) for _ in range(100)),  # never send a byte
        *(hold(server.port, PARTIAL_HEADERS, connections) for _ in range(100)),
        *(hold(server.port, PARTIAL_BODY, connections) for _ in range(100)),  # 19 of 1,000 bytes
    )

    # A real sender gets in while all 300 are held.
    response = await signed_post(server.port, timeout_s=DEADLINE_S)
    assert response.status_code == 200, response.text
    assert time.monotonic() - opened < DEADLINE_S + 1  # before the server closed any of them

    answers = await asyncio.gather(*(answer_and_close(r, DEADLINE_S + 10) for r, _ in held))
    closed_after = time.monotonic() - opened
    for _, writer in held:
        writer.close()
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers[100:]), answers[100:110]
    assert closed_after < DEADLINE_S + 10
    # Headers that never end are cut off by size long before the deadline.
    reader, _ = await hold(server.port, PARTIAL_HEADERS + b"X-Pad: " + b"a" * 70_000, connections)
    assert (await answer_and_close(reader, DEADLINE_S)).startswith(b"HTTP/1.1 431")
    # What the HTTP parser refuses is answered in JSON, like every other refusal.
    reader, _ = await hold(server.port, b"NOT HTTP AT ALL\r\n\r\n", connections)
    answer = await answer_and_close(reader, DEADLINE_S)
    assert answer.startswith(b"HTTP/1.1 400")
    assert answer.endswith(b'{"error":"invalid HTTP request"}')
    assert len(server.log) - log_at_start < 4096, server.log[log_at_start:].decode()


@pytest.mark.timeout(180)
async def test_connections_over_the_bound_are_refused_at_once(
    start: Start, connections: list[asyncio.StreamWriter]
) -> None:
    server = await start(BRIDGE_HEADER_TIMEOUT_S="60", BRIDGE_MAX_CONNECTIONS="20")
    log_at_start = len(server.log)
    held = [await hold(server.port, PARTIAL_HEADERS, connections) for _ in range(20)]
    extra = await asyncio.gather(*(hold(server.port, b"", connections) for _ in range(200)))
    # Refused at once, not after the 60 s header deadline and not queued.
    answers = await asyncio.gather(*(answer_and_close(r, 10) for r, _ in extra))
    assert all(a.startswith(b"HTTP/1.1 503") for a in answers), answers[:3]
    for _, writer in [*held, *extra]:
        writer.close()
    # With the held ones gone, a sender gets in again.
    async with asyncio.timeout(10):
        while True:
            try:
                response = await signed_post(server.port, timeout_s=5)
            except httpx.TransportError:
                continue  # its connection met the bound before the server saw ours close
            if response.status_code != 503:
                break
    assert response.status_code == 200, response.text
    refused = server.log[log_at_start:].count(b"refused a connection")
    assert 1 <= refused <= 5, server.log[log_at_start:].decode()  # throttled: 200 refusals
    assert len(server.log) - log_at_start < 4096, server.log[log_at_start:].decode()


@pytest.mark.timeout(180)
async def test_more_stalled_connections_than_file_descriptors(
    start: Start, connections: list[asyncio.StreamWriter]
) -> None:
    """The incident: 1,100 stalled connections against a process allowed 256 descriptors. The
    bound (derived from the limit) refuses the excess at once instead of running out of
    descriptors (and logging "Too many open files" a million times); the deadline frees the
    rest; a sender gets in."""
    server = await start(
        fd_limit=256, BRIDGE_HEADER_TIMEOUT_S=str(DEADLINE_S), BRIDGE_BODY_TIMEOUT_S="2"
    )
    assert b"connections: at most 192 open" in server.log  # 256 less a quarter for the rest
    log_at_start = len(server.log)
    opened = time.monotonic()
    held = await asyncio.gather(
        *(hold(server.port, PARTIAL_HEADERS, connections) for _ in range(1100))
    )
    answers = await asyncio.gather(*(answer_and_close(r, DEADLINE_S + 20) for r, _ in held))
    assert time.monotonic() - opened < DEADLINE_S + 20
    refused = sum(a.startswith(b"HTTP/1.1 503") for a in answers)
    timed_out = sum(a.startswith(b"HTTP/1.1 408") for a in answers)
    assert refused + timed_out == 1100 and timed_out <= 192, (refused, timed_out)
    response = await signed_post(server.port, timeout_s=DEADLINE_S + 5)
    assert response.status_code == 200, response.text
    log = server.log[log_at_start:]
    assert b"Too many open files" not in log and b"out of system resource" not in log
    assert len(log) < 4096, log.decode()


@pytest.mark.timeout(120)
async def test_bodies_held_at_once_are_bounded_for_the_whole_process(
    start: Start, connections: list[asyncio.StreamWriter]
) -> None:
    """Each body has its limit, but many connections each holding most of one would add up
    (5 MiB times 4,096 connections): past BRIDGE_MAX_PENDING_BODY_BYTES a request is 503."""
    server = await start(BRIDGE_MAX_BODY_BYTES="1000000", BRIDGE_MAX_PENDING_BODY_BYTES="3000000")
    head = (
        b"POST /webhooks/kontent HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )
    # 2,999,700 bytes held: a 510-byte notification no longer fits.
    held = [await hold(server.port, head + b" " * 999_900, connections) for _ in range(3)]
    answers: list[httpx.Response] = []

    async def answered(status: int) -> bool:
        answers.append(await signed_post(server.port, timeout_s=5))
        return answers[-1].status_code == status

    await eventually(lambda: answered(503))  # once the server has read what the three sent
    busy = answers[-1]
    assert busy.headers["retry-after"] == "1"
    assert "BRIDGE_MAX_PENDING_BODY_BYTES" in busy.json()["error"]
    for _, writer in held:
        writer.close()
    await eventually(lambda: answered(200))  # given back with their connections
    assert {a.status_code for a in answers} <= {200, 503}, [a.text for a in answers]
