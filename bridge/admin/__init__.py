"""The admin: JSON API under /admin/api and the dashboard under /admin.

How the app mounts it (bridge/app.py)::

    from bridge import admin
    routes += admin.routes(runtime, store, settings)

- `runtime`: anything with a `.config` attribute holding the running `Config` (or a zero-argument
  callable returning such an object); read on every request, so a hot reload shows at once.
- `store`: the delivery `Store` (or a zero-argument callable returning it, for apps whose
  lifespan opens the store after the routes are built). Only the "Store queries" of
  docs/internals.md are used.
- `settings`: `bridge.settings.Settings`; `admin_token` and `public_url` (the dashboard's
  address behind a reverse proxy, bridge/admin/origin.py) are read. Without a token the whole
  /admin tree answers 404: the admin is off.

The result is one `Mount("/admin")`. docs/admin-api.md documents every call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from bridge.admin.api import api_routes
from bridge.admin.auth import Guard
from bridge.admin.context import AdminContext
from bridge.admin.dashboard import dashboard_routes, http_error, overview, page

__all__ = ["http_error", "routes"]


class _Mount(Mount):
    """A Mount whose path matches every decoded path: Starlette's `{path:path}` is `.*`, which
    stops at a line break, so `/admin/api/actions/%0A/reset` would miss the admin (a plain 404
    before the token is checked) instead of reaching its routes (401, then a JSON 404)."""

    def __init__(self, path: str, routes: Sequence[BaseRoute]) -> None:
        super().__init__(path, routes=routes)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


async def _off(request: Request) -> Response:
    return http_error(request, 404, None)  # the same 404 as a path no route has


def routes(runtime: Any, store: Any, settings: Any) -> list[BaseRoute]:
    token = getattr(settings, "admin_token", None)
    if not token:
        off = [Route("/{path:path}", _off, methods=["GET", "POST"])]
        return [Route("/admin", _off, methods=["GET", "POST"]), _Mount("/admin", routes=off)]
    ctx = AdminContext(runtime=runtime, store_source=store, guard=Guard(token))
    return [
        Route("/admin", page(ctx, overview), methods=["GET"]),
        _Mount(
            "/admin",
            routes=[
                _Mount("/api", routes=api_routes(ctx)),
                *dashboard_routes(ctx, public_url=getattr(settings, "public_url", None)),
            ],
        ),
    ]
