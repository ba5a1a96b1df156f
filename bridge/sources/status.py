"""What operators see of a source, besides its log lines: the bridge_source_* metrics, and the
same readings for the admin (`snapshot()`: the dashboard and GET /admin/api/sources).

They live with the bridge's registry (`bridge.metrics.current()`, served on /metrics), created
there the first time a source reports, so a bridge without sources shows none of them, and a
fresh registry (`metrics.reset()`, in tests) gets fresh ones: /metrics and the admin always
agree, because both are written here, by the same calls.

Per process, like every counter: only the replica holding a source's lease polls it, so that
replica's /metrics is the one with `bridge_source_lease_held{source=...} 1` and a recent
`bridge_source_last_success_timestamp_seconds`, and its admin the one with recent polls. The
cause of the last failure is the `reason` label of `bridge_source_errors_total` and, in words,
the snapshot's `last_failure_message` (redacted, at most `MESSAGE_CHARS`) and the log line.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from bridge import metrics, redaction

if TYPE_CHECKING:
    from bridge.sources.sync import CycleResult

# The most characters of a failure's message kept per source: an answer's excerpt (500) with
# the words around it. A longer one (a driver's error) is cut, after redaction.
MESSAGE_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What this process saw of one source since it started (each replica sees its own).

    `owner` is this process's lease owner id for the source (the store's `source_state.owner`
    while it holds the lease). Times are epoch seconds."""

    source: str
    lease_held: bool = False
    owner: str | None = None
    last_success_at: float | None = None
    last_failure_at: float | None = None
    last_failure_reason: str | None = None  # the kind: bridge_source_errors_total's label
    last_failure_message: str | None = None  # what failed, in words; never a key
    consecutive_failures: int = 0
    accepted: int = 0
    skipped: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)  # failed polls by reason


class SourceMetrics:
    """The bridge_source_* collectors of one registry, and the readings behind them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.states: dict[str, SourceStatus] = {}
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
            "Failed polls by reason: unauthorized, token_rejected, token_repeated, rate_limited, "
            "server_error, refused, unreachable, bad_answer, store_unavailable.",
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

    def state(self, source: str) -> SourceStatus:
        return self.states.get(source) or SourceStatus(source)


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


def snapshot() -> dict[str, SourceStatus]:
    """Every source this process has reported on, by name (a source that never polled here,
    or that a reload removed before, may be missing; one removed since is still listed)."""
    return dict(sorted(current().states.items()))


def cycled(source: str, result: CycleResult, failures: int, *, owner: str | None = None) -> None:
    """A cycle ended; one that did not hold the lease (or was stopped) polled nothing."""
    lease(source, held=result.held, owner=owner)
    if not result.held or result.stopped:
        return
    m, now = current(), time.time()
    found = m.state(source)
    if result.error is None:
        m.last_success.labels(source).set(now)
        found = dataclasses.replace(found, last_success_at=now)
    else:
        reason = result.reason or "unknown"
        m.last_failure.labels(source).set(now)
        m.errors.labels(source, reason).inc()
        errors = {**found.errors, reason: found.errors.get(reason, 0) + 1}
        found = dataclasses.replace(
            found,
            last_failure_at=now,
            last_failure_reason=reason,
            last_failure_message=message(result.error),
            errors=errors,
        )
    m.failures.labels(source).set(failures)
    if result.accepted:
        m.deltas.labels(source, "accepted").inc(result.accepted)
    if result.skipped:
        m.deltas.labels(source, "skipped").inc(result.skipped)
    m.states[source] = dataclasses.replace(
        found,
        consecutive_failures=failures,
        accepted=found.accepted + result.accepted,
        skipped=found.skipped + result.skipped,
    )


def lease(source: str, *, held: bool, owner: str | None = None) -> None:
    m = current()
    m.lease.labels(source).set(1 if held else 0)
    found = m.state(source)
    m.states[source] = dataclasses.replace(found, lease_held=held, owner=owner or found.owner)


def message(error: str) -> str:
    """A failure's words as kept: secrets hidden before the cut (a cut must not leave the start
    of one in view), at most MESSAGE_CHARS and a note of the length."""
    text = redaction.redact(error).strip()
    if len(text) <= MESSAGE_CHARS:
        return text
    return f"{text[:MESSAGE_CHARS]}… ({len(text):,} characters)"
