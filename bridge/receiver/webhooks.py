"""The webhook endpoint: read, verify, parse, plan, store; answer only once it is durable.

One endpoint serves every configured webhook path and looks the path up in the runtime's
*current* configuration, so a configuration swap changes the routes without rebuilding the app.
The receiver never calls an action: it hands the planned jobs to the store in one call and
returns; the workers do the rest.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.datastructures import URL
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from bridge import metrics
from bridge.delivery.store import StoreUnavailable
from bridge.events import Notification, PayloadError
from bridge.logformat import request_id_var
from bridge.payloads import parse_body
from bridge.receiver import rejections
from bridge.receiver.body import BodyBudget, BodyError, read_body
from bridge.signatures import signatures_from, verify

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
# Bodies larger than this are verified, decoded and planned in a worker thread.
OFF_LOOP_BYTES = 256 * 1024
# The Event fields (and the notification key) the store puts in index entries, and their limits.
_INDEXED_FIELDS = ("id", "language", "delivery_slot")
MAX_ID_BYTES = 512
MAX_KEY_BYTES = 2048


# Our own ids: a random per-process prefix and a counter, 32 hex digits like a uuid4's. The
# prefix (80 random bits) keeps them unique across restarts and replicas; the counter makes
# each one a few hundred nanoseconds instead of a uuid4's read of os.urandom.
_ID_PREFIX = uuid.uuid4().hex[:20]
_id_counter = itertools.count()


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFFFFFF:012x}"


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by (lowercase, as ASGI sends them) name, decoded once; a repeated
    header keeps its first value, as Starlette's `Headers.get` does. One dict, built in one
    pass, instead of a scan of the raw list for each of the five headers the path reads."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in reversed(scope["headers"])
    }


def request_id_of(headers: Mapping[str, str]) -> str:
    """Kontent.ai's own id when it sent one (so logs on both sides line up), else a new one."""
    for name in _INCOMING_REQUEST_ID:
        value = headers.get(name, "").strip()
        if value and len(value) <= _MAX_REQUEST_ID_CHARS and value.isprintable():
            return value
    return new_request_id()


def path_of(scope: Scope) -> str:
    """The request path as `Request.url.path` gives it, without building a URL when the path is
    plain (no root path, no `?` or `#` decoded into it, no leading `//`)."""
    path: str = scope["path"]
    if scope.get("root_path") or "?" in path or "#" in path or path.startswith("//"):
        return URL(scope=scope).path
    return path


def error(status: int, reason: str, request_id: str, **headers: str) -> JSONResponse:
    if not reason.isascii():
        # A reason quoting the input must not hold what UTF-8 cannot encode (a lone surrogate).
        reason = reason.encode("utf-8", "backslashreplace").decode("utf-8")
    return JSONResponse(
        {"error": reason}, status_code=status, headers={REQUEST_ID_HEADER: request_id, **headers}
    )


def _body_error_headers(status: int) -> dict[str, str]:
    """A stalled body closes its connection; a full body budget asks for a retry soon."""
    if status == 408:
        return {"Connection": "close"}
    if status == 503:
        return {"Retry-After": "1"}
    return {}


