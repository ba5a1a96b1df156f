"""Workers: claim due batches under a lease, call the action, record the outcome, raise alerts.

One dispatch loop per process claims for every configured action as long as that action has a
free slot (fifo: one call in flight; `ordering: none`: up to `concurrency`), then sleeps until
the earliest known due time, a new job (the store's listener), a finished call, or `poll_s`
(jobs written by another process). Leases (twice the per-attempt timeout, plus 5 s) outlive
any attempt, so a live worker never loses a job, and a dead worker's jobs come back when their
lease expires.

Stopping (SIGTERM reaches `stop()` through the app's lifespan): no new claims; in-flight calls
get `grace_s` to finish; the rest are cancelled and their batches released unattempted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from bridge import logformat, metrics
from bridge.actions.base import Action
from bridge.delivery import alerts, attempting, fifo
from bridge.delivery.clock import SystemClock
from bridge.delivery.model import Batch, Claim, ClaimPolicy, Episode, Outcome
from bridge.delivery.store import Store, StoreUnavailable

log = logging.getLogger("bridge.delivery.workers")

# A lease outlives an attempt (bounded by its timeout) and the recording of its outcome.
LEASE_MARGIN_S = 5.0
# fifo: one claim takes up to this many jobs from the head (one commit), called one after the
# other; a job after a failure, or whose lease would not outlive its attempt, is given back.
FIFO_PREFETCH = 64
# none: claim when at least this share of the concurrency is free, so that one claim (one
# commit) starts several calls instead of one per finished call.
REFILL_SHARE = 4
DEFAULT_GRACE_S = 10.0
# An outcome that meets an unavailable store (PostgreSQL restarting, the SQLite write lock held
# past its busy timeout) is recorded again this often while the batch's lease lasts. Given up at
# once, a call that succeeded during a database restart held its fifo action for the rest of
# the lease (2 x timeout + 5 s: 125 s by default) and was then called again.
RECORD_RETRY_S = 0.5
DISPATCH_TASK = "bridge-dispatch"


class DeliveryRuntime(Protocol):
    """What workers need from the app's runtime (bridge.runtime.Runtime satisfies it).

    `config` and `resolve` are read at every claim, so a reloaded config applies at once.
    """

    @property
    def store(self) -> Store | None: ...

    @property
    def config(self) -> Any: ...  # bridge.config.Config: actions, alerts, alert_failing_for_s

    def resolve(self, action_name: str) -> Action[Any]: ...


def claim_policy(settings: Any) -> ClaimPolicy:
    """From an action's DeliverySettings."""
    in_order = settings.ordering == "fifo"
    return ClaimPolicy(
        ordering="fifo" if in_order else "none",
        concurrency=1 if in_order else max(1, settings.concurrency),
        debounce_s=settings.debounce_s,
        max_wait_s=settings.max_wait_s,
        lease_s=2 * settings.timeout_s + LEASE_MARGIN_S,
        prefetch=FIFO_PREFETCH if in_order else 1,
    )


