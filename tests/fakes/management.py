"""A fake Kontent.ai Management API v2: the workflow and language listings of environments."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

DEFAULT_ID = "00000000-0000-0000-0000-000000000000"


def step(id: str, codename: str, name: str | None = None) -> dict[str, Any]:
    return {"id": id, "name": name or codename.title(), "codename": codename}


def workflow(
    codename: str,
    *,
    id: str = DEFAULT_ID,
    steps: list[dict[str, Any]],
    published: dict[str, Any],
    archived: dict[str, Any],
) -> dict[str, Any]:
    """A workflow object shaped like the Management API's (`GET .../workflows` lists them)."""
    return {
        "id": id,
        "name": codename.title(),
        "codename": codename,
        "scopes": [],
        "steps": [{**s, "transitions_to": []} for s in steps],
        "published_step": {
            **published,
            "unpublish_role_ids": [],
            "create_new_version_role_ids": [],
        },
        "archived_step": {**archived, "role_ids": []},
    }


def language(id: str, codename: str, *, default: bool = False) -> dict[str, Any]:
    return {
        "id": id,
        "name": codename,
        "codename": codename,
        "is_active": True,
        "is_default": default,
        "fallback_language": {"id": DEFAULT_ID},
    }


class FakeManagement(FakeServer):
    """`/v2/projects/{env}/workflows` and `/languages`, Bearer `key` required.

    Languages are served `page_size` at a time with a continuation token, as the real API pages
    them; `environments[env] = (workflows, languages)` sets what an environment holds.
    """

    def __init__(self, key: str = "management-key", page_size: int = 100) -> None:
        super().__init__()
        self.key = key
        self.page_size = page_size
        self.environments: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self.stalled = False  # answer nothing until released (timeouts)
        self.released = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/projects/{env}/workflows", self._workflows)
        app.router.add_get("/v2/projects/{env}/languages", self._languages)

    def _environment(
        self, request: web.Request
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        found = self.environments.get(request.match_info["env"])
        if found is None:
            return web.json_response({"message": "Environment not found"}, status=404)
        return found

    async def _workflows(self, request: web.Request) -> web.Response:
        if self.stalled:
            await self.released.wait()
        found = self._environment(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(found[0])

    async def _languages(self, request: web.Request) -> web.Response:
        found = self._environment(request)
        if isinstance(found, web.Response):
            return found
        start = int(request.headers.get("x-continuation") or 0)
        page = found[1][start : start + self.page_size]
        end = start + len(page)
        token = str(end) if end < len(found[1]) else None
        return web.json_response(
            {"languages": page, "pagination": {"continuation_token": token, "next_page": None}}
        )

    def listings(self) -> int:
        """How many workflow listings were requested (one per catalog fetch)."""
        return sum(1 for r in self.requests if r.path.endswith("/workflows"))
