"""The webhook endpoint: read, verify, parse, plan, store; answer only once it is durable.

One endpoint serves every configured webhook path and looks the path up in the runtime's
*current* configuration, so a configuration swap changes the routes without rebuilding the app.
The receiver never calls an action: it hands the planned jobs to the store in one call and
returns; the workers do the rest.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge import metrics
from bridge.delivery.store import StoreUnavailable
from bridge.events import Notification, PayloadError, parse_body
from bridge.logformat import request_id_var
from bridge.receiver.body import BodyError, read_body
from bridge.signatures import signature_from, verify

if TYPE_CHECKING:
    from bridge.config import WebhookConfig
    from bridge.runtime import Runtime

log = logging.getLogger("bridge.receiver")

REQUEST_ID_HEADER = "X-Request-Id"
# Kontent.ai retries on its own schedule; this is a hint for anyone else posting to us.
RETRY_AFTER_S = 30
# Kontent.ai sends the notification's id in `request-id`; other senders may use the usual name.
_INCOMING_REQUEST_ID = ("request-id", "x-request-id")
_MAX_REQUEST_ID_CHARS = 200


def request_id_of(request: Request) -> str:
    """Kontent.ai's own id when it sent one (so logs on both sides line up), else a new one."""
    for name in _INCOMING_REQUEST_ID:
        value = request.headers.get(name, "").strip()
        if value and len(value) <= _MAX_REQUEST_ID_CHARS and value.isprintable():
            return value
    return uuid.uuid4().hex


def error(status: int, reason: str, request_id: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": reason}, status_code=status, headers={REQUEST_ID_HEADER: request_id, **headers}
    )


class WebhookEndpoint:
    """Starlette endpoint for `POST <webhook path>`; every failure is a JSON answer, never a 500."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, request: Request) -> Response:
        request_id = request_id_of(request)
        token = request_id_var.set(request_id)
        try:
            response = await self._handle(request, request_id)
        except Exception:
            # Only a bug gets here: bad input has its own answers above.
            log.exception("unexpected error handling %s", request.url.path)
            return error(500, "internal error", request_id)
        finally:
            request_id_var.reset(token)
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)
        return response

    async def _handle(self, request: Request, request_id: str) -> Response:
        webhook = self._webhook_for(request.url.path)
        if webhook is None:
            return error(404, "no webhook is configured at this path", request_id)
        if request.method != "POST":
            return error(405, "webhooks accept POST only", request_id, Allow="POST")
        if not _is_json(request.headers.get("content-type", "")):
            return error(415, "content type must be application/json", request_id)
        try:
            body = await read_body(request, self.runtime.settings.max_body_bytes)
        except BodyError as exc:
            return error(exc.status, exc.reason, request_id)
        if webhook.verify and not verify(body, signature_from(request.headers), webhook.secrets):
            metrics.signature_failed(webhook.name)
            log.warning(
                "webhook %r: rejected a request with a missing or invalid signature",
                webhook.name,
                extra={"request_id": request_id},
            )
            return error(401, "invalid signature", request_id)
        try:
            notifications = parse_body(body, webhook.name)
        except PayloadError as exc:
            log.info("webhook %r: rejected a malformed payload: %s", webhook.name, exc)
            return error(400, str(exc), request_id)
        return await self._accept(webhook, notifications, request_id)

    async def _accept(
        self, webhook: WebhookConfig, notifications: list[Notification], request_id: str
    ) -> Response:
        if not notifications:
            # Nothing to keep, so nothing to lose: answer at once without touching the store.
            return _accepted(0, 0, 0, request_id)
        jobs = self.runtime.engine.plan(notifications)
        store = self.runtime.store
        try:
            if store is None:
                raise StoreUnavailable("the store is not open")
            result = await store.accept(notifications, jobs, request_id=request_id)
        except StoreUnavailable as exc:
            log.error("store unavailable, answered 503: %s", exc, extra={"request_id": request_id})
            return error(
                503,
                "store unavailable, retry later",
                request_id,
                **{"Retry-After": str(RETRY_AFTER_S)},
            )
        metrics.notifications_received([e for n in notifications for e in n.events])
        metrics.duplicates(webhook.name, result.duplicates)
        log.info(
            "webhook %r: accepted %d notification(s), %d duplicate(s), %d job(s)",
            webhook.name,
            result.accepted,
            result.duplicates,
            result.jobs,
            extra={"request_id": request_id},
        )
        return _accepted(result.accepted, result.duplicates, result.jobs, request_id)

    def _webhook_for(self, path: str) -> WebhookConfig | None:
        for webhook in self.runtime.config.webhooks:
            if webhook.path.rstrip("/") == path.rstrip("/"):
                return webhook
        return None


def _accepted(accepted: int, duplicates: int, jobs: int, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"accepted": accepted, "duplicates": duplicates, "jobs": jobs},
        headers={REQUEST_ID_HEADER: request_id},
    )


def _is_json(content_type: str) -> bool:
    """`application/json`, with or without parameters such as `charset=utf-8`."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"
