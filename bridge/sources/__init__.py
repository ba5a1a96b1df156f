"""Sources the bridge polls instead of (or besides) receiving webhooks: Kontent.ai's Sync API.

`start_sources(runtime, clock)` starts one poller per enabled source in the runtime's config and
returns the coroutine function that stops them. A source a reload adds is started within
`RECHECK_S`; one it removes or disables stops itself at its poller's next wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from bridge.delivery.clock import Clock
from bridge.sources.sync import CycleResult, SourceRuntime, SyncPoller

__all__ = ["CycleResult", "Sources", "SyncPoller", "start_sources"]

log = logging.getLogger("bridge.sources")

RECHECK_S = 5.0


class Sources:
    """The running pollers of one process, kept in step with the current config."""

    def __init__(self, runtime: SourceRuntime, clock: Clock, *, owner: str | None = None) -> None:
        self.runtime = runtime
        self.clock = clock
        # One owner id per process: its pollers' leases say which replica holds them.
        self.owner = owner or uuid.uuid4().hex[:12]
        self.pollers: dict[str, SyncPoller] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}  # running pollers by source name
        self._stop = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.refresh()
        self._supervisor = asyncio.create_task(self._supervise(), name="bridge-sources")

    async def stop(self) -> None:
        self._stop.set()
        tasks = [t for t in [self._supervisor, *self.tasks.values()] if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RECHECK_S)
            if not self._stop.is_set():
                self.refresh()

    def refresh(self) -> None:
        """Start pollers for sources the current config added (a removed one stops itself)."""
        wanted = {s.name for s in self.runtime.config.sources if s.enabled}
        for name, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[name]
        for name in sorted(wanted - set(self.tasks)):
            poller = self.pollers.get(name) or SyncPoller(
                self.runtime, name, self.clock, owner=self.owner
            )
            self.pollers[name] = poller
            self.tasks[name] = asyncio.create_task(self._run(poller), name=f"source-{name}")
            log.info("source %r: polling the Sync API", name)

    async def _run(self, poller: SyncPoller) -> None:
        try:
            await poller.run(self._stop)
        except Exception:  # a bug in one poller must not stop the others, nor go unnoticed
            log.exception("source %r: poller stopped by an unexpected error", poller.name)


async def start_sources(runtime: SourceRuntime, clock: Clock) -> Callable[[], Awaitable[None]]:
    """Start the configured sources' pollers; returns the coroutine function that stops them."""
    sources = Sources(runtime, clock)
    sources.start()
    return sources.stop