class WorkerPool:
    def __init__(
        self,
        runtime: DeliveryRuntime,
        *,
        worker_id: str | None = None,
        poll_s: float = 1.0,
        grace_s: float = DEFAULT_GRACE_S,
        prune_every_s: float = 3600.0,
    ) -> None:
        self.runtime = runtime
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.prune_every_s = prune_every_s
        self._wake = asyncio.Event()
        self._stopping = False
        self._inflight: dict[asyncio.Task[Any], Batch] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # fifo actions whose head waits for its retry: not claimed again before this time.
        self._head_waits: dict[str, float] = {}
        self._queue_changes = 0
        # actions with an outcome waiting for the store to be back (_record_while_leased)
        self._store_waits: dict[str, int] = {}

    @property
    def store(self) -> Store:
        store = self.runtime.store
        if store is None:
            raise RuntimeError("runtime has no store")
        return store

    async def start(self) -> None:
        self.store.add_listener(self._wake.set)
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name=DISPATCH_TASK),
            asyncio.create_task(self._prune_loop(), name="bridge-prune"),
        ]

    async def stop(self, grace_s: float | None = None) -> None:
        """Finish in-flight calls within the grace period; release what is left; return."""
        self._stopping = True
        self._wake.set()
        # The dispatch loop is not cancelled mid-claim (that could leave claimed jobs unstarted
        # until their lease ran out): it sees `_stopping` once its current round is done.
        for task in self._tasks:
            if task.get_name() != DISPATCH_TASK:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        inflight = list(self._inflight)
        if inflight:
            _, late = await asyncio.wait(
                inflight, timeout=self.grace_s if grace_s is None else grace_s
            )
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    def in_flight(self) -> list[Batch]:
        return list(self._inflight.values())

    async def drain(self) -> None:
        """Wait until every call in flight has finished and been recorded."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    # -- dispatch ------------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                next_due = await self.dispatch_once()
            except StoreUnavailable as exc:
                log.error("cannot claim jobs: %s; retrying in %.0fs", exc, self.poll_s)
                next_due = None
            except Exception:  # a bug must not stop deliveries for good: log it, try again
                log.exception("delivery dispatch failed; retrying in %.0fs", self.poll_s)
                next_due = None
            await self._sleep_until(next_due)

    async def dispatch_once(self) -> float | None:
        """Claim and start everything due now; returns the earliest known future due time.

        The claims for all actions are issued together, so the store commits them as one group.
        """
        now = self.store.clock.now()
        if self.store.queue_changes != self._queue_changes:  # a retry, reset or enable here
            self._queue_changes = self.store.queue_changes
            self._head_waits.clear()
        wanted = []
        for name, action_config in self.runtime.config.actions.items():
            if not action_config.delivery.enabled:
                continue
            if self._head_waits.get(name, now) > now:
                continue  # its head waits for its retry: new jobs queue behind it (_head_waited)
            policy = claim_policy(action_config.delivery)
            busy = sum(1 for batch in self._inflight.values() if batch.action == name)
            free = policy.concurrency - busy
            if free > 0 and (busy == 0 or free >= max(1, policy.concurrency // REFILL_SHARE)):
                wanted.append((name, action_config, policy))
        # Each claim commits on its own (SQLite retries a failed group one by one): one that
        # fails must not take the others' batches with it, claimed and then never started until
        # their leases expire; with a claim that fails every round, no action would deliver.
        claims = await asyncio.gather(
            *(
                self.store.claim(name, policy, worker_id=self.worker_id)
                for name, _, policy in wanted
            ),
            return_exceptions=True,
        )
        due_times = []
        for (name, action_config, policy), claim in zip(wanted, claims, strict=True):
            if isinstance(claim, BaseException):
                if not isinstance(claim, Exception):
                    raise claim  # cancelled: the loop is stopping
                if isinstance(claim, StoreUnavailable):
                    log.error("cannot claim jobs of action %r: %s", name, claim)
                else:
                    log.error("claiming jobs of action %r failed", name, exc_info=claim)
                continue
            if policy.ordering == "fifo" and len(claim.batches) > 1:
                self._start_in_order(claim.batches, action_config)
            else:
                for batch in claim.batches:
                    self._start(batch, action_config)
            if claim.next_due_at is not None:
                due_times.append(claim.next_due_at)
            self._head_waited(name, policy, claim, now)
        return min([*due_times, *self._head_waits.values()], default=None)

    def _head_waited(self, name: str, policy: ClaimPolicy, claim: Claim, now: float) -> None:
        """After a fifo claim that started nothing because its head's retry is not due: until
        then (or `poll_s`, for a retry another process asked for) the action is not claimed
        again. Every finished call of any action wakes the dispatcher, and each such claim took
        the order lock that every accept for the action waits behind (PostgreSQL: bench/soak.py
        with one target down received 126-201 notifications/s); new jobs queue behind the head
        anyway. A retry, reset or enable through this process's store claims it at once."""
        due = claim.next_due_at
        if policy.ordering == "fifo" and not claim.batches and due is not None and due > now:
            self._head_waits[name] = min(due, now + self.poll_s)
        else:
            self._head_waits.pop(name, None)

    def _start(self, batch: Batch, action_config: Any) -> None:
        task = asyncio.create_task(self._deliver(batch, action_config), name=batch.delivery_id)
        self._inflight[task] = batch
        task.add_done_callback(self._finished)

    def _start_in_order(self, batches: Sequence[Batch], action_config: Any) -> None:
        task = asyncio.create_task(
            self._deliver_in_order(batches, action_config), name=batches[0].delivery_id
        )
        self._inflight[task] = batches[0]
        task.add_done_callback(self._finished)

    async def _deliver_in_order(self, batches: Sequence[Batch], action_config: Any) -> None:
        """A fifo claim of several head units: each called only after the one before it
        succeeded. Successes are recorded without waiting (they commit together, while the
        next call runs); a failure is recorded after them, and the units not called are given
        back, as they are on a stop or when a lease would not outlive the next attempt."""
        task = asyncio.current_task()
        assert task is not None
        recording = fifo.SuccessGroups(self._record)
        left = list(batches)
        enabled = fifo.EnabledCheck(self.store, batches[0].action)
        try:
            while left and not self._stopping:
                batch = left[0]
                if batch.action in self._store_waits:
                    # A success waits for the store: call nothing more until it is recorded
                    # (or given up on, and then called again first).
                    await recording.settle()
                if self.store.clock.now() + action_config.delivery.timeout_s >= batch.lease_until:
                    break
                if not await enabled.still(self.runtime.config):
                    break  # disabled since the claim: the rest is given back, parked
                if recording.broken:
                    break  # a success before went unrecorded: it is called again first
                self._inflight[task] = batch
                outcome = await self._deliver(batch, action_config, recording=recording)
                left.pop(0)
                if outcome is None or outcome.state != "succeeded":
                    break
        finally:
            await asyncio.shield(self._settle(recording, left))

    async def _settle(self, recording: fifo.SuccessGroups, left: list[Batch]) -> None:
        await recording.settle()
        with contextlib.suppress(StoreUnavailable):  # not given back: their leases expire
            await self.store.release(*left)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._inflight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery task failed", exc_info=task.exception())
        self._wake.set()

    async def _sleep_until(self, when: float | None) -> None:
        """Until `when`, a wake-up (new jobs, a finished call) or `poll_s` (other processes)."""
        clock = self.store.clock
        delay = self.poll_s if when is None else max(0.0, when - clock.now())
        if isinstance(clock, SystemClock):  # one timer serves both: the cheap common case
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(delay, self.poll_s))
            return
        waiters = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(clock.sleep(delay)),
            asyncio.ensure_future(asyncio.sleep(self.poll_s)),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # -- one call ------------------------------------------------------------------------------
    async def _deliver(
        self,
        batch: Batch,
        action_config: Any,
        *,
        recording: fifo.SuccessGroups | None = None,
    ) -> Outcome | None:
        """One attempt of `batch`, recorded. With `recording` (a fifo sequence), a success
        joins the sequence's successes; anything else is recorded after them, waiting."""
        try:
            action = self.runtime.resolve(batch.action)
        except LookupError:
            await self.store.release(batch)  # removed by a reload since the claim
            return None
        if self.runtime.config.actions.get(batch.action) != action_config:
            # Reloaded since the claim (a fifo sequence runs for minutes): its options, type,
            # timeout or ordering may differ, and the lease was taken for the old timeout.
            # Given back, the batch is claimed again at once under the config as it is now.
            await self.store.release(batch)
            return None
        # Log lines of this attempt carry the request that created the jobs (own task: no reset).
        logformat.request_id_var.set(batch.jobs[0].request_id if batch.jobs else None)
        logformat.delivery_id_var.set(batch.delivery_id)
        try:
            outcome = await attempting.attempt(
                batch, action, action_config, self.runtime.config, self.store.clock
            )
        except asyncio.CancelledError:
            with contextlib.suppress(StoreUnavailable):
                await asyncio.shield(self.store.release(batch))
            raise
        if recording is not None and outcome.state == "succeeded":
            recording.add(batch, outcome)
        else:
            if recording is not None:  # the action's episode: a failure after the successes
                await recording.settle()
            if recording is None or not recording.broken:
                await self._record(batch, outcome)
        attempting.log_outcome(batch, outcome)
        metrics.attempt_finished(
            batch.action,
            outcome.state,
            outcome.finished_at - outcome.started_at,
            jobs=len(batch.jobs),
        )
        return outcome

    async def _record(self, batch: Batch, outcome: Outcome) -> bool:
        """Record an attempt and raise its alert; False if it was not recorded (the store is
        unavailable, or this worker no longer holds the jobs: its lease ran out)."""
        try:
            episode = await self._record_while_leased(batch, outcome)
        except StoreUnavailable as exc:
            # The lease will expire and the batch run again: at least once, never lost.
            log.error("cannot record delivery %s: %s", batch.delivery_id, exc)
            return False
        try:
            await alerts.after_attempt(self.store, self.runtime.config, batch, outcome, episode)
        except StoreUnavailable as exc:  # the attempt is recorded; only its alert is lost
            log.error("cannot raise the alert for delivery %s: %s", batch.delivery_id, exc)
        return episode.recorded

    async def _record_while_leased(self, batch: Batch, outcome: Outcome) -> Episode:
        """`store.record`, tried again every RECORD_RETRY_S while the store is unavailable and
        the batch's lease lasts (until then no other worker takes the jobs over, so the outcome
        still counts). A record that committed but whose answer was lost finds its jobs no
        longer running when tried again: it does not count a second time."""
        clock, waits = self.store.clock, self._store_waits
        try:
            return await self.store.record(batch, outcome)
        except StoreUnavailable as exc:
            if clock.now() + RECORD_RETRY_S >= batch.lease_until:
                raise
            first = exc
        waits[batch.action] = waits.get(batch.action, 0) + 1  # a fifo run waits for it
        try:
            log.warning(
                "cannot record delivery %s yet: %s; trying again every %.1fs while its lease lasts",
                batch.delivery_id,
                first,
                RECORD_RETRY_S,
            )
            while True:
                await asyncio.sleep(RECORD_RETRY_S)
                try:
                    return await self.store.record(batch, outcome)
                except StoreUnavailable:
                    if clock.now() + RECORD_RETRY_S >= batch.lease_until:
                        raise
        finally:
            waits[batch.action] -= 1
            if not waits[batch.action]:
                del waits[batch.action]

    # -- retention -----------------------------------------------------------------------------
    async def _prune_loop(self) -> None:
        clock = self.store.clock
        while not self._stopping:
            try:
                pruned = await self.store.prune(before=clock.now() - self.store.retention_s)
                if pruned:
                    log.info("pruned %d old job(s) and notification(s)", pruned)
            except StoreUnavailable as exc:
                log.error("cannot prune: %s", exc)
            await clock.sleep(self.prune_every_s)
