"""What operators see of a source, besides its log lines: the bridge_source_* metrics.

They live in the bridge's registry (`bridge.metrics.current()`, served on /metrics), registered
there the first time a source reports, so a bridge without sources shows none of them, and a
fresh registry (`metrics.reset()`, in tests) gets fresh ones.

Per process, like every counter: only the replica holding a source's lease polls it, so that
replica's /metrics is the one with `bridge_source_lease_held{source=...} 1` and a recent
`bridge_source_last_success_timestamp_seconds`. The cause of the last failure is the `reason`
label of `bridge_source_errors_total` and, in full, the source's last log line.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from bridge import metrics

if TYPE_CHECKING:
    from bridge.sources.sync import CycleResult


class SourceMetrics:
    """The bridge_source_* collectors of one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.last_success = Gauge(
            "bridge_source_last_success_timestamp_seconds",
            "When the source last polled the Sync API to its end without an error.",
            ["source"],
            registry=r,
        )
        self.last_failure = Gauge(
            "bridge_source_last_failure_timestamp_seconds",
            "When a poll of the source last failed.",
            ["source"],
            registry=r,
        )
        self.failures = Gauge(
            "bridge_source_consecutive_failures",
            "Polls of the source in a row that failed (0 after a success).",
            ["source"],
            registry=r,
        )
        self.errors = Counter(
            "bridge_source_errors",
            "Failed polls by reason: unauthorized, token_rejected, rate_limited, server_error, "
            "refused, unreachable, bad_answer, store_unavailable.",
            ["source", "reason"],
            registry=r,
        )
        self.deltas = Counter(
            "bridge_source_deltas",
            "Sync API deltas: accepted (stored with their jobs) or skipped (already delivered).",
            ["source", "outcome"],
            registry=r,
        )
        self.lease = Gauge(
            "bridge_source_lease_held",
            "1 while this process holds the source's lease (it is the one polling).",
            ["source"],
            registry=r,
        )


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, SourceMetrics] = (
    weakref.WeakKeyDictionary()
)


def current() -> SourceMetrics:
    """The collectors in the bridge's current registry, registered on first use."""
    registry = metrics.current().registry
    found = _by_registry.get(registry)
    if found is None:
        found = _by_registry[registry] = SourceMetrics(registry)
    return found


def cycled(source: str, result: CycleResult, failures: int) -> None:
    """A cycle ended; one that did not hold the lease (or was stopped) polled nothing."""
    lease(source, held=result.held)
    if not result.held or result.stopped:
        return
    m, now = current(), time.time()
    if result.error is None:
        m.last_success.labels(source).set(now)
    else:
        m.last_failure.labels(source).set(now)
        m.errors.labels(source, result.reason or "unknown").inc()
    m.failures.labels(source).set(failures)
    if result.accepted:
        m.deltas.labels(source, "accepted").inc(result.accepted)
    if result.skipped:
        m.deltas.labels(source, "skipped").inc(result.skipped)


def lease(source: str, *, held: bool) -> None:
    current().lease.labels(source).set(1 if held else 0)
