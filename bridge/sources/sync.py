"""The Sync API poller: one per configured source, feeding the same rules and delivery as the
receiver (`engine.plan` + `store.accept`, under the webhook name `sync:<source>`).

A cycle takes the source's lease in the store, resumes from the stored continuation token (or
initialises a synchronisation when there is none, or it was made for another environment, slot
or API), then fetches pages until one is empty. Each page is accepted before its token is
saved: a crash in between fetches the page again, and its notifications are then recognised
(same content key, and not newer than what is stored), so nothing is skipped or repeated. A
page with deltas whose token the poll already had (the one it was asked with, or an earlier
one) would be fetched again and again: the poll stops there as failed (`token_repeated`).
A token Kontent.ai rejects (`token_rejected`: it expired, or the environment was reset) is
dropped and the next poll initialises a new synchronisation; the failure's message says so and
from when changes were not polled.

Replicas share the lease: only its holder polls; it renews the lease at every page, every third
of a lease while a cycle runs (a request may take longer than a lease) and while it waits; a
replica that dies leaves the lease to expire and another one resumes from the token.

Reconciliation: before accepting a delta, the store is asked for every other webhook's latest
notification about the object (same language and slot). A change whose `last_modified` is not
newer than one of them was delivered by that webhook and is skipped. A deletion needs more:
Kontent.ai keeps the item's last content change as `last_modified` on an unpublish, so the
webhook's publish of that version looks the same; a deletion is skipped only when such a
notification was also received after the deletion happened (the delta's `timestamp`, give or
take `CLOCK_SKEW_S`). This source's own notifications are not consulted: its token moves past
them, and a page fetched again is recognised by the content keys of its notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from bridge import metrics
from bridge.delivery.clock import Clock
from bridge.delivery.store import Store, StoreUnavailable
from bridge.events import Notification
from bridge.sources import deltas, status
from bridge.sources.client import (
    DELIVERY_SYNC_URL,
    MIN_INTERVAL_S,
    PREVIEW_SYNC_URL,
    Stopped,
    SyncClient,
    SyncError,
)

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.config.model import SourceConfig
    from bridge.rules import RuleEngine

log = logging.getLogger("bridge.sources")

LEASE_S = 30.0
MAX_BACKOFF_S = 300.0
MAX_PAGES_PER_CYCLE = 10_000  # a runaway API (never an empty page) still yields the loop
DELETIONS = frozenset({"unpublished", "deleted"})
# How far Kontent.ai's clock (delta timestamps) and ours (received_at) may disagree.
CLOCK_SKEW_S = 5.0


class SourceRuntime(Protocol):
    """What a poller needs from the app's runtime (bridge.runtime.Runtime satisfies it)."""

    @property
    def store(self) -> Store | None: ...

    @property
    def config(self) -> Config: ...

    @property
    def engine(self) -> RuleEngine: ...

    @property
    def http(self) -> aiohttp.ClientSession: ...


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What one cycle did; `held` is False when another replica holds the lease."""

    held: bool
    pages: int = 0
    deltas: int = 0
    skipped: int = 0  # already delivered (by a webhook, or by an earlier fetch of the page)
    accepted: int = 0
    jobs: int = 0
    initialised: bool = False
    error: str | None = None
    reason: str | None = None  # the error's kind (answers.Reason, or store_unavailable)
    retry_after_s: float | None = None  # the failed answer's Retry-After
    stopped: bool = False  # the source was stopping: the cycle gave up its request


def scope_of(source: SourceConfig) -> str:
    """What a token belongs to: a change of environment, slot or API starts a new sync."""
    return f"{source.environment_id}|{source.slot}|{base_url(source)}"


def base_url(source: SourceConfig) -> str:
    if source.api_url:
        return source.api_url
    return PREVIEW_SYNC_URL if source.slot == "preview" else DELIVERY_SYNC_URL


def api_key(source: SourceConfig) -> str | None:
    """Preview needs the preview key; published content the secure-access key, if enabled."""
    return source.preview_api_key if source.slot == "preview" else source.secure_access_key


class SyncPoller:
    """Polls one source. `cycle()` is one round (tests drive it); `run()` repeats it."""

    def __init__(
        self,
        runtime: SourceRuntime,
        name: str,
        clock: Clock,
        *,
        owner: str | None = None,
        lease_s: float = LEASE_S,
        min_request_interval_s: float | None = None,
    ) -> None:
        self.runtime = runtime
        self.name = name
        self.clock = clock
        # host:pid:id, as a worker's id: another replica's Sources card names who polls.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = lease_s
        self._min_request_interval_s = (
            MIN_INTERVAL_S if min_request_interval_s is None else min_request_interval_s
        )
        self._client: SyncClient | None = None
        self._client_for: tuple[str, str | None] | None = None
        self._stop: asyncio.Event | None = None  # run()'s: set, requests and waits end at once
        self._renewal: asyncio.Future[bool] | None = None  # the last renewal during a cycle
        self.failures = 0  # cycles in a row that ended in an error

    @property
    def source(self) -> SourceConfig | None:
        """This source in the current config (None once a reload removed it)."""
        return next((s for s in self.runtime.config.sources if s.name == self.name), None)

    async def cycle(self) -> CycleResult:
        source, store = self.source, self.runtime.store
        if source is None or store is None:
            return CycleResult(held=False, error="source or store missing")
        try:
            result = await self._cycle(source, store)
        except Stopped:
            return CycleResult(held=True, stopped=True)  # the next holder asks again
        except StoreUnavailable as exc:
            log.warning("source %r: store unavailable, will retry: %s", self.name, exc)
            result = CycleResult(held=True, error=str(exc), reason="store_unavailable")
        except SyncError as exc:
            result = await self._failed(source, store, exc)
        self.failures = self.failures + 1 if result.error else 0
        status.cycled(self.name, result, self.failures, owner=self.owner)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle every `interval` while holding the lease (renewing it during each cycle and
        while waiting); without the lease, try again every third of a lease, to take over soon
        after its holder died. `stop` ends a request or wait in progress at once."""
        self._stop = stop
        next_cycle = self.clock.now()
        holding = False
        try:
            while not stop.is_set():
                source = self.source
                if source is None or not source.enabled:
                    break
                if not holding or self.clock.now() >= next_cycle:
                    result = await self._renewing(self.cycle())
                    holding = result.held
                    next_cycle = self.clock.now() + self._wait_s(source, result)
                elif not await self._renew():
                    holding = False
                step = self.lease_s / 3
                wait_s = max(0.0, min(step, next_cycle - self.clock.now()) if holding else step)
                await _wait(self.clock, stop, wait_s)
        finally:
            await self._release()

    async def _renewing(self, cycle: Awaitable[CycleResult]) -> CycleResult:
        """`cycle`, renewing the lease every third of a lease while it runs: one request may
        take up to REQUEST_TIMEOUT_S and a 429 up to MAX_RETRY_AFTER_S, both longer than a
        lease, and a lapsed lease let another replica poll the same token meanwhile."""
        renewer = asyncio.ensure_future(self._keep_lease())
        try:
            return await cycle
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)

    async def _keep_lease(self) -> None:
        while True:
            await self.clock.sleep(self.lease_s / 3)
            # Shielded: the cycle's end cancels the sleep, never a write in flight (which
            # _release waits for, so that it cannot take the lease back after the release).
            self._renewal = asyncio.ensure_future(self._renew())
            await asyncio.shield(self._renewal)

    async def _cycle(self, source: SourceConfig, store: Store) -> CycleResult:
        state = await store.claim_source(self.name, owner=self.owner, lease_s=self.lease_s)
        if state is None:
            return CycleResult(held=False)
        status.lease(self.name, held=True, owner=self.owner)  # polling here from now on
        client = self._client_of(source)
        scope, token, initialised = scope_of(source), state.token, False
        if token is None or state.scope != scope:
            token, initialised = await client.init(), True
            log.info("source %r: initialised a synchronisation of %s", self.name, scope)
            if not await self._save(store, scope, token):
                return CycleResult(held=False, initialised=True)
        totals = [0, 0, 0, 0, 0]  # pages, deltas, skipped, accepted, jobs
        held = True
        tokens = {token}  # every token this poll was answered (a repeat would go round again)
        repeated: str | None = None
        for _ in range(MAX_PAGES_PER_CYCLE):
            page = await client.sync(token)
            totals[0] += 1
            if not page.empty:
                counts = await self._ingest(source, store, page.deltas)
                totals[1:] = [a + b for a, b in zip(totals[1:], counts, strict=True)]
            held = await self._save(store, scope, page.token)
            if not page.empty and page.token in tokens:
                repeated = _repeated(page.token == token, totals[0], len(tokens))
                break
            tokens.add(page.token)
            token = page.token
            if page.empty or not held:
                break
        pages, found, skipped, accepted, jobs = totals
        if repeated is not None:
            log.error("source %r: %s", self.name, repeated)
            return CycleResult(
                held, pages, found, skipped, accepted, jobs, initialised, repeated, "token_repeated"
            )
        if found:
            log.info(
                "source %r: %d change(s) in %d page(s): %d accepted, %d already delivered, "
                "%d job(s)",
                self.name,
                found,
                pages,
                accepted,
                skipped,
                jobs,
            )
        return CycleResult(held, pages, found, skipped, accepted, jobs, initialised)

    async def _ingest(
        self, source: SourceConfig, store: Store, page: Mapping[str, list[dict[str, Any]]]
    ) -> tuple[int, int, int, int]:
        """Accept a page's new notifications; returns (deltas, skipped, accepted, jobs)."""
        found = list(
            deltas.notifications(
                page,
                webhook=source.webhook,
                environment_id=source.environment_id,
                slot=source.slot,
            )
        )
        fresh = [n for n in found if await self._not_delivered(store, source.webhook, n)]
        if not fresh:
            return len(found), len(found), 0, 0
        jobs = await self.runtime.engine.plan_async(fresh)
        request_id = f"sync-{self.name}-{uuid.uuid4().hex[:12]}"
        result = await store.accept(fresh, jobs, request_id=request_id)
        metrics.notifications_received([e for n in fresh for e in n.events])
        skipped = len(found) - len(fresh) + result.duplicates
        return len(found), skipped, result.accepted, result.jobs

    async def _not_delivered(self, store: Store, webhook: str, notification: Notification) -> bool:
        """False when another webhook already delivered this change (this source's own earlier
        notifications need no check: the token moves past them, and a page fetched again is
        recognised by its content key)."""
        event = notification.events[0]
        if event.id is None:
            return True
        versions = await store.object_versions(event.id, event.language, event.delivery_slot)
        seen = [
            v
            for v in versions
            if v.webhook != webhook and not deltas.is_newer(event.last_modified, v.last_modified)
        ]
        if event.action not in DELETIONS:
            return not seen
        # Kontent.ai keeps the item's last content change as last_modified on an unpublish, so
        # a webhook's publish of that version looks the same: only a notification received
        # after the deletion happened can have been about it.
        happened = deltas.epoch_s(notification.raw.get("timestamp"))
        if happened is None:
            return not seen
        return not any(v.received_at >= happened - CLOCK_SKEW_S for v in seen)

    async def _failed(self, source: SourceConfig, store: Store, exc: SyncError) -> CycleResult:
        error = str(exc)
        if exc.reason == "token_rejected":
            # The API no longer knows the token: the only way on is a new synchronisation
            # (sync/init), as at the start. Changes between the last page and the new init are
            # not polled: the message, which the card, the banner and the admin API keep, says so.
            error = f"{error}; {_resynchronising(status.current().state(self.name))}"
            log.error("source %r: %s", self.name, error)
            await self._save(store, scope_of(source), None)
        elif exc.permanent:
            log.error("source %r: %s", self.name, exc)
        else:
            log.warning("source %r: %s; will retry", self.name, exc)
        return CycleResult(
            held=True, error=error, reason=exc.reason, retry_after_s=exc.retry_after_s
        )

    def _wait_s(self, source: SourceConfig, result: CycleResult) -> float:
        if result.error is None or not result.held:
            return source.interval_s
        # Failing: back off 1, 2, 4 ... seconds, never longer than the interval or 5 minutes,
        # and never sooner than a failed answer's Retry-After asks (within the same 5 minutes).
        backoff_s = min(source.interval_s, MAX_BACKOFF_S, 2.0 ** min(self.failures - 1, 16))
        if result.retry_after_s is not None:
            backoff_s = max(backoff_s, min(result.retry_after_s, MAX_BACKOFF_S))
        return backoff_s

    async def _save(self, store: Store, scope: str, token: str | None) -> bool:
        held = await store.save_source(
            self.name, owner=self.owner, scope=scope, token=token, lease_s=self.lease_s
        )
        if not held:
            log.warning("source %r: lost the lease to another replica; it continues", self.name)
        return held

    async def _renew(self) -> bool:
        store = self.runtime.store
        if store is None:
            return False
        try:
            state = await store.claim_source(self.name, owner=self.owner, lease_s=self.lease_s)
        except StoreUnavailable:
            return False
        status.lease(self.name, held=state is not None, owner=self.owner)
        return state is not None

    async def _release(self) -> None:
        if self._renewal is not None:
            await asyncio.gather(self._renewal, return_exceptions=True)
        status.lease(self.name, held=False, owner=self.owner)
        store = self.runtime.store
        if store is None:
            return
        with contextlib.suppress(StoreUnavailable):  # the lease expires on its own
            await store.release_source(self.name, owner=self.owner)

    def _client_of(self, source: SourceConfig) -> SyncClient:
        """One client per source, rebuilt when a reload changed its URL or key."""
        wanted = (scope_of(source), api_key(source))
        if self._client is None or self._client_for != wanted:
            self._client = SyncClient(
                self.runtime.http,
                self.clock,
                environment_id=source.environment_id,
                base_url=base_url(source),
                api_key=api_key(source),
                min_interval_s=self._min_request_interval_s,
            )
            self._client_for = wanted
        self._client.stop = self._stop
        return self._client

    @property
    def requests(self) -> int:
        return self._client.requests if self._client is not None else 0


