"""The admin JSON API under /admin/api, behind `Authorization: Bearer $BRIDGE_ADMIN_TOKEN`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bridge.admin import operations, present, search, sourceview
from bridge.admin.auth import bearer_credentials
from bridge.admin.context import (
    AdminContext,
    BadRequest,
    NotFound,
    action_filter,
    client_of,
    delivery_filter,
    paging,
)
from bridge.admin.openapi import OPENAPI
from bridge.admin.params import shown
from bridge.admin.safejson import SafeJSONResponse
from bridge.delivery.store import StoreUnavailable

log = logging.getLogger("bridge.admin")

Handler = Callable[[Request, AdminContext], Awaitable[Any]]


def _error(status: int, message: str, **headers: str) -> Response:
    return SafeJSONResponse({"error": message}, status_code=status, headers=headers or None)


def _unauthorized() -> Response:
    return _error(
        401, "missing or wrong admin token", **{"WWW-Authenticate": 'Bearer realm="admin"'}
    )


def authenticate(ctx: AdminContext, request: Request) -> Response | None:
    """None when the bearer token is right; else the 401, or a 429 while this client (or all
    clients together) has had too many wrong tokens (ratelimit.py: the token is then not
    compared at all). A request without a token is not a guess and is not counted."""
    credentials = bearer_credentials(request)
    if credentials is None:
        return _unauthorized()
    client = client_of(request)
    wait_s = ctx.limiter.retry_after_s(client)
    if wait_s is not None:
        message = f"too many wrong admin tokens; try again in {wait_s} s"
        return _error(429, message, **{"Retry-After": str(wait_s)})
    if not ctx.guard.token_matches(credentials):
        log.warning("admin api: wrong admin token", extra={"client": client})
        if ctx.limiter.failed(client):
            log.warning("admin: too many wrong tokens; limited", extra={"client": client})
        return _unauthorized()
    ctx.limiter.succeeded(client)
    return None


def endpoint(ctx: AdminContext, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: check the bearer token, turn known errors into 4xx/503, never a 500 page.

    Every answer is a SafeJSONResponse: whatever the store holds, it encodes."""

    async def run(request: Request) -> Response:
        refused = authenticate(ctx, request)
        if refused is not None:
            return refused
        try:
            result = await handler(request, ctx)
        except BadRequest as exc:
            return _error(400, str(exc))
        except NotFound as exc:
            return _error(404, str(exc))
        except (LookupError, StoreUnavailable) as exc:  # the store is not open or is down
            return _error(503, str(exc))
        return result if isinstance(result, Response) else SafeJSONResponse(result)

    return run


async def list_actions(request: Request, ctx: AdminContext) -> Any:
    return {"actions": present.plain(await operations.actions_with_cause(ctx))}


async def list_deliveries(request: Request, ctx: AdminContext) -> Any:
    """The delivery log, searched (search.py: the same search as the dashboard's form)."""
    params = request.query_params
    limit, offset = paging(params)
    which = delivery_filter(params)
    action = action_filter(params)
    asked = search.delivery_search(params, ctx.now())
    found = await search.search_deliveries(ctx, asked, limit=limit, offset=offset)
    page = present.page(found.rows, limit, offset)
    return {"filter": which, "action": action, **page, "complete": found.scanned_all}


async def show_job(request: Request, ctx: AdminContext) -> Any:
    job = await ctx.job(request.path_params["job_id"])
    action = ctx.configured_actions().get(job.row.action)
    secret_names = getattr(action.action_class, "secret_options", ()) if action else ()
    return present.job_json(job, secret_names) | await operations.job_extras(ctx, job)


async def retry_job(request: Request, ctx: AdminContext) -> Any:
    job_id = (await ctx.job(request.path_params["job_id"])).row.job_id
    retried = await ctx.store.retry_job(job_id)
    log.info("admin: retry job", extra={"job_id": str(job_id), "retried": retried})
    return {"job_id": job_id, "retried": bool(retried)}


