"""Shared by the source tests: the rules of a polled source, the clocks a poller is driven
by, and reading back the jobs a poll made (fixtures built from these: conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bridge.delivery.clock import ManualClock, SystemClock
from bridge.delivery.store import Store
from bridge.sources import CycleResult, SyncPoller
from tests.fakes.sync import FakeSync, item_system

ENV = "8d6f0e47-3a5b-4c1d-9e2f-0a1b2c3d4e5f"
SECRET = "webhook-secret"


def rules(
    sync_url: str, sink_url: str = "http://127.0.0.1:9/unused", slot: str = "published"
) -> str:
    return f"""\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["{SECRET}"]
kontent:
  environments:
    "{ENV}": {{preview_api_key: preview-key}}
sources:
  - name: prod
    environment_id: "{ENV}"
    slot: {slot}
    interval: 1s
    api_url: "{sync_url}"
actions:
  sink: {{type: http, url: "{sink_url}"}}
rules:
  - name: content
    when: {{object_type: content_item}}
    do: [sink]
"""


class QuickClock(SystemClock):
    """Real time for the store, no waiting in the poller: records what it was asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


MakePoller = Callable[..., Awaitable[SyncPoller]]


class SignallingClock(ManualClock):
    """A ManualClock that says when someone starts waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeping.set()  # the sleeper is registered before this coroutine first yields
        await super().sleep(seconds)

    async def someone_sleeps(self) -> None:
        """Wait until a sleeper is registered and not woken or cancelled yet."""
        while not any(not future.done() for _, _, future in self._sleepers):
            self.sleeping.clear()
            await self.sleeping.wait()


async def jobs_of(store: Store) -> list[tuple[str | None, str | None, str | None]]:
    """(item id, action, webhook) of every job, oldest first."""
    rows = await store.deliveries(limit=1000)
    found = []
    for row in sorted(rows, key=lambda r: r.job_id):
        detail = await store.job(row.job_id)
        assert detail is not None
        event = detail.events[0]
        found.append((event.id, event.action, event.webhook))
    return found


def publish(api: FakeSync, id: str, modified: str = "2026-01-08T13:54:54.3153716Z") -> None:
    api.change(ENV, item_system(id, last_modified=modified))


def noting_claims(store: Store, monkeypatch: Any) -> asyncio.Event:
    """Set each time `store` takes or renews a lease (cleared by the test)."""
    claimed = asyncio.Event()
    real_claim = store.claim_source

    async def noting(*args: Any, **kwargs: Any) -> Any:
        state = await real_claim(*args, **kwargs)
        claimed.set()
        return state

    monkeypatch.setattr(store, "claim_source", noting)
    return claimed


def noting_cycles(poller: SyncPoller, monkeypatch: Any) -> asyncio.Event:
    """Set when one of the poller's cycles has ended, and with it the lease renewal that ran
    beside it (cancelled before this task runs on): from then on, the poller's only sleep on
    its clock is its wait for the next cycle."""
    cycled = asyncio.Event()
    real_cycle = poller.cycle

    async def noting_cycle() -> CycleResult:
        result = await real_cycle()
        cycled.set()
        return result

    monkeypatch.setattr(poller, "cycle", noting_cycle)
    return cycled
