"""A fake Algolia Search REST API: the `batch` endpoint and task polling, as the v4 SDK calls them.

Point the SDK at it with `hosts: [fake.url]`. Like Algolia it rejects bad credentials (403) and
records over `max_record_bytes` (400), and answers a task as `notPublished` on its first poll.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


class FakeAlgolia(FakeServer):
    def __init__(
        self, app_id: str = "APPID", api_key: str = "admin-key", max_record_bytes: int = 10_000
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.api_key = api_key
        self.max_record_bytes = max_record_bytes
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {}
        self.batches: list[list[dict[str, Any]]] = []
        self.polls: dict[int, int] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/1/indexes/{index}/batch", self._batch)
        app.router.add_get("/1/indexes/{index}/task/{task}", self._task)

    def _authorised(self, request: web.Request) -> bool:
        return (
            request.headers.get("x-algolia-application-id") == self.app_id
            and request.headers.get("x-algolia-api-key") == self.api_key
        )

    async def _batch(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(403, "Invalid Application-ID or API key")
        requests = (await request.json())["requests"]
        if len(requests) > 1000:
            return _error(400, "Too many operations in one batch")
        for position, op in enumerate(requests):
            size = len(json.dumps(op["body"]).encode())
            if size > self.max_record_bytes:
                object_id = op["body"].get("objectID")
                return _error(
                    400,
                    f"Record at the position {position} objectID={object_id} is too big "
                    f"size={size}/{self.max_record_bytes} bytes.",
                )
        index = self.indexes.setdefault(request.match_info["index"], {})
        for op in requests:
            body = op["body"]
            if op["action"] in ("addObject", "updateObject"):
                index[body["objectID"]] = body
            elif op["action"] == "deleteObject":
                index.pop(body["objectID"], None)
        self.batches.append(requests)
        task = len(self.batches)
        self.polls[task] = 0
        ids = [op["body"].get("objectID") for op in requests]
        return web.json_response({"taskID": task, "objectIDs": ids})

    async def _task(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(403, "Invalid Application-ID or API key")
        task = int(request.match_info["task"])
        if task not in self.polls:
            return _error(404, "Task does not exist")
        self.polls[task] += 1
        status = "published" if self.polls[task] > 1 else "notPublished"
        return web.json_response({"status": status, "pendingTask": status != "published"})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message, "status": status}, status=status)
