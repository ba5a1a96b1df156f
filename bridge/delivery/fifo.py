"""A fifo sequence's two helpers: whether its action may still be called, and its successes
recorded in groups, in order.

A fifo claim takes a run of jobs from the head of the queue (workers.FIFO_PREFETCH) and the
worker calls them one after another; these keep that run to the order and the enabled flag.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bridge.delivery.model import Batch, Outcome
from bridge.delivery.store import Store, StoreUnavailable

log = logging.getLogger("bridge.delivery.workers")  # the workers' log: these run in them

# A sequence's successes are recorded together, once this many are waiting or the
# oldest has waited this long: one commit for several calls instead of one each (a call takes
# well under a millisecond on a fast target, a commit's fsync about as long). Until then a crash
# repeats them, in order, with the same delivery ids, as it repeats any unrecorded call.
FIFO_RECORD_EVERY = 32
FIFO_RECORD_AFTER_S = 0.01
# A sequence reads the action's enabled flag again this often (and at once after a
# disable in this process), so a `bridge disable` from another process stops it within about
# this long rather than after the rest of its claim.
FIFO_ENABLED_RECHECK_S = 0.25


class EnabledCheck:
    """Whether a fifo sequence's action may still be called: enabled in the config as it is now
    (a reload) and in the store (the dashboard, `bridge disable` in any process). The claim
    found it enabled; the store's flag is read again after a disable made through this store,
    and otherwise every FIFO_ENABLED_RECHECK_S."""

    def __init__(self, store: Store, action: str) -> None:
        self._store = store
        self._action = action
        self._changes = store.enabled_changes
        self._read_at = store.clock.now()

    async def still(self, config: Any) -> bool:
        action_config = config.actions.get(self._action)
        if action_config is None or not action_config.delivery.enabled:
            return False
        now = self._store.clock.now()
        changed = self._store.enabled_changes != self._changes
        if not changed and now - self._read_at < FIFO_ENABLED_RECHECK_S:
            return True
        self._changes, self._read_at = self._store.enabled_changes, now
        try:
            return await self._store.is_enabled(self._action)
        except StoreUnavailable:
            return True  # the calls' own records will meet the outage; order is kept


class SuccessGroups:
    """A fifo sequence's successes, recorded in groups (FIFO_RECORD_EVERY, _AFTER_S).

    `broken` once one could not be recorded: that job stays running until its lease expires
    and is then called again, so nothing after it may be recorded (nor called) in this run,
    or the target would get the earlier job after the later ones."""

    def __init__(self, record: Callable[[Batch, Outcome], Coroutine[Any, Any, bool]]) -> None:
        self._record = record
        self._waiting: list[tuple[Batch, Outcome]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._last: asyncio.Task[None] | None = None  # the latest group's write
        self.broken = False

    def add(self, batch: Batch, outcome: Outcome) -> None:
        self._waiting.append((batch, outcome))
        if len(self._waiting) >= FIFO_RECORD_EVERY:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FIFO_RECORD_AFTER_S, self._flush)

    def _flush(self) -> None:
        """Record what waits; issued together, the records share one commit."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._waiting = self._waiting, []
        if group:
            self._last = asyncio.create_task(self._write(group, self._last))

    async def _write(self, group: list[tuple[Batch, Outcome]], before: Any) -> None:
        """After the group before it: nothing is recorded past a success that was not."""
        if before is not None:
            await asyncio.wait([before])
        if self.broken:
            return
        done = await asyncio.gather(
            *(self._record(batch, outcome) for batch, outcome in group), return_exceptions=True
        )
        for result in done:
            if isinstance(result, BaseException):  # a bug: StoreUnavailable is a False
                log.error("cannot record a fifo success", exc_info=result)
        if not all(result is True for result in done):
            self.broken = True

    async def settle(self) -> None:
        """Every success recorded (or given up on: its lease expires, it runs again)."""
        self._flush()
        if self._last is not None:
            await asyncio.wait([self._last])
