"""The dashboard at /admin: server-rendered pages, a sign-in form, and POST buttons.

Every page is plain HTML that works without JavaScript; admin.js only adds the response dialog's
Copy button, relative-time refresh and the optional auto-refresh. Buttons are forms that POST
with a CSRF token, ask first where they stop deliveries or change many jobs, and come back to
the page they were pressed on (303) with a notice of what they did (buttons.py). Pages read
search.py (the log's search), jobview.py (the job page), activity.py and chart.py (Activity)
and replay.py; views.py words what the cards and rows show; origin.py is the same-origin check
that BRIDGE_PUBLIC_URL extends behind a reverse proxy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2.filters import do_urlencode
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bridge import reload
from bridge.admin import (
    activity,
    buttons,
    chart,
    forms,
    jobview,
    present,
    safejson,
    search,
    sourceview,
    views,
)
from bridge.admin.auth import COOKIE_NAME, SESSION_TTL_S
from bridge.admin.context import (
    AdminContext,
    BadRequest,
    NotFound,
    client_of,
    paging,
)
from bridge.admin.origin import OriginPolicy
from bridge.admin.params import shown
from bridge.delivery.store import StoreUnavailable
from bridge.receiver import rejections

log = logging.getLogger("bridge.admin")

ROOT = "/admin"

templates = Environment(
    loader=PackageLoader("bridge.admin", "templates"),
    autoescape=select_autoescape(["html"]),
    finalize=present.shown,  # no configured secret value is printed, whatever the store holds
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals.update(
    iso=present.iso,
    absolute=present.absolute,
    duration=present.duration,
    names=present.names,
    event_summary=present.event_summary,
    health_labels=present.HEALTH_LABELS,
    source_labels=sourceview.STATE_LABELS,
    displayed_health=views.displayed_health,
    needs_reset=views.needs_reset,
    cause=views.cause,
    answered=views.answered,
    retryable_states=views.RETRYABLE_STATES,
    qs=lambda query, **changes: present.typed(views.query_string(query, **changes)),  # a link
    sent_request=jobview.sent_request,
)
# Stored payloads may hold NaN, lone surrogates or deep nesting: Jinja's own tojson breaks.
# Redacted and cut as every printed string is (its Markup skips `finalize`).
templates.filters["tojson"] = present.shown_json
templates.filters["typed"] = present.typed
templates.filters["urlencode"] = lambda value: present.typed(do_urlencode(value))  # a link

Page = Callable[[Request, AdminContext, str], Awaitable[Response]]


def render(
    request: Request,
    ctx: AdminContext,
    template: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **values: Any,
) -> Response:
    # Every signed-in page carries the banner of the sources failing here (base.html).
    values.setdefault("failing_sources", sourceview.failing(ctx))
    return _page_response(request, template, status, headers, now=ctx.now(), **values)


def _page_response(
    request: Request,
    template: str,
    status: int,
    headers: Mapping[str, str] | None,
    *,
    now: float,
    **values: Any,
) -> Response:
    """Every dashboard page, the error pages of routes no handler has included: one set of
    security headers."""
    flash = views.flash_of(request) if values.get("csrf") else None
    html = templates.get_template(template).render(
        request=request,
        root=ROOT,
        relative=lambda ts: present.relative(ts, now),
        now=now,
        flash=flash,
        reload_state=reload.reload_state,
        **values,
    )
    response = safejson.SafeHTMLResponse(
        html,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            **(headers or {}),
        },
    )
    if flash is not None:  # shown once
        response.delete_cookie(views.FLASH_COOKIE, path=ROOT)
    return response


def http_error(request: Request, status: int, headers: Mapping[str, str] | None) -> Response:
    """Starlette's own 404 and 405 (no route has the path, or not with this method) under
    /admin: JSON in the API, whose every answer is JSON, and the error page on the dashboard,
    instead of Starlette's plain-text "Not Found"."""
    message = "no such page" if status == 404 else f"{request.method} is not allowed here"
    if request.url.path.startswith(f"{ROOT}/api/") or request.url.path == f"{ROOT}/api":
        return safejson.SafeJSONResponse(
            {"error": message.replace("page", "route")}, status_code=status, headers=headers
        )
    shown = message[0].upper() + message[1:] + "."
    return _page_response(
        request, "error.html", status, headers, now=time.time(), csrf=None, message=shown
    )


