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

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bridge.admin.api import api_routes
from bridge.admin.auth import Guard
from bridge.admin.context import AdminContext
from bridge.admin.dashboard import dashboard_routes, overview, page

__all__ = ["routes"]


async def _off(request: Request) -> Response:
    return PlainTextResponse("Not Found", status_code=404)


def routes(runtime: Any, store: Any, settings: Any) -> list[BaseRoute]:
    token = getattr(settings, "admin_token", None)
    if not token:
        off = [Route("/{path:path}", _off, methods=["GET", "POST"])]
        return [Route("/admin", _off, methods=["GET", "POST"]), Mount("/admin", routes=off)]
    ctx = AdminContext(runtime=runtime, store_source=store, guard=Guard(token))
    return [
        Route("/admin", page(ctx, overview), methods=["GET"]),
        Mount(
            "/admin",
            routes=[
                Mount("/api", routes=api_routes(ctx)),
                *dashboard_routes(ctx, public_url=getattr(settings, "public_url", None)),
            ],
        ),
    ]
