"""The admin API's operator calls: the cause per action, bulk retry, targeted replay, activity.

They answer the "see the cause, fix it, replay exactly what is needed" questions over the same
functions the dashboard uses (search.py, activity.py, replay.py, jobview.py, views.py), so the
API and the dashboard never disagree. Every call that changes jobs has a dry run that lists
exactly what it would do (`dry_run=true`); the real call then does that and says what it did.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from bridge import reload
from bridge.admin import activity, jobview, present, replay, views
from bridge.admin.context import AdminContext, BadRequest, NotFound
from bridge.admin.params import plain_name, shown
from bridge.admin.search import _time
from bridge.delivery.replaying import shortfall
from bridge.receiver import rejections

log = logging.getLogger("bridge.admin")

RETRY_STATES: Mapping[str, tuple[str, ...]] = {
    "dead": ("dead",),
    "failing": ("retrying",),
    "all": ("retrying", "dead"),
}
MAX_BULK_JOBS = 10_000
PAGE_ROWS = 500
SHOWN_PLANNED = 500


def flag(params: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: `true`/`false` (also 1/0, yes/no); absent is false."""
    raw = (params.get(name) or "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise BadRequest(f"{name} must be true or false, got {shown(params.get(name) or '')}")


# -- the cause where you look first --------------------------------------------------------------
async def latest_error(ctx: AdminContext, action: str) -> dict[str, Any] | None:
    """The action's current cause: the newest job still failing (retrying or dead), with its
    latest error (the action's own reason, e.g. Slack's `channel_not_found`) and status."""
    rows = await ctx.store.deliveries(action=action, filter="active_failures", limit=1)
    if not rows:
        return None
    row = rows[0]
    return {
        "job_id": row.job_id,
        "state": row.state,
        "status": row.last_status,
        "error": present.plain(row.last_error),
        "cause": present.plain(views.cause(row)),
        "at": present.iso(row.last_attempt_at),
    }


async def actions_with_cause(ctx: AdminContext) -> list[dict[str, Any]]:
    """`ctx.actions()` as the API shows them: the health an operator must see (dead jobs
    outstanding are "dead", never "working": the store says so, and views.displayed_health,
    shared with the cards, holds for any store) and `latest_error`."""
    rows = await ctx.actions()
    for row in rows:
        row["health"] = views.displayed_health(row)
        failing = row["health"] in ("failing", "dead")
        row["latest_error"] = await latest_error(ctx, row["name"]) if failing else None
    return rows


# -- bulk retry ----------------------------------------------------------------------------------
def retry_state(params: Mapping[str, str]) -> str:
    value = params.get("state") or "all"
    if value not in RETRY_STATES:
        raise BadRequest(f"state must be one of dead, failing, all, got {shown(value)}")
    return value


async def failed_jobs(ctx: AdminContext, action: str, state: str) -> list[Any]:
    """The action's jobs in `state` (dead, failing = retrying, or all), oldest first."""
    wanted = RETRY_STATES[state]
    found: list[Any] = []
    offset = 0
    while len(found) < MAX_BULK_JOBS:
        rows = await ctx.store.deliveries(
            action=action, filter="active_failures", limit=PAGE_ROWS, offset=offset
        )
        found += [r for r in rows if r.state in wanted]
        offset += PAGE_ROWS
        if len(rows) < PAGE_ROWS:
            break
    return sorted(found[:MAX_BULK_JOBS], key=lambda r: r.job_id)


async def retry_action_jobs(request: Request, ctx: AdminContext) -> Any:
    name: str = request.path_params["name"]
    if not await ctx.known_action(name):
        raise NotFound(f"no action named {shown(name)}")
    params = request.query_params
    state, dry_run = retry_state(params), flag(params, "dry_run")
    jobs = await failed_jobs(ctx, name, state)
    answer: dict[str, Any] = {"action": name, "state": state, "dry_run": dry_run}
    if dry_run:
        return answer | {"jobs": [r.job_id for r in jobs], "count": len(jobs)}
    ids = [r.job_id for r in jobs]
    bulk = getattr(ctx.store, "retry_jobs", None)
    if bulk is not None:  # one transaction (the store's bulk retry)
        restarted = set(await bulk(ids))
    else:
        restarted = {i for i in ids if await ctx.store.retry_job(i)}
    retried = [i for i in ids if i in restarted]
    unchanged = [i for i in ids if i not in restarted]
    log.info("admin: retry the failed jobs of an action", extra={"action": name, "n": len(retried)})
    many = "job" if len(retried) == 1 else "jobs"
    message = (
        f"{len(retried)} {many} of {name} queued to run again now"
        if jobs
        else f"{name} has no {_state_words(state)} job: nothing to retry"
    )
    if unchanged:
        message += f" ({len(unchanged)} changed meanwhile and were left alone)"
    return answer | {
        "jobs": retried,
        "count": len(retried),
        "unchanged": unchanged,
        "message": message,
    }


def _state_words(state: str) -> str:
    return {"dead": "dead", "failing": "retrying", "all": "retrying or dead"}[state]


# -- targeted replay -----------------------------------------------------------------------------
def _names(values: list[str], what: str, known: list[str]) -> frozenset[str]:
    chosen = frozenset(v for v in values if v)
    for name in sorted(chosen):
        if not plain_name(name) or name not in known:
            raise BadRequest(f"no {what} named {shown(name)}")
    return chosen


def replay_ask(
    request: Request, ctx: AdminContext, actions: list[str], rules: list[str]
) -> replay.ReplayAsk:
    """The API's replay query: `since` (required unless `notification` names one), `until`,
    repeated `action=` and `rule=`, `notification=KEY`."""
    params = request.query_params
    now = ctx.now()
    key = (params.get("notification") or "").strip() or None
    if key is not None and not plain_name(key):
        raise BadRequest(f"notification must be a notification key, got {shown(key)}")
    since = _time(params, "since", now)
    until = _time(params, "until", now)
    if since is None:
        if key is None:
            raise BadRequest(
                "since is required (a time such as 2026-12-02T01:30 (UTC) or a duration back "
                "from now such as 2h) unless notification names one"
            )
        since = now - float(getattr(ctx.store, "retention_s", 3 * 86400))
    until = now if until is None else until
    if since > until:
        raise BadRequest("since must be before until")
    return replay.ReplayAsk(
        since,
        until,
        key,
        _names(params.getlist("action"), "action", actions),
        _names(params.getlist("rule"), "rule", rules),
    )


def _planned(job: Any) -> dict[str, Any]:
    return {
        "action": job.action,
        "rule": job.rule,
        "notification_key": job.notification_key,
        "event": present.event_summary(job.event),
    }


async def replay_notifications(request: Request, ctx: AdminContext) -> Any:
    actions = [a["name"] for a in await ctx.actions()]
    rules = [str(getattr(r, "name", "")) for r in ctx.rules()]
    ask = replay_ask(request, ctx, actions, rules)
    dry_run = flag(request.query_params, "dry_run")
    plan = await replay.plan_replay(ctx, ask)
    if ask.key is not None and plan.notifications == 0:
        raise NotFound(f"no stored notification {shown(ask.key)} in that range")
    counts: dict[str, int] = {}
    for job in plan.jobs:
        counts[job.action] = counts.get(job.action, 0) + 1
    answer: dict[str, Any] = {
        "dry_run": dry_run,
        "since": present.iso(ask.since),
        "until": present.iso(ask.until),
        "notifications": plan.notifications,
        "count": len(plan.jobs),
        "per_action": dict(sorted(counts.items())),
        "jobs": [_planned(j) for j in plan.jobs[:SHOWN_PLANNED]],
        "request_id": None,
    }
    if dry_run or not plan.jobs:
        return answer
    request_id, created = await replay.run_replay(ctx, plan)
    log.info("admin: replay", extra={"jobs": created, "request_id": request_id})
    answer |= {"request_id": request_id, "created": created}
    if created < len(plan.jobs):
        answer["not_created"] = shortfall(len(plan.jobs), created)
    return answer


# -- deliveries over time, rejected requests, the last reload ------------------------------------
def _rejections() -> list[dict[str, Any]]:
    return [
        {
            "webhook": entry.webhook,
            "counts": {str(status): n for status, n in sorted(entry.counts.items())},
            "latest": [
                {
                    "at": present.iso(r.at),
                    "status": r.status,
                    "reason": present.plain(r.reason),
                    "request_id": r.request_id,
                }
                for r in entry.latest
            ],
        }
        for entry in rejections.snapshot()
    ]


async def show_activity(request: Request, ctx: AdminContext) -> Any:
    window = activity.window_of(request.query_params.get("window"))
    names = [a["name"] for a in await ctx.actions()]
    series = await activity.delivery_series(ctx, window, names)
    return {
        "window": series.window,
        "since": present.iso(series.since),
        "until": present.iso(series.until),
        "bucket_s": series.bucket_s,
        "complete": series.complete,
        "actions": {
            name: [
                {"start": present.iso(b.start), "delivered": b.delivered, "failed": b.failed}
                | {"queued": b.queued}
                for b in buckets
            ]
            for name, buckets in series.actions.items()
        },
        "rejections": _rejections(),
    }


async def show_reload(request: Request, ctx: AdminContext) -> Any:
    """The last config reload: whether it was rejected and why (the running config is kept)."""
    state = reload.reload_state.to_json()
    for key in ("last_attempt_at", "last_success_at"):
        state[key] = present.iso(state[key])
    state["errors"] = [present.plain(e) for e in state["errors"]]
    return state


# -- what was sent -------------------------------------------------------------------------------
async def job_extras(ctx: AdminContext, job: Any) -> dict[str, Any]:
    """What /jobs/{id} adds to the job: the inputs the next attempt renders, each attempt's
    sent request (null: not recorded), and every job and event of its coalesced call."""
    rendered = jobview.rendered_inputs(ctx, job)
    call = await jobview.call_of(ctx, job)
    carried = await jobview.call_events(ctx, call.jobs) if call.size > 1 else []
    return {
        "rendered_inputs": {
            "inputs": rendered.inputs,
            "error": present.plain(rendered.error),
            "note": rendered.note,
        },
        "requests": [{"number": a.number, "request": _sent(a)} for a in job.attempts],
        "call": [
            {"job_id": mate.job_id, "state": mate.state, "rule": mate.rule, "events": events}
            for mate, events in carried
        ],
        "call_size": call.size if call.size > 1 else 0,
    }


def _sent(attempt: Any) -> dict[str, Any] | None:
    """The attempt's request as the job page shows it, with how many the call sent in all."""
    shown = jobview.sent_request(attempt)
    stored = getattr(attempt, "request", None)
    if shown is not None and isinstance(stored, Mapping):
        count = stored.get("requests_sent")
        shown["requests_sent"] = count if isinstance(count, int) else 1
    return shown
