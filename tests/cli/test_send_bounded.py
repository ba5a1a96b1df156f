"""`bridge send` reads at most READ_LIMIT_BYTES of the answer, as every read of the bridge does:
it read a 600 MB answer whole (1.3 GB of memory) and printed it. A real server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bridge.cli import main
from bridge.httpread import READ_LIMIT_BYTES

pytestmark = pytest.mark.timeout(60)

SEED = Path(__file__).parents[1] / "payloads/current/content_item_published_published.json"
ENDLESS_BYTES = 1 << 30  # what the server would send if it were read to the end


class Endless:
    def __init__(self) -> None:
        self.sent = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        chunk = b"z" * (1 << 16)
        try:
            while self.sent < ENDLESS_BYTES:
                await response.write(chunk)
                self.sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client closed: what it did not read was never sent
        return response


@pytest.fixture
async def endless() -> AsyncIterator[Endless]:
    server = Endless()
    app = web.Application()
    app.router.add_post("/hook", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield server
    await runner.cleanup()


async def test_send_reads_the_start_of_an_endless_answer(
    capsys: pytest.CaptureFixture[str], endless: Endless
) -> None:
    argv = ["send", endless.url, str(SEED), "--secret", "s"]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "HTTP 200"
    assert lines[1] == "z" * READ_LIMIT_BYTES
    assert lines[2] == f"(the answer is longer: only its first {READ_LIMIT_BYTES} bytes were read)"
    assert endless.sent < 64 << 20  # the connection was closed, not drained
