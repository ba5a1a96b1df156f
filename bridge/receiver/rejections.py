"""Webhook requests refused (401, 400, 413, ...) per webhook, with the latest reasons.

Kept in memory, per process (each replica counts its own; a restart starts from zero): the
dashboard's Activity page shows them so an operator sees a rotated secret or a proxy that
truncates bodies without reading logs. Bounded: `LATEST` reasons per webhook, and reasons are
cut to `REASON_CHARS`. The receiver calls `record`; the admin reads `snapshot`.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field

LATEST = 10
REASON_CHARS = 300
MAX_WEBHOOKS = 100  # configured webhooks; a reload may rename them


@dataclass(frozen=True, slots=True)
class Rejection:
    at: float
    status: int
    reason: str
    request_id: str | None


@dataclass(slots=True)
class WebhookRejections:
    webhook: str
    counts: Counter[int] = field(default_factory=Counter)
    latest: deque[Rejection] = field(default_factory=lambda: deque(maxlen=LATEST))


_seen: dict[str, WebhookRejections] = {}


def record(webhook: str, status: int, reason: str, request_id: str | None = None) -> None:
    entry = _seen.get(webhook)
    if entry is None:
        if len(_seen) >= MAX_WEBHOOKS:
            _seen.pop(next(iter(_seen)))
        entry = _seen[webhook] = WebhookRejections(webhook)
    entry.counts[status] += 1
    entry.latest.appendleft(Rejection(time.time(), status, reason[:REASON_CHARS], request_id))


def snapshot() -> list[WebhookRejections]:
    """Every webhook that refused something, by name; newest reason first in each."""
    return [
        WebhookRejections(w.webhook, Counter(w.counts), deque(w.latest, maxlen=LATEST))
        for _, w in sorted(_seen.items())
    ]


def clear() -> None:
    """For tests."""
    _seen.clear()