def page(ctx: AdminContext, handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a page: without a session, 401 and the sign-in form; errors as friendly pages."""

    async def run(request: Request) -> Response:
        session = ctx.guard.session_of(request)
        if session is None:
            return render(request, ctx, "login.html", 401, next=request.url.path, error=None)
        csrf = ctx.guard.csrf_for(session)
        try:
            return await handler(request, ctx, csrf)
        except (BadRequest, NotFound) as exc:
            status = 400 if isinstance(exc, BadRequest) else 404
            return render(request, ctx, "error.html", status, csrf=csrf, message=str(exc))
        except (LookupError, StoreUnavailable) as exc:
            return render(request, ctx, "error.html", 503, csrf=csrf, message=str(exc))

    return run


async def overview(request: Request, ctx: AdminContext, csrf: str) -> Response:
    params = request.query_params
    wanted = search.delivery_search(params, ctx.now())
    limit, offset = paging(params)
    actions = await ctx.actions()
    action = wanted.action
    if action is not None and action not in {a["name"] for a in actions}:
        raise NotFound(f"no action named {shown(action)}")
    found = await search.search_deliveries(ctx, wanted, limit=limit, offset=offset)
    for a in actions:
        a["latest_failure"] = await _latest_failure(ctx, a)
    return render(
        request,
        ctx,
        "overview.html",
        csrf=csrf,
        actions=actions,
        rows=found.rows,
        scanned_all=found.scanned_all,
        search=wanted,
        query={k: v for k, v in params.items() if v and k not in ("offset", "limit")},
        rule_names=[str(getattr(r, "name", "")) for r in ctx.rules()],
        states=search.STATES,
        filter=wanted.filter,
        action=action,
        sources=sourceview.source_views(ctx, await sourceview.leases(ctx)),
        process=sourceview.this_process(),
        limit=limit,
        offset=offset,
        page_url=_page_url(request),
    )


async def _latest_failure(ctx: AdminContext, action: dict[str, Any]) -> Any:
    """The newest job whose last attempt failed, for the card's cause (None when healthy)."""
    if not views.needs_reset(action):
        return None
    rows = await ctx.store.deliveries(action=action["name"], filter="active_failures", limit=1)
    return rows[0] if rows else None


async def job_page(request: Request, ctx: AdminContext, csrf: str) -> Response:
    job = await ctx.job(request.path_params["job_id"])
    call = await jobview.call_of(ctx, job)
    return render(
        request,
        ctx,
        "job.html",
        csrf=csrf,
        job=job,
        attempts=jobview.attempt_page(job.attempts, request.query_params.get("attempts")),
        rendered=jobview.rendered_inputs(ctx, job),
        call=await jobview.call_events(ctx, call.jobs) if call.size > 1 else [],
        call_size=call.size,
        page_url=_page_url(request),
    )


async def rules_page(request: Request, ctx: AdminContext, csrf: str) -> Response:
    stats = await ctx.store.rule_stats()
    rules = [
        {"name": r.name, "actions": present.rule_actions(r), "stat": stats.get(r.name)}
        for r in ctx.rules()
    ]
    return render(request, ctx, "rules.html", csrf=csrf, rules=rules)


async def rule_page(request: Request, ctx: AdminContext, csrf: str) -> Response:
    name: str = request.path_params["name"]
    rule = ctx.rule(name)
    stat = (await ctx.store.rule_stats()).get(name)
    matches = await ctx.store.rule_matches(name, limit=100)
    return render(
        request,
        ctx,
        "rule.html",
        csrf=csrf,
        name=name,
        actions=present.rule_actions(rule),
        stat=stat,
        rows=matches,
        page_url=_page_url(request),
    )


async def notifications_page(request: Request, ctx: AdminContext, csrf: str) -> Response:
    limit, offset = paging(request.query_params)
    rows = await ctx.store.notifications(limit=limit, offset=offset)
    return render(
        request, ctx, "notifications.html", csrf=csrf, rows=rows, limit=limit, offset=offset
    )


async def activity_page(request: Request, ctx: AdminContext, csrf: str) -> Response:
    window = activity.window_of(request.query_params.get("window"))
    names = [a["name"] for a in await ctx.actions()]
    series = await activity.delivery_series(ctx, window, names)
    charts = [
        {
            "name": name,
            "svg": chart.svg(name, buckets, series.bucket_s),
            "delivered": sum(b.delivered for b in buckets),
            "failed": sum(b.failed for b in buckets),
            "queued": buckets[-1].queued if buckets else 0,
        }
        for name, buckets in series.actions.items()
    ]
    return render(
        request,
        ctx,
        "activity.html",
        csrf=csrf,
        series=series,
        charts=charts,
        windows=list(activity.WINDOWS),
        rejected=rejections.snapshot(),
    )


async def replay_page(request: Request, ctx: AdminContext, csrf: str) -> Response:
    params = request.query_params
    return render(
        request,
        ctx,
        "replay.html",
        csrf=csrf,
        actions=[a["name"] for a in await ctx.actions() if a.get("in_config")],
        rule_names=[str(getattr(r, "name", "")) for r in ctx.rules()],
        chosen_actions=params.getlist("action"),
        chosen_rules=params.getlist("rule"),
        notification=params.get("notification") or "",
        since=params.get("since") or "1h",
        until=params.get("until") or "",
        page_url=_page_url(request),
    )


def _page_url(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.url.path}{query}"


def _back(request: Request, target: str | None) -> str:
    """Only paths inside the admin are followed back to (no open redirect)."""
    if target and (target == ROOT or target.startswith(ROOT + "/")):
        return target
    return ROOT


def login(ctx: AdminContext, origin: OriginPolicy) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        if request.method == "GET":
            status = 200 if ctx.guard.session_of(request) else 401
            return render(request, ctx, "login.html", status, next="", error=None)
        try:
            form = await forms.read_form(request)
        except forms.FormRefused as exc:  # not a sign-in attempt: nothing compared or counted
            return render(request, ctx, "login.html", exc.status, next="", error=exc.message)
        target = _back(request, str(form.get("next", "")))
        client = client_of(request)
        wait_s = ctx.limiter.retry_after_s(client)
        if wait_s is not None:  # ratelimit.py: the token is not even compared
            error = f"Too many failed sign-ins. Try again in {wait_s} s."
            headers = {"Retry-After": str(wait_s)}
            return render(request, ctx, "login.html", 429, headers, next=target, error=error)
        if not origin.allows(request):
            log.warning("admin: a sign-in from another origin was refused")
            error = origin.refusal(request)
            return render(request, ctx, "login.html", 403, next=target, error=error)
        if not ctx.guard.token_matches(str(form.get("token", ""))):
            log.warning("admin: sign-in with a wrong token", extra={"client": client})
            if ctx.limiter.failed(client):
                log.warning("admin: too many wrong tokens; limited", extra={"client": client})
            return render(request, ctx, "login.html", 401, next=target, error="Wrong token.")
        ctx.limiter.succeeded(client)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            ctx.guard.new_session(),
            max_age=SESSION_TTL_S,
            path=ROOT,
            httponly=True,
            samesite="strict",
            secure=origin.secure_cookie(request),
        )
        return response

    return run