def _repeated(same: bool, page: int, tokens: int) -> str:
    """Why a poll stopped at a page whose token it already had."""
    which = (
        "the continuation token it was asked with"
        if same
        else f"a continuation token it answered earlier in this poll ({tokens} seen)"
    )
    return (
        f"Sync API answered page {page}, which held changes, with {which}: the synchronisation "
        "does not move on (following it fetches the same pages again); the page's changes were "
        "accepted, the poll stops here and is retried with backoff"
    )


def _resynchronising(seen: status.SourceStatus) -> str:
    """What a rejected token means for the operator: the recovery, and which changes it loses."""
    if seen.last_success_at is None:
        since = "since the token was last saved (no poll succeeded in this process)"
    else:
        at = datetime.fromtimestamp(seen.last_success_at, UTC).isoformat(timespec="seconds")
        since = f"since the last successful poll at {at.replace('+00:00', 'Z')}"
    return (
        "Kontent.ai no longer knows the continuation token (it expired, or the environment was "
        "reset): a new synchronisation (sync/init) starts at the next poll, and changes made "
        f"{since} until then are not polled (a webhook, where configured, still delivers them)"
    )


async def _wait(clock: Clock, stop: asyncio.Event, seconds: float) -> None:
    """Sleep on the clock, waking early when `stop` is set."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
