"""Prometheus metrics: what the receiver, the workers and the reloader report, and `/metrics`.

Every metric lives in one `Metrics` object with its own `CollectorRegistry`, so tests (and two
apps in one process) never share counters. The receiver and the workers call the module-level
functions (`notification_received`, `attempt_finished`, ...), which report to the current
`Metrics`; `reset()` installs a fresh one. Queue gauges are not pushed by anyone: the `/metrics`
route (bridge.receiver.metrics_route: no Starlette here, the workers import this module)
refreshes them from `store.action_states()` at scrape time, so they cannot drift.

The registry also holds `bridge_build_info` (which version is running where) and
prometheus_client's process, platform and garbage-collector collectors (`process_*`,
`python_info`, `python_gc_*`), which the default global registry would have given for free.
"""

from __future__ import annotations

import collections
import logging
import platform
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from bridge import __version__
from bridge.kontent import catalog
from bridge.lifecycle import FINAL_ATTEMPT_STATES, AttemptState, is_failure

if TYPE_CHECKING:
    from bridge.events import Event

log = logging.getLogger("bridge.metrics")

# succeeded: the attempt succeeded (the job is done); retrying: it failed and will be retried;
# dead: it failed for good (permanent failure or retries exhausted). bridge/lifecycle.py.
Outcome = AttemptState
HEALTH_STATES = ("ready", "working", "failing", "dead")
LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ActionStateLike(Protocol):
    """The fields of the store's `ActionState` the queue gauges read."""

    @property
    def name(self) -> str: ...
    @property
    def health(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def pending(self) -> int: ...
    @property
    def dead(self) -> int: ...
    @property
    def oldest_pending_age_s(self) -> float | None: ...


class Metrics:
    """All of the bridge's metrics, registered in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        Info("bridge_build", "The running bridge: version and Python.", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self.notifications = Counter(
            "bridge_notifications_received",
            "Events received in verified notifications, by object type, action and webhook.",
            ["webhook", "object_type", "action"],
            registry=r,
        )
        # Each webhook request counts its events: `labels()` (argument checks, a lock) once
        # per series, not per request. The labels are bounded, so the dict is too.
        self.notification_series: dict[tuple[str, str, str], Any] = {}
        self.signature_failures = Counter(
            "bridge_signature_failures",
            "Webhook requests rejected because no secret verified the signature.",
            ["webhook"],
            registry=r,
        )
        self.duplicates = Counter(
            "bridge_duplicate_notifications",
            "Redelivered notifications recognised and not run again.",
            ["webhook"],
            registry=r,
        )
        self.attempts = Counter(
            "bridge_job_attempts",
            "Delivery attempts by outcome: success, retry (failed, will retry), dead.",
            ["action", "outcome"],
            registry=r,
        )
        self.attempt_failures = Counter(
            "bridge_job_attempt_failures",
            "Failed attempts, whether or not the job is retried afterwards.",
            ["action"],
            registry=r,
        )
        self.jobs_finished = Counter(
            "bridge_jobs_finished",
            "Jobs that reached a final state: succeeded or dead (final failure).",
            ["action", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "bridge_action_duration_seconds",
            "Time an action took to answer one attempt.",
            ["action"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.queue_depth = Gauge(
            "bridge_queue_depth", "Jobs pending or running, per action.", ["action"], registry=r
        )
        self.oldest_pending_age = Gauge(
            "bridge_oldest_pending_age_seconds",
            "Age of the oldest pending job per action (0 when none is pending).",
            ["action"],
            registry=r,
        )
        self.dead_jobs = Gauge(
            "bridge_dead_jobs", "Dead jobs kept in the store, per action.", ["action"], registry=r
        )
        self.action_health = Gauge(
            "bridge_action_health",
            "1 for the action's current health state, 0 for the others.",
            ["action", "health"],
            registry=r,
        )
        self.action_enabled = Gauge(
            "bridge_action_enabled", "1 when the action is enabled.", ["action"], registry=r
        )
        self.regex_timeouts = Counter(
            "bridge_regex_timeouts",
            "Regex conditions given up on (out of time, or a value too long to search), by rule: "
            "the rule did not run for that event.",
            ["rule"],
            registry=r,
        )
        self.reload_success = Gauge(
            "bridge_config_last_reload_successful",
            "1 when the last configuration (re)load succeeded, 0 when it was rejected.",
            registry=r,
        )
        self.reload_timestamp = Gauge(
            "bridge_config_last_reload_timestamp_seconds",
            "When the configuration was last (re)loaded, successfully or not.",
            registry=r,
        )
        self.reload_success_timestamp = Gauge(
            "bridge_config_last_reload_success_timestamp_seconds",
            "When a configuration was last loaded successfully.",
            registry=r,
        )
        self._known_actions: set[str] = set()

    def refresh_queues(self, states: Iterable[ActionStateLike]) -> None:
        """Set the queue gauges from the store's view; actions that disappeared are dropped."""
        seen: set[str] = set()
        for state in states:
            seen.add(state.name)
            self.queue_depth.labels(state.name).set(state.pending)
            self.oldest_pending_age.labels(state.name).set(state.oldest_pending_age_s or 0.0)
            self.dead_jobs.labels(state.name).set(state.dead)
            self.action_enabled.labels(state.name).set(1 if state.enabled else 0)
            for health in HEALTH_STATES:
                self.action_health.labels(state.name, health).set(
                    1 if state.health == health else 0
                )
        for gone in self._known_actions - seen:
            for gauge in (self.queue_depth, self.oldest_pending_age, self.dead_jobs):
                gauge.remove(gone)
            self.action_enabled.remove(gone)
            for health in HEALTH_STATES:
                self.action_health.remove(gone, health)
        self._known_actions = seen

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


_current = Metrics()


def current() -> Metrics:
    return _current


def reset() -> Metrics:
    """Install (and return) a fresh `Metrics`: tests start from zero."""
    global _current
    _current = Metrics()
    return _current


def notification_received(event: Event) -> None:
    """One verified event (a notification holds one or more)."""
    notifications_received([event])


def notifications_received(events: Sequence[Event]) -> None:
    """Verified events, counted per series first: a legacy body holds thousands of them."""
    # Payload values are unbounded; the webhook name comes from the config, the rest is bucketed
    # to Kontent.ai's documented names so a sender cannot grow the number of series.
    counts = collections.Counter(
        (
            event.webhook or "",
            catalog.known_object_type(event.object_type),
            catalog.known_action(event.action),
        )
        for event in events
    )
    for labels, count in counts.items():
        series = _current.notification_series.get(labels)
        if series is None:
            series = _current.notification_series[labels] = _current.notifications.labels(*labels)
        series.inc(count)


def signature_failed(webhook: str) -> None:
    _current.signature_failures.labels(webhook).inc()


def duplicates(webhook: str, count: int = 1) -> None:
    if count > 0:
        _current.duplicates.labels(webhook).inc(count)


def attempt_finished(action: str, outcome: Outcome, seconds: float, *, jobs: int = 1) -> None:
    """One attempt (of a batch of `jobs` coalesced jobs): its outcome and how long it took."""
    m = _current
    m.attempts.labels(action, outcome).inc()
    m.latency.labels(action).observe(max(seconds, 0.0))
    if is_failure(outcome):
        m.attempt_failures.labels(action).inc()
    if outcome in FINAL_ATTEMPT_STATES:
        m.jobs_finished.labels(action, outcome).inc(jobs)


def regex_timed_out(rule: str) -> None:
    """A rule did not run for an event: one of its regexes was given up (bridge/rules/engine)."""
    _current.regex_timeouts.labels(rule).inc()


def config_reloaded(ok: bool, at: float | None = None) -> None:
    now = time.time() if at is None else at
    _current.reload_success.set(1 if ok else 0)
    _current.reload_timestamp.set(now)
    if ok:
        _current.reload_success_timestamp.set(now)
