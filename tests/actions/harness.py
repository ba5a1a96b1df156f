"""What the end-to-end action tests share: a Kontent.ai notification, its signature, a bridge
with its admin API behind an in-process client, `bridge explain`, a log captured through the
redactor; and for the action tests, an action closed on exit and an asset host serving an image.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiohttp import web

from bridge.actions.base import Action
from bridge.app import create_app
from bridge.cli import main
from bridge.logformat import TextFormatter
from bridge.settings import Settings
from bridge.signatures import sign
from tests.fakes.server import FakeServer

ActionT = TypeVar("ActionT", bound=Action[Any])


def item_system(
    item_id: str,
    *,
    name: str = "Hello world",
    codename: str = "hello_world",
    step: str = "published",
    type: str = "article",
    last_modified: str = "2026-11-23T10:00:00Z",
) -> dict[str, Any]:
    """The `data.system` of a notification about an English item."""
    return {
        "id": item_id,
        "name": name,
        "codename": codename,
        "collection": "default",
        "workflow": "default",
        "workflow_step": step,
        "language": "en",
        "type": type,
        "last_modified": last_modified,
    }


def notification(
    system: dict[str, Any],
    environment: str,
    action: str = "published",
    delivery_slot: str = "published",
    **message: Any,
) -> bytes:
    """One notification about a content item, as Kontent.ai posts it."""
    header = {
        "environment_id": environment,
        "object_type": "content_item",
        "action": action,
        "delivery_slot": delivery_slot,
        **message,
    }
    return json.dumps({"notifications": [{"data": {"system": system}, "message": header}]}).encode()


def signed(body: bytes, secret: str) -> dict[str, str]:
    """The headers of a webhook `body` signed as Kontent.ai would."""
    return {"Content-Type": "application/json", "X-Kontent-ai-Signature": sign(body, secret)}


@contextlib.asynccontextmanager
async def admin_bridge(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The whole bridge started from `settings` (config file, database, admin token)."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        yield client


def explain_json(config: Path, body: bytes, tmp_path: Path) -> str:
    """What `bridge explain config payload --json` prints for `body`."""
    payload = tmp_path / "payload.json"
    payload.write_bytes(body)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", str(config), str(payload), "--json"]) == 0
    return out.getvalue()


@contextlib.contextmanager
def captured_log() -> Iterator[io.StringIO]:
    """Every logger at DEBUG (the SDKs log their requests there), through the redactor."""
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    handler.setFormatter(TextFormatter())  # the process-wide redactor, as `bridge serve` logs
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield log
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@contextlib.asynccontextmanager
async def opened(action: ActionT) -> AsyncIterator[ActionT]:
    """`action`, closed on exit as the worker closes it."""
    try:
        yield action
    finally:
        await action.close()


class ImageHost(FakeServer):
    """Kontent.ai's asset host, as far as a post's image goes: one PNG at `path`."""

    def __init__(self, image: bytes, path: str = "/hero.png") -> None:
        super().__init__()
        self.image = image
        self.path = path

    def routes(self, app: web.Application) -> None:
        async def serve(request: web.Request) -> web.Response:
            return web.Response(body=self.image, content_type="image/png")

        app.router.add_get(self.path, serve)
