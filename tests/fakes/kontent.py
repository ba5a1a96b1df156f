"""A fake Kontent.ai Delivery (and Preview Delivery) API: items by id or codename, 404, 429.

Also the used-in listings (`/{env}/items|assets/{codename}/used-in`), computed from the stored
items' linked items, rich text and asset elements and paged `page_size` at a time with
`X-Continuation`; and `modular_content` (linked items to `depth`, plus the components given to
`publish`) in item responses. The item listing filters on `system.type` and
`elements.<taxonomy>[contains]` too, and with one of those it pages by `skip` and `limit`
(at most `page_size`) as the API does; `/{env}/types` and `/{env}/languages` are derived from
the stored items (a taxonomy element's `taxonomy_group` as the item carries it) and paged alike.
"""

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


def not_found(codename: str) -> dict[str, Any]:
    """Kontent.ai's own 404 body for an item that is not there (error code 100)."""
    return {
        "message": f"The requested content item '{codename}' was not found.",
        "request_id": "|4c7f2a7e1d9b4c4e.1b2c3d4e_",
        "error_code": 100,
        "specific_code": 0,
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
        self.components: dict[str, dict[str, dict[str, Any]]] = {}  # item codename -> components
        self.page_size = 100
        self.listing_requests: list[tuple[str, dict[str, str]]] = []  # paged listings asked

    def publish(
        self,
        env: str,
        item: dict[str, Any],
        *,
        preview: bool = False,
        components: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        system = item["system"]
        key = (env, system["id"], system["language"])
        self.preview[key] = item
        if not preview:
            self.published[key] = item
        if components:
            self.components[system["codename"]] = components

    def unpublish(self, env: str, id: str, language: str) -> None:
        self.published.pop((env, id, language), None)

    def routes(self, app: web.Application) -> None:
        for prefix in ("", "/preview"):
            app.router.add_get(prefix + "/{env}/items", self._list)
            app.router.add_get(prefix + "/{env}/items/{codename}", self._one)
            app.router.add_get(prefix + "/{env}/items/{codename}/used-in", self._item_used_in)
            app.router.add_get(prefix + "/{env}/assets/{codename}/used-in", self._asset_used_in)
            app.router.add_get(prefix + "/{env}/types", self._types)
            app.router.add_get(prefix + "/{env}/languages", self._languages)

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
        if "system.type" in request.query:
            match["type"] = request.query["system.type"]
        items = self._find(request, **match)
        tagged = [
            (key.removeprefix("elements.").removesuffix("[contains]"), value)
            for key, value in request.query.items()
            if key.startswith("elements.") and key.endswith("[contains]")
        ]
        for element, term in tagged:
            items = [i for i in items if term in _terms(i, element)]
        if not match.get("type") and not tagged:
            return web.json_response(
                {
                    "items": items,
                    "modular_content": self._modular_content(request, items),
                    "pagination": {"skip": 0, "limit": 0, "count": len(items), "next_page": ""},
                }
            )
        items.sort(key=lambda i: (i["system"]["codename"], i["system"]["language"]))
        return self._paged(request, "items", items, modular_content={})

    async def _types(self, request: web.Request) -> web.Response:
        if self._store(request) is None:
            return _unauthorized()
        types: dict[str, dict[str, Any]] = {}
        for item in self._find(request):
            elements = types.setdefault(item["system"]["type"], {})
            for codename, element in (item.get("elements") or {}).items():
                shape = {"type": element.get("type"), "name": element.get("name", codename)}
                if element.get("type") == "taxonomy":
                    shape["taxonomy_group"] = element.get("taxonomy_group")
                elements[codename] = shape
        listing = [
            {"system": {"codename": codename, "name": codename}, "elements": elements}
            for codename, elements in sorted(types.items())
        ]
        return self._paged(request, "types", listing)

    async def _languages(self, request: web.Request) -> web.Response:
        if self._store(request) is None:
            return _unauthorized()
        env = request.match_info["env"]
        codenames = sorted({k[2] for k in (self._store(request) or {}) if k[0] == env})
        listing = [{"system": {"codename": c, "name": c, "id": c}} for c in codenames]
        return self._paged(request, "languages", listing)

    def _paged(
        self, request: web.Request, listing: str, entries: list[dict[str, Any]], **extra: Any
    ) -> web.Response:
        skip = int(request.query.get("skip", "0"))
        limit = min(int(request.query.get("limit", "100")), self.page_size)
        self.listing_requests.append((listing, dict(request.query)))
        more = skip + limit < len(entries)
        next_page = f"{request.path}?skip={skip + limit}&limit={limit}" if more else ""
        pagination = {"skip": skip, "limit": limit, "count": len(entries[skip : skip + limit])}
        body = {listing: entries[skip : skip + limit], **extra}
        return web.json_response({**body, "pagination": {**pagination, "next_page": next_page}})

    async def _one(self, request: web.Request) -> web.Response:
        if self._store(request) is None:
            return _unauthorized()
        items = self._find(request, codename=request.match_info["codename"])
        if not items:
            return web.json_response(not_found(request.match_info["codename"]), status=404)
        modular_content = self._modular_content(request, items[:1])
        return web.json_response({"item": items[0], "modular_content": modular_content})

    def _modular_content(
        self, request: web.Request, items: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Components of every item included, and linked items down to `depth` levels."""
        depth = int(request.query.get("depth", "1"))
        by_codename = {i["system"]["codename"]: i for i in self._find(request)}
        found: dict[str, dict[str, Any]] = {}
        level = list(items)
        for step in range(depth + 1):
            following = []
            for item in level:
                for codename, component in self.components.get(
                    item["system"]["codename"], {}
                ).items():
                    found.setdefault(codename, component)
                    following.append(component)
                if step == depth:
                    continue
                for codename in _linked(item):
                    if codename in by_codename and codename not in found:
                        found[codename] = by_codename[codename]
                        following.append(by_codename[codename])
            level = following
        return found

    async def _item_used_in(self, request: web.Request) -> web.Response:
        codename = request.match_info["codename"]
        return self._used_in(request, lambda item: codename in _linked(item))

    async def _asset_used_in(self, request: web.Request) -> web.Response:
        codename = request.match_info["codename"]
        return self._used_in(request, lambda item: codename in _assets(item))

    def _used_in(self, request: web.Request, uses: Any) -> web.Response:
        if self._store(request) is None:
            return _unauthorized()
        users = [
            {"system": {k: v for k, v in item["system"].items() if k != "sitemap_locations"}}
            for item in self._find(request)
            if uses(item)
            or any(uses(c) for c in self.components.get(item["system"]["codename"], {}).values())
        ]
        users.sort(key=lambda u: (u["system"]["codename"], u["system"]["language"]))
        start = int(request.headers.get("X-Continuation", "page-0").removeprefix("page-"))
        page = users[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(users):
            headers["X-Continuation"] = f"page-{start + self.page_size}"
        return web.json_response({"items": page}, headers=headers)


def _linked(item: dict[str, Any]) -> list[str]:
    """Codenames an item links: linked items and subpages elements, rich text's items."""
    found: list[str] = []
    for element in (item.get("elements") or {}).values():
        if element.get("type") in ("modular_content", "subpages"):
            found += element.get("value") or []
        elif element.get("type") == "rich_text":
            found += element.get("modular_content") or []
    return found


def _terms(item: dict[str, Any], element: str) -> list[str]:
    """Term codenames of one taxonomy element of an item."""
    value = ((item.get("elements") or {}).get(element) or {}).get("value") or []
    return [term.get("codename", "") for term in value if isinstance(term, dict)]


def _assets(item: dict[str, Any]) -> list[str]:
    """Codenames of the assets in an item's asset elements (the fake's assets carry one)."""
    return [
        asset.get("codename", "")
        for element in (item.get("elements") or {}).values()
        if element.get("type") == "asset"
        for asset in element.get("value") or []
    ]


def _unauthorized() -> web.Response:
    return web.json_response(
        {"message": "Missing or invalid API key.", "error_code": 6}, status=401
    )
