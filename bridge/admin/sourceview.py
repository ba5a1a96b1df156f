"""Each configured Sync API source as this process saw it: the dashboard's Sources cards and
banner, and GET /admin/api/sources.

The readings are bridge.sources.status's (the same as /metrics), kept in memory per process:
only the replica holding a source's lease polls it, so each replica shows its own, and the
page says which process it is (host and pid). A replica that does not poll a source names the
one that does, from the store's leases (`Store.source_leases`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

from bridge.admin import present
from bridge.admin.context import AdminContext
from bridge.delivery.errors import StoreUnavailable
from bridge.delivery.model import SourceLease
from bridge.sources import status

State = Literal["working", "failing", "starting", "idle"]
STATE_LABELS: Mapping[str, str] = {
    "working": "Working",
    "failing": "Failing",
    "starting": "Starting",
    "idle": "Not polling here",
}


@dataclass(frozen=True, slots=True)
class SourceView:
    """A configured source with what this process saw of it; `note` says why in words."""

    name: str
    environment_id: str
    slot: str
    interval_s: float
    enabled: bool
    api_url: str | None
    state: State
    note: str
    seen: status.SourceStatus
    holder: str | None = None  # the lease's owner in the store (this process or another)
    held_until: float | None = None

    @property
    def failed_polls(self) -> int:
        return sum(self.seen.errors.values())

    @property
    def every(self) -> str:
        """The interval as the config writes durations: `500ms`, `30s`, `10m`, `1h`."""
        for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
            if self.interval_s >= size and self.interval_s % size == 0:
                return f"{int(self.interval_s // size)}{unit}"
        return f"{self.interval_s * 1000:g}ms"


@dataclass(frozen=True, slots=True)
class Process:
    """Which replica answered: the page's readings are this process's only."""

    host: str
    pid: int


def this_process() -> Process:
    return Process(socket.gethostname(), os.getpid())


def configured(ctx: AdminContext) -> list[Any]:
    config = ctx.config
    return list(getattr(config, "sources", None) or ()) if config is not None else []


async def leases(ctx: AdminContext) -> Mapping[str, SourceLease] | None:
    """Who holds each source's lease now; None while the store cannot answer."""
    if not configured(ctx):
        return {}
    try:
        return dict(await ctx.store.source_leases())
    except (StoreUnavailable, LookupError):
        return None


def source_views(
    ctx: AdminContext, held: Mapping[str, SourceLease] | None = None
) -> list[SourceView]:
    """The config's sources, in its order (one a reload removed is no longer shown); `held`:
    the store's leases, to name the replica polling a source this process does not (None:
    not known; the banner, which shows only this process's failures, needs none)."""
    seen = status.snapshot()
    views = []
    for source in configured(ctx):
        name = str(source.name)
        reading = seen.get(name) or status.SourceStatus(name)
        lease = (held or {}).get(name)
        state, note = state_of(source, reading, lease, leases_known=held is not None)
        views.append(
            SourceView(
                name=name,
                environment_id=str(source.environment_id),
                slot=str(source.slot),
                interval_s=float(source.interval_s),
                enabled=bool(source.enabled),
                api_url=source.api_url,
                state=state,
                note=note,
                seen=reading,
                holder=lease.owner if lease is not None else None,
                held_until=lease.expires_at if lease is not None else None,
            )
        )
    return views


def state_of(
    source: Any,
    seen: status.SourceStatus,
    lease: SourceLease | None = None,
    *,
    leases_known: bool = True,
) -> tuple[State, str]:
    """The badge and its reason: failing only while this process holds the lease and its polls
    fail; a replica without the lease is "not polling here", whatever it saw before."""
    if not source.enabled:
        return "idle", "Disabled in the config: no replica polls it."
    if not seen.lease_held:
        if lease is not None and lease.owner != seen.owner:
            return "idle", f"Another replica holds its lease and polls it: {lease.owner}."
        if seen.owner is None:
            return "idle", "This process has not polled it yet (it starts within seconds)."
        if not leases_known:
            return "idle", "Another replica holds its lease, or none does (the store cannot say)."
        return "idle", "No replica holds its lease right now: one takes it within seconds."
    if seen.consecutive_failures > 0:
        n = seen.consecutive_failures
        polls = f"{n} poll{'s' if n != 1 else ''}"
        return "failing", f"Its last {polls} failed; polled again with backoff until one succeeds."
    if seen.last_success_at is None:
        return "starting", "This process holds its lease; its first poll has not ended yet."
    return "working", "This process holds its lease and polls it."


def failing(ctx: AdminContext) -> list[SourceView]:
    """The sources failing here, for the banner on every page."""
    return [v for v in source_views(ctx) if v.state == "failing"]


async def list_sources(request: Request, ctx: AdminContext) -> Any:
    """GET /admin/api/sources."""
    process = this_process()
    return {
        "process": {"host": present.plain(process.host), "pid": process.pid},
        "sources": [source_json(v) for v in source_views(ctx, await leases(ctx))],
    }


def source_json(view: SourceView) -> dict[str, Any]:
    seen = view.seen
    last_failure = None
    if seen.last_failure_at is not None:
        last_failure = {
            "at": present.iso(seen.last_failure_at),
            "reason": seen.last_failure_reason,
            "message": present.plain(seen.last_failure_message),
        }
    return {
        "name": present.plain(view.name),
        "environment_id": present.plain(view.environment_id),
        "slot": view.slot,
        "interval_s": view.interval_s,
        "enabled": view.enabled,
        "api_url": present.plain(view.api_url),
        "state": view.state,
        "note": view.note,
        "lease": {
            "held_here": seen.lease_held,
            "owner": present.plain(view.holder or (seen.owner if seen.lease_held else None)),
            "until": present.iso(view.held_until),
        },
        "last_success_at": present.iso(seen.last_success_at),
        "last_failure_at": present.iso(seen.last_failure_at),
        "last_failure": last_failure,
        "consecutive_failures": seen.consecutive_failures,
        "deltas": {"accepted": seen.accepted, "skipped": seen.skipped},
        "errors": dict(sorted(seen.errors.items())),
    }
