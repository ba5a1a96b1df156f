"""The dashboard at /admin: server-rendered pages, a sign-in form, and POST buttons.

Every page is plain HTML that works without JavaScript; admin.js only adds the response dialog's
Copy button, relative-time refresh and the optional auto-refresh. Buttons are forms that POST
with a CSRF token and come back to the page they were pressed on (303).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bridge.admin import present, safejson
from bridge.admin.auth import COOKIE_NAME, CSRF_FIELD, SESSION_TTL_S, same_origin
from bridge.admin.context import (
    AdminContext,
    BadRequest,
    NotFound,
    action_filter,
    client_of,
    delivery_filter,
    paging,
)
from bridge.admin.params import shown
from bridge.delivery.store import StoreUnavailable

log = logging.getLogger("bridge.admin")

ROOT = "/admin"
MAX_FORM_BYTES = 16 * 1024

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
)
# Stored payloads may hold NaN, lone surrogates or deep nesting: Jinja's own tojson breaks.
templates.filters["tojson"] = safejson.tojson

Page = Callable[[Request, AdminContext, str], Awaitable[Response]]


def render(
    request: Request,
    ctx: AdminContext,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Response:
    now = ctx.now()
    html = templates.get_template(template).render(
        request=request,
        root=ROOT,
        relative=lambda ts: present.relative(ts, now),
        now=now,
        **values,
    )
    return safejson.SafeHTMLResponse(
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
    which = delivery_filter(params)
    action = action_filter(params)
    limit, offset = paging(params)
    actions = await ctx.actions()
    if action is not None and action not in {a["name"] for a in actions}:
        raise NotFound(f"no action named {shown(action)}")
    rows = await ctx.store.deliveries(action=action, filter=which, limit=limit, offset=offset)
    return render(
        request,
        ctx,
        "overview.html",
        csrf=csrf,
        actions=actions,
        rows=rows,
        filter=which,
        action=action,
        limit=limit,
        offset=offset,
        page_url=_page_url(request),
    )


async def job_page(request: Request, ctx: AdminContext, csrf: str) -> Response:
    job = await ctx.job(request.path_params["job_id"])
    return render(request, ctx, "job.html", csrf=csrf, job=job, page_url=_page_url(request))


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


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded fields of a dashboard form (no multipart dependency for four fields)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _page_url(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.url.path}{query}"


def _back(request: Request, target: str | None) -> str:
    """Only paths inside the admin are followed back to (no open redirect)."""
    if target and (target == ROOT or target.startswith(ROOT + "/")):
        return target
    return ROOT


def post_action(ctx: AdminContext, verb: str) -> Callable[[Request], Awaitable[Response]]:
    """A dashboard button: reset, disable, enable or retry, then back to the page."""

    async def run(request: Request) -> Response:
        session = ctx.guard.session_of(request)
        if session is None:
            return render(request, ctx, "login.html", 401, next=request.url.path, error=None)
        form = await _form(request)
        token = str(form.get(CSRF_FIELD, ""))
        if not same_origin(request) or not ctx.guard.csrf_ok(session, token):
            message = "This form is out of date or came from another site. Reload and retry."
            return render(request, ctx, "error.html", 403, csrf=None, message=message)
        try:
            await _apply(ctx, verb, request.path_params)
        except NotFound as exc:
            return render(request, ctx, "error.html", 404, csrf=None, message=str(exc))
        except (LookupError, StoreUnavailable) as exc:
            return render(request, ctx, "error.html", 503, csrf=None, message=str(exc))
        return RedirectResponse(_back(request, str(form.get("next", ""))), status_code=303)

    return run


async def _apply(ctx: AdminContext, verb: str, params: Any) -> None:
    store = ctx.store
    if verb == "retry":
        job = await ctx.job(params["job_id"])
        await store.retry_job(job.row.job_id)
        log.info("admin: retry job from the dashboard", extra={"job_id": job.row.job_id})
        return
    name: str = params["name"]
    if not await ctx.known_action(name):
        raise NotFound(f"no action named {shown(name)}")
    if verb == "reset":
        await store.reset_action(name)
    else:
        await store.set_enabled(name, verb == "enable")
    log.info("admin: %s action from the dashboard", verb, extra={"action": name})


def login(ctx: AdminContext) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        if request.method == "GET":
            status = 200 if ctx.guard.session_of(request) else 401
            return render(request, ctx, "login.html", status, next="", error=None)
        form = await _form(request)
        target = _back(request, str(form.get("next", "")))
        client = client_of(request)
        wait_s = ctx.limiter.retry_after_s(client)
        if wait_s is not None:  # ratelimit.py: the token is not even compared
            error = f"Too many failed sign-ins. Try again in {wait_s} s."
            headers = {"Retry-After": str(wait_s)}
            return render(request, ctx, "login.html", 429, headers, next=target, error=error)
        if not same_origin(request):
            return render(request, ctx, "login.html", 401, next=target, error="Wrong token.")
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
            secure=request.url.scheme == "https",
        )
        return response

    return run


def logout(ctx: AdminContext) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        response = RedirectResponse(_back(request, None), status_code=303)
        response.delete_cookie(COOKIE_NAME, path=ROOT)
        return response

    return run


def dashboard_routes(ctx: AdminContext) -> list[BaseRoute]:
    def view(path: str, handler: Page) -> Route:
        return Route(path, page(ctx, handler), methods=["GET"])

    return [
        view("/", overview),
        view("/jobs/{job_id}", job_page),
        view("/rules", rules_page),
        view("/rules/{name}", rule_page),
        view("/notifications", notifications_page),
        Route("/login", login(ctx), methods=["GET", "POST"]),
        Route("/logout", logout(ctx), methods=["POST"]),
        Route("/actions/{name}/reset", post_action(ctx, "reset"), methods=["POST"]),
        Route("/actions/{name}/disable", post_action(ctx, "disable"), methods=["POST"]),
        Route("/actions/{name}/enable", post_action(ctx, "enable"), methods=["POST"]),
        Route("/jobs/{job_id}/retry", post_action(ctx, "retry"), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("bridge.admin", "static")]), name="admin-static"),
    ]