async def reset_action(request: Request, ctx: AdminContext) -> Any:
    name = await _action_name(request, ctx)
    reset = await ctx.store.reset_action(name)
    log.info("admin: reset action", extra={"action": name, "reset": reset})
    return {"action": name, "reset": bool(reset)}


async def disable_action(request: Request, ctx: AdminContext) -> Any:
    return await _set_enabled(request, ctx, False)


async def enable_action(request: Request, ctx: AdminContext) -> Any:
    return await _set_enabled(request, ctx, True)


async def _set_enabled(request: Request, ctx: AdminContext, enabled: bool) -> Any:
    name = await _action_name(request, ctx)
    await ctx.store.set_enabled(name, enabled)
    log.info("admin: %s action", "enable" if enabled else "disable", extra={"action": name})
    return {"action": name, "enabled": enabled}


async def list_rules(request: Request, ctx: AdminContext) -> Any:
    stats = await ctx.store.rule_stats()
    rules = []
    for rule in ctx.rules():
        stat = stats.get(getattr(rule, "name", ""))
        rules.append(_rule_json(rule, stat) | {"stop": bool(getattr(rule, "stop", False))})
    return {"rules": rules}


async def show_rule(request: Request, ctx: AdminContext) -> Any:
    name: str = request.path_params["name"]
    rule = ctx.rule(name)
    limit, _ = paging(request.query_params)
    stat = (await ctx.store.rule_stats()).get(name)
    matches = await ctx.store.rule_matches(name, limit=limit)
    return _rule_json(rule, stat) | {"matches": [present.plain(m) for m in matches]}


def _rule_json(rule: Any, stat: Any) -> dict[str, Any]:
    """A rule's name, its actions and how often it matched (no stats yet: never)."""
    return {
        "name": getattr(rule, "name", ""),
        "actions": present.rule_actions(rule),
        "matched": getattr(stat, "matched", 0) if stat else 0,
        "last_matched_at": present.iso(getattr(stat, "last_matched_at", None)),
    }


async def list_notifications(request: Request, ctx: AdminContext) -> Any:
    limit, offset = paging(request.query_params)
    rows = await ctx.store.notifications(limit=limit, offset=offset)
    return present.page(rows, limit, offset)


async def show_notification(request: Request, ctx: AdminContext) -> Any:
    key: str = request.path_params["key"]
    row = await ctx.store.notification(key)
    if row is None:
        raise NotFound(f"no stored notification with the key {shown(key)}")
    return present.plain(row)


async def openapi(request: Request, ctx: AdminContext) -> Any:
    return OPENAPI


async def _action_name(request: Request, ctx: AdminContext) -> str:
    name: str = request.path_params["name"]
    if not await ctx.known_action(name):
        raise NotFound(f"no action named {shown(name)}")
    return name


def api_routes(ctx: AdminContext) -> list[BaseRoute]:
    def route(path: str, handler: Handler, method: str = "GET") -> Route:
        return Route(path, endpoint(ctx, handler), methods=[method])

    return [
        route("/openapi.json", openapi),
        route("/actions", list_actions),
        route("/actions/{name}/reset", reset_action, "POST"),
        route("/actions/{name}/disable", disable_action, "POST"),
        route("/actions/{name}/enable", enable_action, "POST"),
        route("/actions/{name}/retry", operations.retry_action_jobs, "POST"),
        route("/activity", operations.show_activity),
        route("/reload", operations.show_reload),
        route("/sources", sourceview.list_sources),
        route("/replay", operations.replay_notifications, "POST"),
        route("/deliveries", list_deliveries),
        route("/jobs/{job_id}", show_job),
        route("/jobs/{job_id}/retry", retry_job, "POST"),
        route("/rules", list_rules),
        route("/rules/{name}", show_rule),
        route("/notifications", list_notifications),
        route("/notifications/{key}", show_notification),
    ]
