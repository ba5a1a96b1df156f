"""Targeted replay from the dashboard: stored notifications of a time range (or one of them)
re-evaluated against the current rules, keeping only the chosen actions and rules.

`plan_replay` is the preview: it plans without writing, so the confirmation page lists exactly
the jobs that would be created. `run_replay` plans the same notifications again (the range's
end is fixed by the preview, so notifications arriving meanwhile are not swept in) and stores
the jobs under one request id, `replay-...`, by which the delivery log finds them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.admin.context import AdminContext, BadRequest
from bridge.admin.params import plain_name, shown
from bridge.admin.search import _time
from bridge.delivery.replaying import replay_batches

MAX_JOBS = 5000
SHOWN_JOBS = 200


@dataclass(frozen=True, slots=True)
class ReplayAsk:
    since: float
    until: float
    key: str | None
    actions: frozenset[str]
    rules: frozenset[str]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    ask: ReplayAsk
    notifications: int
    jobs: list[Any]  # PlannedJob

    def per_action(self) -> str:
        counts: dict[str, int] = {}
        for job in self.jobs:
            counts[job.action] = counts.get(job.action, 0) + 1
        return ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())) or "none"


def names(raw: str | None, what: str, known: list[str]) -> frozenset[str]:
    chosen = frozenset(v for v in (raw or "").split("\n") if v)
    for name in chosen:
        if not plain_name(name) or name not in known:
            raise BadRequest(f"no {what} named {shown(name)}")
    return chosen


def replay_ask(
    form: Mapping[str, str], now: float, actions: list[str], rules: list[str]
) -> ReplayAsk:
    key = (form.get("notification") or "").strip() or None
    if key is not None and not plain_name(key):
        raise BadRequest(f"notification must be a notification key, got {shown(key)}")
    since = _time(form, "since", now)
    until = _time(form, "until", now)
    if since is None:
        raise BadRequest("since is required: a time such as 2026-12-02T01:30 (UTC) or 2h")
    until = now if until is None else until
    if since > until:
        raise BadRequest("since must be before until")
    return ReplayAsk(
        since,
        until,
        key,
        names(form.get("action"), "action", actions),
        names(form.get("rule"), "rule", rules),
    )


async def plan_replay(ctx: AdminContext, ask: ReplayAsk) -> ReplayPlan:
    from bridge.rules import RuleEngine

    config = ctx.config
    if config is None:
        raise LookupError("no configuration is loaded")
    engine = RuleEngine(config)
    jobs: list[Any] = []
    seen = 0
    batches = replay_batches(
        ctx.store,
        engine,
        since=ask.since,
        until=ask.until,
        key=ask.key,
        actions=ask.actions,
        rules=ask.rules,
    )
    async for part in batches:
        seen += part.notifications
        jobs += part.jobs
        if len(jobs) >= MAX_JOBS:
            break
    return ReplayPlan(ask, seen, jobs[:MAX_JOBS])


async def run_replay(ctx: AdminContext, plan: ReplayPlan) -> tuple[str, int]:
    """The request id of the jobs created, and how many were: fewer than planned when a prune
    removed some of the notifications since they were read (their jobs are not created)."""
    request_id = f"replay-{uuid.uuid4().hex[:12]}"
    created = await ctx.store.enqueue(plan.jobs, request_id=request_id) if plan.jobs else 0
    return request_id, created
