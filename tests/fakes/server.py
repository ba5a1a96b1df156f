"""The shared base of the fakes: an aiohttp app on a free loopback port that records requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True)
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    body: bytes
    raw_path: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Scripted:
    """A canned answer the next matching request gets instead of the normal one."""

    status: int
    body: Any = ""
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> web.Response:
        if isinstance(self.body, bytes):  # exactly these bytes, as broken or hostile as given
            return web.Response(status=self.status, body=self.body, headers=self.headers)
        if isinstance(self.body, dict | list):
            return web.json_response(self.body, status=self.status, headers=self.headers)
        return web.Response(status=self.status, text=str(self.body), headers=self.headers)


class FakeServer:
    """Subclasses add routes in `routes()`; `fail_next()` scripts errors in order."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripted: list[Scripted] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._received = asyncio.Condition()

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def fail_next(self, status: int, body: Any = "", headers: dict[str, str] | None = None) -> None:
        self.scripted.append(Scripted(status, body, headers or {}))

    async def wait_for(self, count: int) -> list[Recorded]:
        """Wait (no sleeping) until `count` requests arrived."""
        async with self._received:
            await self._received.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Wait (no sleeping) until `predicate()` holds; checked after every request."""
        async with self._received:
            await self._received.wait_for(predicate)

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.query),
                CIMultiDict(request.headers),
                body,
                request.raw_path.split("?")[0],
            )
        )
        async with self._received:
            self._received.notify_all()
        if self.scripted:
            return self.scripted.pop(0).response()
        response: web.StreamResponse = await handler(request)
        async with self._received:
            self._received.notify_all()  # the handler may have changed the fake's state
        return response

    async def __aenter__(self) -> Self:
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Recorder(FakeServer):
    """Any method on any path answers `status` with `body`: build hooks, purge APIs, origins."""

    def __init__(self, status: int = 200, body: Any = "ok") -> None:
        super().__init__()
        self.status = status
        self.body = body

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        return Scripted(self.status, self.body).response()


class Redirector(FakeServer):
    """Any method on any path answers `status` with a Location on `elsewhere`'s port, named
    `localhost` (another host than 127.0.0.1, as far as redirects go), path and query kept."""

    def __init__(self, elsewhere: Recorder, status: int = 307) -> None:
        super().__init__()
        self.elsewhere = elsewhere
        self.status = status

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._answer)

    async def _answer(self, request: web.Request) -> web.Response:
        port = self.elsewhere.url.rsplit(":", 1)[1]
        location = f"http://localhost:{port}{request.path_qs}"
        return web.Response(status=self.status, headers={"Location": location})
