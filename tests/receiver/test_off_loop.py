"""A multi-MB body is verified, decoded and planned in a worker thread: health checks and other
requests are answered meanwhile. Small bodies, the hot path, stay on the loop's thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bridge.payloads import parse_body
from bridge.receiver import webhooks
from tests.receiver.conftest import SEED, URL, Client, signed


@pytest.fixture
def parse_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread each parse_body call of the receiver ran in."""
    threads: list[int] = []

    def recording(body: bytes, webhook: str | None = None) -> Any:
        threads.append(threading.get_ident())
        return parse_body(body, webhook)

    monkeypatch.setattr(webhooks, "parse_body", recording)
    return threads


async def test_small_bodies_are_parsed_inline(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes], parse_threads: list[int]
) -> None:
    body = payload_bytes(SEED)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200
    assert parse_threads == [threading.get_ident()]


async def test_a_large_body_does_not_stall_the_loop(
    client_for: Client, seed_batch: Callable[[int], bytes], parse_threads: list[int]
) -> None:
    client = await client_for()
    body = seed_batch(10_000)  # about 4.5 MB, under the 5 MiB limit
    assert len(body) > 4_000_000
    started = time.perf_counter()
    parse_body(body, "production")  # what the loop would be held for, on this machine, now
    inline_s = time.perf_counter() - started

    gaps: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)  # in-process requests need not suspend: let others run
            health = await client.get("/healthz")
            assert health.status_code == 200
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    probing = asyncio.create_task(probe())
    response = await client.post(URL, content=body, headers=signed(body))
    done.set()
    await probing
    assert response.json() == {"accepted": 10_000, "duplicates": 0, "jobs": 10_000}
    assert parse_threads and threading.get_ident() not in parse_threads
    # Health checks kept being answered: no wait near what parsing inline takes.
    assert len(gaps) >= 5
    assert max(gaps) < inline_s / 2, (max(gaps), inline_s)
