"""A fake Kontent.ai Delivery (and Preview Delivery) API: items by id or codename, 404, 429."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


def item_json(
    codename: str,
    *,
    id: str,
    language: str = "en",
    type: str = "article",
    name: str | None = None,
    elements: dict[str, Any] | None = None,
    collection: str = "default",
) -> dict[str, Any]:
    """A content item object shaped like the Delivery API's."""
    return {
        "system": {
            "id": id,
            "name": name or codename.replace("_", " ").title(),
            "codename": codename,
            "language": language,
            "type": type,
            "collection": collection,
            "sitemap_locations": [],
            "last_modified": "2026-11-23T10:00:00.0000000Z",
            "workflow": "default",
            "workflow_step": "published",
        },
        "elements": elements or {},
    }


class FakeDelivery(FakeServer):
    """Serves `/{env}/items` (filtered by system.id) and `/{env}/items/{codename}`.

    `publish(env, item)` makes a variant visible to the published API; `preview=True` to the
    preview API only. Preview requests must carry `Bearer <preview_key>`.
    """

    def __init__(self, preview_key: str = "preview-key") -> None:
        super().__init__()
        self.preview_key = preview_key
        self.published: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.preview: dict[tuple[str, str, str], dict[str, Any]] = {}

    def publish(self, env: str, item: dict[str, Any], *, preview: bool = False) -> None:
        system = item["system"]
        key = (env, system["id"], system["language"])
        self.preview[key] = item
        if not preview:
            self.published[key] = item

    def unpublish(self, env: str, id: str, language: str) -> None:
        self.published.pop((env, id, language), None)

    def routes(self, app: web.Application) -> None:
        for prefix in ("", "/preview"):
            app.router.add_get(prefix + "/{env}/items", self._list)
            app.router.add_get(prefix + "/{env}/items/{codename}", self._one)

    def _store(self, request: web.Request) -> dict[tuple[str, str, str], dict[str, Any]] | None:
        if request.path.startswith("/preview/"):
            if request.headers.get("Authorization") != f"Bearer {self.preview_key}":
                return None
            return self.preview
        return self.published

    def _find(self, request: web.Request, **match: str) -> list[dict[str, Any]]:
        store = self._store(request) or {}
        env = request.match_info["env"]
        language = request.query.get("system.language") or request.query.get("language")
        found = []
        for (item_env, _, item_language), item in store.items():
            system = item["system"]
            if item_env != env or (language and item_language != language):
                continue
            if all(system.get(k) == v for k, v in match.items()):
                found.append(item)
        return found

    async def _list(self, request: web.Request) -> web.Response:
        if self._store(request) is None:
            return _unauthorized()
        match = {"id": request.query["system.id"]} if "system.id" in request.query else {}
        items = self._find(request, **match)
        return web.json_response(
            {
                "items": items,
                "modular_content": {},
                "pagination": {"skip": 0, "limit": 0, "count": len(items), "next_page": ""},
            }
        )

    async def _one(self, request: web.Request) -> web.Response:
        if self._store(request) is None:
            return _unauthorized()
        items = self._find(request, codename=request.match_info["codename"])
        if not items:
            return web.json_response(
                {"message": "The requested content item was not found.", "error_code": 100},
                status=404,
            )
        return web.json_response({"item": items[0], "modular_content": {}})


def _unauthorized() -> web.Response:
    return web.json_response(
        {"message": "Missing or invalid API key.", "error_code": 6}, status=401
    )
