"""The HTTP side: webhook routes and health checks. It stores notifications, never runs actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute, Route

from bridge.receiver.health import healthz, readyz
from bridge.receiver.webhooks import WebhookEndpoint

if TYPE_CHECKING:
    from bridge.runtime import Runtime

__all__ = ["health_routes", "webhook_route"]


def health_routes(runtime: Runtime) -> list[BaseRoute]:
    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz(runtime), methods=["GET", "HEAD"]),
    ]


def webhook_route(runtime: Runtime) -> BaseRoute:
    """A catch-all route, mounted last: the endpoint resolves the path in the current config."""
    methods = ["POST", "GET", "PUT", "PATCH", "DELETE"]
    return Route("/{path:path}", WebhookEndpoint(runtime), methods=methods)