def logout(ctx: AdminContext, origin: OriginPolicy) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        # Another site's form would otherwise sign the operator out (its answer deletes the
        # cookie whether or not the request carried it): the same origin rule as every button.
        if not origin.allows(request):
            log.warning("admin: a sign-out from another origin was refused")
            message = origin.refusal(request)
            return render(request, ctx, "error.html", 403, csrf=None, message=message)
        response = RedirectResponse(_back(request, None), status_code=303)
        response.delete_cookie(COOKIE_NAME, path=ROOT)
        return response

    return run


def dashboard_routes(ctx: AdminContext, *, public_url: str | None = None) -> list[BaseRoute]:
    origin = OriginPolicy(public_url)

    def view(path: str, handler: Page) -> Route:
        return Route(path, page(ctx, handler), methods=["GET"])

    def post(path: str, verb: buttons.Verb) -> Route:
        run = buttons.button(
            ctx, verb, origin=origin, render=render, form_of=forms.read_form, back=_back
        )
        return Route(path, run, methods=["POST"])

    return [
        view("/", overview),
        view("/jobs/{job_id}", job_page),
        view("/rules", rules_page),
        view("/rules/{name}", rule_page),
        view("/notifications", notifications_page),
        view("/activity", activity_page),
        view("/replay", replay_page),
        Route("/login", login(ctx, origin), methods=["GET", "POST"]),
        Route("/logout", logout(ctx, origin), methods=["POST"]),
        post("/actions/{name}/reset", buttons.reset),
        post("/actions/{name}/disable", buttons.disable),
        post("/actions/{name}/enable", buttons.enable),
        post("/actions/{name}/retry-failed", buttons.retry_failed),
        post("/jobs/{job_id}/retry", buttons.retry),
        post("/replay", buttons.replay_verb),
        Mount("/static", StaticFiles(packages=[("bridge.admin", "static")]), name="admin-static"),
    ]
