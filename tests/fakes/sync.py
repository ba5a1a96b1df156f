"""A local Kontent.ai Sync API v2 that follows the documented contract.

`POST /{slot}/v2/{env}/sync/init` answers empty delta lists and an `X-Continuation` token that
stands for "now"; `GET /{slot}/v2/{env}/sync` with a token answers the changes made after it,
`page_size` at a time, each page with the token to continue from, and an empty page (with a
token) once there is nothing new. `{slot}` is `published` or `preview`, standing for the
Delivery and the Preview Delivery host (`api_url: <url>/preview/v2`). Keys are checked as the
API does: the preview slot always needs the preview key; the published slot needs the secure
access key when one is set. Unknown tokens are a 400. Errors are Kontent.ai's error object
(`error_body`: message, request_id, error_code, specific_code). Scripted answers
(`fail_next(429, headers={"Retry-After": "2"})`) come first, as in every fake; `stall()` holds
every sync request until `release()`, for shutdowns and leases mid-request; `stuck = True`
answers every page with the token it was asked with (an API that does not move on).

The fake does not collapse several changes of one object into its last one, as the real API
does; tests change an object at most once between two polls.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

KINDS = ("items", "types", "languages", "taxonomies")


@dataclass
class Log:
    """The changes of one environment and slot, in order; a token is a position in it."""

    changes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def error_body(message: str, error_code: int = 0, specific_code: int = 0) -> dict[str, Any]:
    """Kontent.ai's error object, as its Delivery and Sync APIs answer it."""
    return {
        "message": message,
        "request_id": uuid.uuid4().hex,
        "error_code": error_code,
        "specific_code": specific_code,
    }


def item_system(
    id: str,
    *,
    language: str = "en",
    last_modified: str = "2026-01-08T13:54:54.3153716Z",
    name: str | None = None,
    type: str = "article",
    collection: str = "default",
    workflow_step: str = "published",
) -> dict[str, Any]:
    return {
        "id": id,
        "name": name or f"Item {id}",
        "codename": id.replace("-", "_"),
        "language": language,
        "type": type,
        "collection": collection,
        "sitemap_locations": [],
        "last_modified": last_modified,
        "workflow": "default",
        "workflow_step": workflow_step,
    }


class FakeSync(FakeServer):
    def __init__(
        self,
        *,
        page_size: int = 2,
        preview_key: str = "preview-key",
        secure_key: str | None = None,
    ) -> None:
        super().__init__()
        self.page_size = page_size
        self.preview_key = preview_key
        self.secure_key = secure_key
        self.logs: dict[tuple[str, str], Log] = {}
        self.inits = 0
        self.syncs = 0
        self.stalled = 0  # sync requests held by stall(), waiting now
        self.stuck = False  # every page answers the token it was asked with
        self._released: asyncio.Event | None = None

    def stall(self) -> None:
        """Hold every sync request from now on until `release()` (none answers meanwhile)."""
        self._released = asyncio.Event()

    def release(self) -> None:
        if self._released is not None:
            self._released.set()
            self._released = None

    def base_url(self, slot: str = "published") -> str:
        return f"{self.url}/{slot}/v2"

    def change(
        self,
        env: str,
        system: dict[str, Any],
        *,
        kind: str = "items",
        change_type: str = "changed",
        timestamp: str = "2026-01-08T13:55:00.1234567Z",
        slot: str = "published",
    ) -> None:
        """Record a change, as Kontent.ai would once it reached the Delivery (or Preview) API."""
        delta = {"change_type": change_type, "timestamp": timestamp, "data": {"system": system}}
        self.logs.setdefault((env, slot), Log()).changes.append((kind, delta))

    async def _notify(self) -> None:
        """Wake wait_until(): a stalled request changed the fake's state before answering."""
        async with self._received:
            self._received.notify_all()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/{slot}/v2/{env}/sync/init", self._init)
        app.router.add_get("/{slot}/v2/{env}/sync", self._sync)

    def _refused(self, request: web.Request) -> web.Response | None:
        slot = request.match_info["slot"]
        wanted = self.preview_key if slot == "preview" else self.secure_key
        if wanted is None:
            return None
        if request.headers.get("Authorization") != f"Bearer {wanted}":
            return web.json_response(error_body("Missing or invalid API key", 4), status=401)
        return None

    def _log(self, request: web.Request) -> Log:
        key = (request.match_info["env"], request.match_info["slot"])
        return self.logs.setdefault(key, Log())

    async def _init(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        self.inits += 1
        log = self._log(request)
        return _answer([], self._token(request, len(log.changes)))

    async def _sync(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self._released is not None:
            released = self._released
            self.stalled += 1
            await self._notify()
            try:
                await released.wait()
            finally:
                self.stalled -= 1
        position = self._position(request)
        if position is None:
            return web.json_response(error_body("Invalid continuation token", 100), status=400)
        self.syncs += 1
        log = self._log(request)
        page = log.changes[position : position + self.page_size]
        after = position if self.stuck else position + len(page)
        return _answer(page, self._token(request, after))

    def _token(self, request: web.Request, position: int) -> str:
        return f"{request.match_info['slot']}:{request.match_info['env']}:{position}"

    def _position(self, request: web.Request) -> int | None:
        token = request.headers.get("X-Continuation", "")
        prefix = self._token(request, 0)[:-1]
        # `<position>~<tag>` is another token for the same position (the real API's tokens are
        # opaque; a scripted page uses one to move on without moving past a change).
        rest = token.removeprefix(prefix).split("~", 1)[0]
        if not token.startswith(prefix) or not rest.isdigit():
            return None
        position = int(rest)
        return position if position <= len(self._log(request).changes) else None


def _answer(page: list[tuple[str, dict[str, Any]]], token: str) -> web.Response:
    body: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for kind, delta in page:
        body[kind].append(delta)
    return web.json_response(body, headers={"X-Continuation": token})
