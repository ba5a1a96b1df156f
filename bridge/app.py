"""The app assembly: `create_app(settings, role=...)` wires settings, config, store, runtime,
receiver, admin and workers into one Starlette app whose lifespan starts and stops them.

Roles: `serve` mounts the webhook routes and the admin API and runs the workers; `worker` runs
the workers and mounts only /healthz, /readyz and /metrics, so a worker replica can still be
health-checked and scraped on BRIDGE_PORT.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge import admin, redaction, reload
from bridge.config import load_config
from bridge.delivery.clock import SystemClock
from bridge.delivery.opening import open_store
from bridge.delivery.workers import WorkerPool
from bridge.receiver import health_routes, webhook_route
from bridge.receiver.dispatch import BridgeApp
from bridge.receiver.metrics_route import metrics_endpoint
from bridge.receiver.webhooks import WebhookEndpoint
from bridge.runtime import Runtime
from bridge.sources import start_sources

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.delivery.clock import Clock
    from bridge.delivery.store import Store
    from bridge.settings import Settings

log = logging.getLogger("bridge.app")

Role = Literal["serve", "worker"]


def role_label(role: str, workers: bool) -> str:
    """How the log names what a process runs: `serve`, `worker`, `serve, receive only`."""
    return role if workers else f"{role}, receive only"


def create_app(
    settings: Settings,
    *,
    role: Role = "serve",
    config: Config | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    workers: bool = True,
) -> Starlette:
    """The bridge as an ASGI app. `config` and `store` may be given (the CLI loads the config
    first to report errors; tests pass a store); otherwise the lifespan loads and opens them.
    `workers=False` leaves delivery to other processes (and lets tests check the receiver alone).
    """
    runtime = Runtime(settings)
    routes: list[BaseRoute] = [
        *health_routes(runtime),
        Route("/metrics", metrics_endpoint(lambda: runtime.store), methods=["GET"]),
    ]
    if role == "serve":
        routes += extra_routes(runtime)
        routes.append(webhook_route(runtime))  # a catch-all: it must come last

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            loaded = config if config is not None else load_config(settings.config)
            announce(loaded, settings, role=role)
            opened = store
            if opened is None:
                opened = open_store(settings.db, clock)
                await opened.open()
                stack.push_async_callback(opened.close)
            await runtime.start(loaded, opened)
            stack.push_async_callback(runtime.aclose)
            # Hot reload on SIGHUP and when the file changes (bridge/reload.py).
            stack.push_async_callback(await reload.start_reloader(runtime, settings))
            # Sync API sources poll in every role; a lease in the store keeps it to one replica.
            stack.push_async_callback(await start_sources(runtime, clock or SystemClock()))
            if workers:
                stop_workers = await start_workers(runtime)
                stack.push_async_callback(stop_workers)  # runs first: workers stop first
            app.state.runtime = runtime
            # Not "ready" yet: the server binds its socket after the start-up (serve's
            # `_serve` says "ready" once it listens; a port in use fails after this line).
            log.info("bridge started (%s): %s", role_label(role, workers), summary(loaded))
            # Start-up objects (config, imported modules, SDK clients) live for the whole
            # process: moving them out of the collector's reach keeps full collections short,
            # which cut the webhook p99 from ~85 ms to ~20 ms in bench/receive.py.
            gc.collect()
            gc.freeze()
            yield
            log.info("bridge stopping")

    app = BridgeApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: _http_error,
            Exception: _internal_error,
            500: _internal_error,
        },
    )
    if role == "serve":
        app.webhooks = WebhookEndpoint(runtime)  # webhook paths skip Starlette's stack
    return app


def extra_routes(runtime: Runtime) -> list[BaseRoute]:
    """Routes other packages mount on the serving app: the admin API and dashboard (answering
    404 unless BRIDGE_ADMIN_TOKEN is set). The store is resolved per request: the lifespan
    opens it after the routes are built."""
    return admin.routes(runtime, lambda: runtime.store, runtime.settings)


async def start_workers(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    """Start the delivery workers; returns the coroutine function that stops them."""
    pool = WorkerPool(runtime)
    await pool.start()
    return pool.stop


# The webhook secret rules.example.yaml falls back to: public, so anyone could sign with it.
EXAMPLE_SECRET = "change-me"
# Shorter admin tokens are within reach of guessing (the sign-in is rate limited, not closed).
MIN_ADMIN_TOKEN_CHARS = 16


def announce(config: Config, settings: Settings, *, role: Role = "serve") -> None:
    """Log what a person starting the bridge should know, and teach the redactor the secrets."""
    redaction.redactor.set_secrets(
        redaction.secrets_of(config, redaction.settings_secrets(settings))
    )
    for issue in config.warnings:
        log.warning("config: %s", issue)
    if role == "serve":
        _announce_admin(settings.admin_token)
    for webhook in config.webhooks:
        if EXAMPLE_SECRET in webhook.secrets:
            # Not the value itself: the redactor would print it as ***.
            log.warning(
                "webhook %r (%s) accepts the example's public default secret (rules.example.yaml"
                "'s fallback): anyone can sign notifications for it. Set KONTENT_WEBHOOK_SECRET "
                "(or the variable your rules.yaml names) to the secret Kontent.ai shows for the "
                "webhook.",
                webhook.name,
                webhook.path,
            )
    for webhook in config.webhooks:
        if not webhook.verify:
            log.warning(
                "webhook %r (%s) has verify: false: anyone who can reach it can post "
                "notifications. Use this for local testing only.",
                webhook.name,
                webhook.path,
            )


def _announce_admin(token: str | None) -> None:
    if token is None:
        log.info(
            "admin is off: BRIDGE_ADMIN_TOKEN is not set (nor BRIDGE_ADMIN_TOKEN_FILE); "
            "/admin and /admin/api answer 404"
        )
    elif len(token) < MIN_ADMIN_TOKEN_CHARS:
        log.warning(
            "BRIDGE_ADMIN_TOKEN is %d characters long: use at least %d random characters "
            "(openssl rand -hex 32 prints 64), it is all that guards /admin",
            len(token),
            MIN_ADMIN_TOKEN_CHARS,
        )


def summary(config: Config) -> str:
    sources = f", {len(config.sources)} source(s)" if config.sources else ""
    return (
        f"{len(config.webhooks)} webhook(s), {len(config.actions)} action(s), "
        f"{len(config.rules)} rule(s){sources} from {config.source}"
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (no route has the path, or not with this method) as the
    bridge answers everything else: the admin's form under /admin, JSON elsewhere."""
    assert isinstance(exc, HTTPException)
    if request.url.path == "/admin" or request.url.path.startswith("/admin/"):
        return admin.http_error(request, exc.status_code, exc.headers)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """The last resort for a bug: still JSON, still no detail for the client."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal error"}, status_code=500)
