"""A whole bridge on a real socket (SQLite store, workers) and an HTTP target that can fail.

Shared by the browser test and the metrics test: what they check is what an operator sees.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from aiohttp import web

from bridge.app import create_app
from bridge.settings import Settings
from bridge.signatures import sign

SECRET = "harness-webhook-secret"
WEBHOOK_PATH = "/webhooks/kontent"
WAIT_S = 20.0


class Target:
    """The action's target: answers 502 while `failing`, 200 otherwise; counts requests."""

    def __init__(self) -> None:
        self.failing = False
        self.requests = 0
        self.url = ""
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        await request.read()
        async with self._changed:
            self.requests += 1
            self._changed.notify_all()
        if self.failing:
            return web.Response(status=502, text="upstream build service unavailable (test)")
        return web.json_response({"ok": True, "build": self.requests})

    async def wait_for_requests(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: self.requests >= count)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def rules(target_url: str, retry: str = "200ms") -> str:
    return f"""\
version: 1
webhooks:
  - name: production
    path: {WEBHOOK_PATH}
    secrets: ["{SECRET}"]
actions:
  rebuild-site:
    type: http
    url: "{target_url}"
    retry: {{schedule: [{retry}], give_up_after: 3d}}
    timeout: 5s
rules:
  - name: rebuild-on-publish
    when: {{object_type: content_item, action: published}}
    do: [rebuild-site]
"""


def notification(n: int) -> bytes:
    item = {
        "data": {"system": {"id": f"item-{n}", "name": f"Article {n}", "codename": f"a_{n}"}},
        "message": {"object_type": "content_item", "action": "published"},
    }
    return json.dumps({"notifications": [item]}).encode()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Kontent-ai-Signature": sign(body, secret)}


@dataclass
class Bridge:
    url: str
    target: Target
    app: object


@asynccontextmanager
async def running_bridge(
    tmp_path: Path,
    *,
    admin_token: str | None = None,
    retry: str = "200ms",
    public_url: str | None = None,
    extra_config: str = "",
) -> AsyncIterator[Bridge]:
    """The bridge (`serve` role, workers on) on 127.0.0.1 with a free port, and its target.
    `extra_config` is YAML appended to the rules (top-level keys: `sources:`, ...)."""
    target = Target()
    await target.start()
    config = tmp_path / "rules.yaml"
    config.write_text(rules(target.url, retry) + extra_config)
    settings = Settings(
        config=config,
        db=f"sqlite:///{tmp_path}/bridge.db",
        admin_token=admin_token,
        public_url=public_url,
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Bridge(f"http://127.0.0.1:{port}", target, app)
    finally:
        server.should_exit = True
        await task
        await target.stop()


async def eventually(check: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    """For state no event announces (a worker recording an outcome): poll briefly."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await _truthy(check()):
                return
            await asyncio.sleep(0.02)


async def _truthy(value: object) -> bool:
    if asyncio.iscoroutine(value):
        value = await value
    return bool(value)
