"""Real processes: `bridge serve` killed with SIGKILL mid-burst loses nothing it acknowledged.

2,000 signed notifications from concurrent senders; the server is killed after a few hundred
200s, restarted, and the notifications that got no answer are sent again (as Kontent.ai would).
Every notification must reach the local HTTP sink; a notification delivered twice can only be
one whose call was in flight at the kill, and both deliveries carry the same Idempotency-Key.

The processes, the sink and the senders are the replica test's (tests/replicas/harness.py),
here with one SQLite-backed server.
"""

from __future__ import annotations

import asyncio
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.replicas.harness import (
    WEBHOOK_PATH,
    Replica,
    SendResult,
    Sink,
    send_all,
    start_replica,
    wait_ready,
)

pytestmark = pytest.mark.slow

TOTAL = 2000
KILL_AFTER = 500
SENDERS = 16
CONCURRENCY = 4


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    recorder = Sink()
    await recorder.start()
    yield recorder
    await recorder.stop()


def write_config(directory: Path, sink_url: str) -> Path:
    path = directory / "rules.yaml"
    path.write_text(
        f"""\
version: 1
webhooks:
  - {{name: production, path: {WEBHOOK_PATH}, secrets: ["${{KONTENT_WEBHOOK_SECRET}}"]}}
actions:
  sink:
    type: http
    url: "{sink_url}/hook"
    ordering: none
    concurrency: {CONCURRENCY}
    timeout: 2s
rules:
  - name: everything-published
    when: {{object_type: content_item, action: published}}
    do: [sink]
"""
    )
    return path


async def start(tmp_path: Path, index: int, session: aiohttp.ClientSession) -> Replica:
    db_url = f"sqlite:///{tmp_path}/bridge.db"
    replica = await start_replica(db_url, tmp_path / "rules.yaml", tmp_path, index)
    await wait_ready(replica, session)
    return replica


async def test_sigkill_mid_burst_loses_no_acknowledged_notification(
    tmp_path: Path, sink: Sink
) -> None:
    write_config(tmp_path, sink.url)
    result = SendResult()
    connector = aiohttp.TCPConnector(limit=SENDERS)
    async with aiohttp.ClientSession(connector=connector) as session:
        first = await start(tmp_path, 0, session)
        try:
            burst = asyncio.ensure_future(
                send_all(session, [first.webhook], range(TOTAL), concurrency=SENDERS, result=result)
            )
            await result.wait_ok(KILL_AFTER, burst)
            first.kill()
            await burst
        finally:
            first.kill()
            await first.process.wait()
        acknowledged_before_kill = result.ok()
        assert KILL_AFTER <= len(acknowledged_before_kill) < TOTAL

        second = await start(tmp_path, 1, session)
        try:
            unanswered = [n for n in range(TOTAL) if n not in result.ok()]
            await send_all(
                session, [second.webhook], unanswered, concurrency=SENDERS, result=result
            )
            assert len(result.ok()) == TOTAL
            assert await sink.wait_for("/hook", range(TOTAL), timeout_s=90) == set()
        finally:
            await second.stop()
        # uvicorn re-raises SIGTERM after a clean shutdown, hence -15 rather than 0.
        assert second.process.returncode in (0, -signal.SIGTERM)

    delivered: dict[int, list[str]] = defaultdict(list)
    for call in sink.on("/hook"):
        for n in call.ns:
            delivered[n].append(call.key)
    assert acknowledged_before_kill <= set(delivered)
    assert len(delivered) == TOTAL
    twice = {n: keys for n, keys in delivered.items() if len(keys) > 1}
    assert len(twice) <= CONCURRENCY, f"more repeats than calls in flight: {twice}"
    assert all(len(set(keys)) == 1 for keys in twice.values()), twice
