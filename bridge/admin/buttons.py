"""The dashboard's buttons: each POSTs with a CSRF token, does one thing, and says what it did.

A button that changes many jobs or stops deliveries (disable, retry all failed jobs) first
answers with a confirmation page that shows what it would do; only its second POST, carrying
`confirm=yes`, acts. Every button then redirects (303) to the page it was pressed on with a
notice (views.set_flash) that tells the operator what happened, including "nothing to do".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bridge.admin import views
from bridge.admin.auth import CSRF_FIELD
from bridge.admin.context import AdminContext, BadRequest, NotFound
from bridge.admin.forms import FormRefused
from bridge.admin.origin import OriginPolicy
from bridge.admin.params import shown
from bridge.delivery.replaying import shortfall
from bridge.delivery.store import StoreUnavailable

log = logging.getLogger("bridge.admin")

Renderer = Callable[..., Response]
FormReader = Callable[[Request], Awaitable[dict[str, str]]]  # or raises FormRefused
Back = Callable[[Request, str | None], str]


@dataclass(frozen=True, slots=True)
class Done:
    """What a button did: the notice shown after the redirect."""

    message: str
    kind: str = "ok"
    next: str | None = None  # where to go instead of back (an admin path)


@dataclass(frozen=True, slots=True)
class Confirm:
    """A question to ask before acting: shown as a page with Confirm and Cancel."""

    title: str
    text: str
    button: str
    jobs: tuple[Any, ...] = ()
    planned: tuple[Any, ...] = ()  # PlannedJobs a replay would create (shown, not yet stored)
    planned_total: int = 0
    fields: tuple[tuple[str, str], ...] = ()  # hidden fields the confirming POST carries


Verb = Callable[[AdminContext, Any, dict[str, str], bool], Awaitable[Done | Confirm]]


def button(
    ctx: AdminContext,
    verb: Verb,
    *,
    origin: OriginPolicy,
    render: Renderer,
    form_of: FormReader,
    back: Back,
) -> Callable[[Request], Awaitable[Response]]:
    """A POST route running `verb` after the session, CSRF and origin checks."""

    async def run(request: Request) -> Response:
        session = ctx.guard.session_of(request)
        if session is None:
            return render(request, ctx, "login.html", 401, next=request.url.path, error=None)
        try:
            form = await form_of(request)
        except FormRefused as exc:
            return render(request, ctx, "error.html", exc.status, csrf=None, message=exc.message)
        token = str(form.get(CSRF_FIELD, ""))
        if not origin.allows(request):
            log.warning("admin: a dashboard POST from another origin was refused")
            message = origin.refusal(request)
            return render(request, ctx, "error.html", 403, csrf=None, message=message)
        if not ctx.guard.csrf_ok(session, token):
            message = "This form is out of date or came from another site. Reload and retry."
            return render(request, ctx, "error.html", 403, csrf=None, message=message)
        target = back(request, str(form.get("next", "")))
        confirmed = form.get("confirm") == "yes"
        try:
            result = await verb(ctx, request.path_params, form, confirmed)
        except NotFound as exc:
            return render(request, ctx, "error.html", 404, csrf=None, message=str(exc))
        except BadRequest as exc:
            csrf = ctx.guard.csrf_for(session)
            return render(request, ctx, "error.html", 400, csrf=csrf, message=str(exc))
        except (LookupError, StoreUnavailable) as exc:
            return render(request, ctx, "error.html", 503, csrf=None, message=str(exc))
        if isinstance(result, Confirm):
            return render(
                request,
                ctx,
                "confirm.html",
                csrf=ctx.guard.csrf_for(session),
                ask=result,
                action_url=request.url.path,
                fields={
                    **{k: v for k, v in form.items() if k not in (CSRF_FIELD, "confirm")},
                    **dict(result.fields),
                },
                back_url=target,
            )
        response = RedirectResponse(back(request, result.next or target), status_code=303)
        return views.set_flash(response, result.message, result.kind)

    return run


async def retry(ctx: AdminContext, params: Any, form: dict[str, str], confirmed: bool) -> Done:
    job = await ctx.job(params["job_id"])
    number = job.row.job_id
    if job.row.state not in views.RETRYABLE_STATES:
        state = str(job.row.state).replace("_", " ")
        return Done(
            f"Job #{number} was not retried: it is {state}; only retrying or dead "
            "jobs can be retried.",
            "warn",
        )
    if not await ctx.store.retry_job(number):
        return Done(
            f"Job #{number} was not retried: it changed meanwhile. Reload the page.", "warn"
        )
    log.info("admin: retry job from the dashboard", extra={"job_id": number})
    return Done(f"Job #{number} is queued to run again now.")


async def _known(ctx: AdminContext, params: Any) -> str:
    name: str = params["name"]
    if not await ctx.known_action(name):
        raise NotFound(f"no action named {shown(name)}")
    return name


async def reset(ctx: AdminContext, params: Any, form: dict[str, str], confirmed: bool) -> Done:
    name = await _known(ctx, params)
    if not await ctx.store.reset_action(name):
        return Done(f"{name} had no failed job: nothing to reset.", "warn")
    log.info("admin: reset action from the dashboard", extra={"action": name})
    return Done(
        f"Reset {name}: its oldest failed job runs again now and its retry schedule restarts."
    )


async def disable(
    ctx: AdminContext, params: Any, form: dict[str, str], confirmed: bool
) -> Done | Confirm:
    name = await _known(ctx, params)
    if not confirmed:
        return Confirm(
            title=f"Disable {name}?",
            text=f"Nothing is sent to {name} until you enable it again. Its jobs, and the "
            "jobs that arrive meanwhile, are parked: nothing is lost.",
            button=f"Disable {name}",
        )
    await ctx.store.set_enabled(name, False)
    log.info("admin: disable action from the dashboard", extra={"action": name})
    return Done(f"Disabled {name}: its jobs are parked until you enable it; nothing is lost.")


async def enable(ctx: AdminContext, params: Any, form: dict[str, str], confirmed: bool) -> Done:
    name = await _known(ctx, params)
    await ctx.store.set_enabled(name, True)
    log.info("admin: enable action from the dashboard", extra={"action": name})
    return Done(f"Enabled {name}: its parked jobs are delivered again, oldest first.")


async def retry_failed(
    ctx: AdminContext, params: Any, form: dict[str, str], confirmed: bool
) -> Done | Confirm:
    """Retry every retrying or dead job of one action: exactly the jobs the preview listed."""
    name = await _known(ctx, params)
    jobs = await failed_jobs(ctx, name)
    if not jobs:
        return Done(f"{name} has no retrying or dead job: nothing to retry.", "warn")
    if not confirmed:
        many = "job" if len(jobs) == 1 else "jobs"
        return Confirm(
            title=f"Retry {len(jobs)} {many} of {name}?",
            text="This job runs again now and its retry schedule restarts."
            if len(jobs) == 1
            else f"These {len(jobs)} jobs run again now, oldest first, and their retry "
            "schedules restart.",
            button=f"Retry {len(jobs)} {many}",
            jobs=tuple(jobs),
            fields=(("jobs", ",".join(str(j.job_id) for j in jobs)),),
        )
    wanted = {part for part in form.get("jobs", "").split(",") if part}
    chosen = [j for j in jobs if str(j.job_id) in wanted] if wanted else jobs
    retried = 0
    for job in sorted(chosen, key=lambda j: j.job_id):
        retried += bool(await ctx.store.retry_job(job.job_id))
    log.info("admin: retry failed jobs from the dashboard", extra={"action": name, "n": retried})
    many = "job" if retried == 1 else "jobs"
    left = len(wanted) - retried if wanted else 0
    tail = f" ({left} changed meanwhile and were left alone)" if left > 0 else ""
    return Done(f"{retried} {many} of {name} queued to run again now{tail}.")


async def failed_jobs(ctx: AdminContext, name: str) -> list[Any]:
    """The action's retrying and dead jobs, oldest first (at most 500, the API's page)."""
    rows = await ctx.store.deliveries(action=name, filter="active_failures", limit=500)
    return sorted((r for r in rows if r.state in views.RETRYABLE_STATES), key=lambda r: r.job_id)


async def replay_verb(
    ctx: AdminContext, params: Any, form: dict[str, str], confirmed: bool
) -> Done | Confirm:
    """Replay stored notifications to chosen actions/rules: preview first, then create."""
    from bridge.admin import replay

    actions = [a["name"] for a in await ctx.actions()]
    rules = [str(getattr(r, "name", "")) for r in ctx.rules()]
    ask = replay.replay_ask(form, ctx.now(), actions, rules)
    plan = await replay.plan_replay(ctx, ask)
    if not plan.jobs:
        return Done(
            f"Nothing to replay: {plan.notifications} stored notification(s) in that range, "
            "and no job for the chosen actions and rules.",
            "warn",
        )
    many = "job" if len(plan.jobs) == 1 else "jobs"
    if not confirmed:
        return Confirm(
            title=f"Create {len(plan.jobs)} {many}?",
            text=f"Replaying {plan.notifications} stored notification(s) against the current "
            f"rules creates {'this job' if len(plan.jobs) == 1 else f'these {len(plan.jobs)} jobs'}"
            f" ({plan.per_action()}). Nothing is created until you confirm.",
            button=f"Create {len(plan.jobs)} {many}",
            planned=tuple(plan.jobs[: replay.SHOWN_JOBS]),
            planned_total=len(plan.jobs),
            # The range's end as the preview saw it: what arrives meanwhile is not swept in.
            fields=(("until", datetime.fromtimestamp(ask.until, UTC).isoformat()),),
        )
    request_id, created = await replay.run_replay(ctx, plan)
    log.info("admin: replay from the dashboard", extra={"jobs": created})
    missing = shortfall(len(plan.jobs), created)
    return Done(
        f"Created {created} {'job' if created == 1 else 'jobs'} ({plan.per_action()}) from "
        f"{plan.notifications} stored notification(s); request id {request_id}."
        + (f" {missing[0].upper()}{missing[1:]}." if missing else ""),
        next=f"/admin/?request_id={request_id}",
    )
