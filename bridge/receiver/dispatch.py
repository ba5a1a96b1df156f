"""The serving app: Starlette, with requests to a configured webhook path sent straight to the
webhook endpoint.

Starlette's own stack (error middleware, exception middleware, the router trying each admin and
health route's pattern before the catch-all) does nothing for a webhook: the endpoint answers
every failure itself and its paths cannot overlap the bridge's own (config/sections.py
reserves /healthz, /readyz, /metrics and /admin). Passing it by was a measurable share of the
CPU per accepted webhook (bench/receive.py, docs/scaling.md). Everything else, and every
request before the configuration is loaded, goes through Starlette as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from bridge.receiver.webhooks import WebhookEndpoint


class BridgeApp(Starlette):
    """A Starlette app; set `webhooks` to the endpoint that takes webhook paths first."""

    webhooks: WebhookEndpoint | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.webhooks
        if endpoint is not None and scope["type"] == "http" and endpoint.serves(scope):
            await endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