class WebhookEndpoint:
    """ASGI endpoint for `POST <webhook path>`; every failure is a JSON answer, never a 500.

    A plain ASGI app rather than a Starlette request handler: the hot path needs the path, a few
    headers and the body, and skipping the Request/URL objects and the per-request exception
    wrapper is a measurable share of what accepting a webhook costs (bench/receive.py).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        # At least one body of the largest size fits, whatever the two settings say.
        self.bodies = BodyBudget(max(settings.max_pending_body_bytes, settings.max_body_bytes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(scope, receive)
        await response(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        headers = request_headers(scope)
        request_id = request_id_of(headers)
        token = request_id_var.set(request_id)
        try:
            response = await self._handle(scope, receive, headers, request_id)
        except Exception:
            # Only a bug gets here: bad input has its own answers above.
            log.exception("unexpected error handling %s", path_of(scope))
            return error(500, "internal error", request_id)
        finally:
            request_id_var.reset(token)
        response.headers.setdefault(REQUEST_ID_HEADER, request_id)
        return response

    async def _handle(
        self, scope: Scope, receive: Receive, headers: Mapping[str, str], request_id: str
    ) -> Response:
        webhook = self._webhook_for(path_of(scope))
        if webhook is None:
            return error(404, "no webhook is configured at this path", request_id)
        if scope["method"] != "POST":
            return error(405, "webhooks accept POST only", request_id, Allow="POST")
        if not _is_json(headers.get("content-type", "")):
            return error(415, "content type must be application/json", request_id)
        settings = self.runtime.settings
        try:
            body = await read_body(
                headers, receive, settings.max_body_bytes, settings.body_timeout_s, self.bodies
            )
        except BodyError as exc:
            rejections.record(webhook.name, exc.status, exc.reason, request_id)
            return error(exc.status, exc.reason, request_id, **_body_error_headers(exc.status))
        try:
            return await self._verified(webhook, body, headers, request_id)
        finally:
            self.bodies.give_back(len(body))

    async def _verified(
        self, webhook: WebhookConfig, body: bytes, headers: Mapping[str, str], request_id: str
    ) -> Response:
        # Verifying, decoding and planning a few MB takes long enough to stall every other
        # request and health check: then a worker thread does it and the loop keeps answering.
        # Small bodies, the usual case, stay inline: a thread hop costs more than they do.
        large = len(body) > OFF_LOOP_BYTES
        if webhook.verify and not (
            await asyncio.to_thread(verify, body, signatures_from(headers), webhook.secrets)
            if large
            else verify(body, signatures_from(headers), webhook.secrets)
        ):
            metrics.signature_failed(webhook.name)
            rejections.record(webhook.name, 401, _signature_problem(headers), request_id)
            log.warning(
                "webhook %r: rejected a request with a missing or invalid signature",
                webhook.name,
                extra={"request_id": request_id},
            )
            return error(401, "invalid signature", request_id)
        try:
            notifications = (
                await asyncio.to_thread(parse_body, body, webhook.name)
                if large
                else parse_body(body, webhook.name)
            )
        except PayloadError as exc:
            log.info("webhook %r: rejected a malformed payload: %s", webhook.name, exc)
            rejections.record(webhook.name, 400, str(exc), request_id)
            return error(400, str(exc), request_id)
        if (reason := oversized_identifier(notifications)) is not None:
            log.info("webhook %r: rejected a payload: %s", webhook.name, reason)
            rejections.record(webhook.name, 400, reason, request_id)
            return error(400, reason, request_id)
        return await self._accept(webhook, notifications, request_id, large=large)

    async def _accept(
        self,
        webhook: WebhookConfig,
        notifications: list[Notification],
        request_id: str,
        *,
        large: bool = False,
    ) -> Response:
        if not notifications:
            # Nothing to keep, so nothing to lose: answer at once without touching the store.
            return _accepted(0, 0, 0, request_id)
        notifications = await self.runtime.resolver.resolve(notifications)  # legacy ids
        jobs = await self.runtime.engine.plan_async(notifications, large=large)
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

    def serves(self, scope: Scope) -> bool:
        """Whether the path is a configured webhook's (False until a configuration is loaded)."""
        return self.runtime.loaded and self._webhook_for(path_of(scope)) is not None

    def _webhook_for(self, path: str) -> WebhookConfig | None:
        for webhook in self.runtime.config.webhooks:
            if webhook.path.rstrip("/") == path.rstrip("/"):
                return webhook
        return None


def oversized_identifier(notifications: list[Notification]) -> str | None:
    """Why a notification cannot be stored: an identifier the store indexes is too long.

    PostgreSQL refuses index entries over about 2,700 bytes, which made a long random item id
    a 503 that Kontent.ai would retry for three days. Kontent.ai's ids are GUIDs and its
    codenames at most 60 characters, so the limits are far above anything real.
    """
    short = MAX_ID_BYTES // 4  # UTF-8 takes at most 4 bytes a character: shorter is in limits
    for index, notification in enumerate(notifications):
        suspect = len(notification.key) > MAX_KEY_BYTES // 4
        for event in notification.events:
            if (
                len(event.id or "") > short
                or len(event.language or "") > short
                or len(event.delivery_slot or "") > short
            ):
                suspect = True
        if suspect and (reason := _measured(notification)) is not None:
            return f"{_which(notification, index)}: {reason}"
    return None


def _measured(notification: Notification) -> str | None:
    if len(notification.key.encode()) > MAX_KEY_BYTES:
        return f"its message id makes a key longer than {MAX_KEY_BYTES} bytes"
    for event in notification.events:
        for name in _INDEXED_FIELDS:
            value = getattr(event, name)
            if value is not None and (size := len(value.encode())) > MAX_ID_BYTES:
                return f"its {name} is {size} bytes long, more than {MAX_ID_BYTES}"
    return None


def _which(notification: Notification, index: int) -> str:
    if notification.format == "current":
        return f"notifications[{index}]"
    return f"notification {index} of the legacy payload"


def _accepted(accepted: int, duplicates: int, jobs: int, request_id: str) -> Response:
    """The bytes JSONResponse would write, without building a JSON encoder per request."""
    body = b'{"accepted":%d,"duplicates":%d,"jobs":%d}' % (accepted, duplicates, jobs)
    return Response(body, media_type="application/json", headers={REQUEST_ID_HEADER: request_id})


def _is_json(content_type: str) -> bool:
    """`application/json`, with or without parameters such as `charset=utf-8`."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def _signature_problem(headers: Mapping[str, str]) -> str:
    """The 401's reason for the admin's Activity page (the client only hears "invalid")."""
    if not signatures_from(headers):
        return "no X-Kontent-ai-Signature (or X-KC-Signature) header"
    return "the signature verified with none of the webhook's secrets"
