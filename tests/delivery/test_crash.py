"""Real processes: `bridge serve` killed with SIGKILL mid-burst loses nothing it acknowledged.

2,000 signed notifications from concurrent senders; the server is killed after a few hundred
200s, restarted, and the notifications that got no answer are sent again (as Kontent.ai would).
Every notification must reach the local HTTP sink; a notification delivered twice can only be
one whose call was in flight at the kill, and both deliveries carry the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bridge.signatures import sign

pytestmark = pytest.mark.slow

SECRET = "s3cret"
TOTAL = 2000
KILL_AFTER = 500
SENDERS = 16
CONCURRENCY = 4


class Sink:
    """The delivery target: records each event id with the Idempotency-Key it came with."""

    def __init__(self) -> None:
        self.deliveries: dict[str, list[str]] = defaultdict(list)
        self.everything = asyncio.Event()
        self.expected = TOTAL

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers["Idempotency-Key"]
        for event in body["events"]:
            self.deliveries[event["id"]].append(key)
        if len(self.deliveries) >= self.expected:
            self.everything.set()
        return web.json_response({"ok": True})


@pytest.fixture
async def sink() -> AsyncIterator[tuple[Sink, int]]:
    recorder = Sink()
    app = web.Application()
    app.router.add_post("/hook", recorder.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield recorder, port
    await runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payload(n: int) -> bytes:
    system = {"id": f"id-{n}", "name": f"Item {n}", "codename": f"item_{n}", "type": "article"}
    message = {
        "environment_id": "env",
        "object_type": "content_item",
        "action": "published",
        "delivery_slot": "published",
    }
    return json.dumps(
        {"notifications": [{"data": {"system": system}, "message": message}]}
    ).encode()


def start_bridge(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BRIDGE_CONFIG": str(tmp_path / "rules.yaml"),
        "BRIDGE_DB": f"sqlite:///{tmp_path}/bridge.db",
        "BRIDGE_HOST": "127.0.0.1",
        "BRIDGE_PORT": str(port),
        "BRIDGE_LOG_LEVEL": "warning",
        "BRIDGE_LOG_FORMAT": "text",
    }
    bridge = Path(sys.executable).parent / "bridge"
    log = (tmp_path / "bridge.log").open("ab")
    return subprocess.Popen([str(bridge), "serve"], env=env, stdout=log, stderr=log)


async def wait_ready(
    session: aiohttp.ClientSession, base: str, process: subprocess.Popen[bytes]
) -> None:
    for _ in range(300):
        assert process.poll() is None, "bridge exited during start-up"
        try:
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)  # a process we do not control: polling is the only signal
    raise AssertionError("bridge did not become ready")


async def send_all(
    session: aiohttp.ClientSession,
    base: str,
    numbers: list[int],
    acknowledged: set[int],
    kill: asyncio.Event | None,
) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)

    async def sender() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            body = payload(n)
            headers = {
                "X-Kontent-ai-Signature": sign(body, SECRET),
                "Content-Type": "application/json",
            }
            try:
                async with session.post(
                    f"{base}/webhooks/kontent", data=body, headers=headers
                ) as r:
                    if r.status == 200:
                        acknowledged.add(n)
                        if kill is not None and len(acknowledged) >= KILL_AFTER:
                            kill.set()
            except aiohttp.ClientError:
                pass  # the server is gone: no 200, so Kontent.ai would send it again

    await asyncio.gather(*(sender() for _ in range(SENDERS)))


async def test_sigkill_mid_burst_loses_no_acknowledged_notification(
    tmp_path: Path, sink: tuple[Sink, int]
) -> None:
    recorder, sink_port = sink
    (tmp_path / "rules.yaml").write_text(
        f"""\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["{SECRET}"]}}
actions:
  sink:
    type: http
    url: "http://127.0.0.1:{sink_port}/hook"
    ordering: none
    concurrency: {CONCURRENCY}
    timeout: 2s
rules:
  - name: everything-published
    when: {{object_type: content_item, action: published}}
    do: [sink]
"""
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acknowledged: set[int] = set()
    connector = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        first = start_bridge(tmp_path, port)
        try:
            await wait_ready(session, base, first)
            kill = asyncio.Event()
            sending = asyncio.create_task(
                send_all(session, base, list(range(TOTAL)), acknowledged, kill)
            )
            await kill.wait()
            first.send_signal(signal.SIGKILL)
            await sending
        finally:
            first.kill()
            first.wait()
        acknowledged_before_kill = set(acknowledged)
        assert KILL_AFTER <= len(acknowledged_before_kill) < TOTAL

        second = start_bridge(tmp_path, port)
        try:
            await wait_ready(session, base, second)
            unanswered = [n for n in range(TOTAL) if n not in acknowledged]
            await send_all(session, base, unanswered, acknowledged, None)
            assert len(acknowledged) == TOTAL
            await asyncio.wait_for(recorder.everything.wait(), timeout=90)
        finally:
            second.send_signal(signal.SIGTERM)
            # uvicorn re-raises SIGTERM after a clean shutdown, hence -15 rather than 0.
            assert second.wait(timeout=30) in (0, -signal.SIGTERM)

    delivered = recorder.deliveries
    assert {f"id-{n}" for n in acknowledged_before_kill} <= set(delivered)
    assert len(delivered) == TOTAL
    twice = {event_id: keys for event_id, keys in delivered.items() if len(keys) > 1}
    assert len(twice) <= CONCURRENCY, f"more repeats than calls in flight: {twice}"
    assert all(len(set(keys)) == 1 for keys in twice.values()), twice
