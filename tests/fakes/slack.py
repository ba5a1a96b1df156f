"""A fake Slack: the Web API's chat.postMessage and an incoming webhook, as slack-sdk calls them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

WEBHOOK_PATH = "/services/T000/B000/XXXX"


class FakeSlack(FakeServer):
    """`api_url` for AsyncWebClient(base_url=...); `webhook_url` for AsyncWebhookClient.

    `messages` holds what was posted (the JSON bodies). Only `token` is accepted; other tokens
    get `invalid_auth`. `error_next("channel_not_found")` scripts a Slack error answer.
    `broken_next()` takes the next post (it is in `messages`) and breaks its answer (a 200
    unless `status` says otherwise): the body cut off mid-way (`cut=True`), or `body` given as
    `content_type`.
    """

    def __init__(self, token: str = "xoxb-test") -> None:
        super().__init__()
        self.token = token
        self.messages: list[dict[str, Any]] = []
        self.webhook_messages: list[dict[str, Any]] = []
        self.channels = {"#content": "C0CONTENT", "C0CONTENT": "C0CONTENT"}
        self._broken: list[tuple[bytes, str, bool, int]] = []

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def webhook_url(self) -> str:
        return self.url + WEBHOOK_PATH

    def error_next(self, error: str) -> None:
        self.fail_next(200, {"ok": False, "error": error})

    def rate_limit_next(self, retry_after_s: int) -> None:
        self.fail_next(
            429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after_s)}
        )

    def broken_next(
        self,
        body: bytes = b'{"ok": true, "chan',
        content_type: str = "application/json",
        *,
        cut: bool = False,
        status: int = 200,
    ) -> None:
        self._broken.append((body, content_type, cut, status))

    async def _accepted(self, request: web.Request, answer: web.Response) -> web.StreamResponse:
        """`answer` for a post Slack took, unless `broken_next` asked for a broken one."""
        if not self._broken:
            return answer
        body, content_type, cut, status = self._broken.pop(0)
        if not cut:
            return web.Response(status=status, body=body, headers={"Content-Type": content_type})
        declared = {"Content-Type": content_type, "Content-Length": str(len(body) + 100)}
        broken = web.StreamResponse(status=status, headers=declared)
        await broken.prepare(request)
        await broken.write(body)
        assert request.transport is not None
        request.transport.close()  # 100 bytes short of what the head announced
        return broken

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat.postMessage", self._post_message)
        app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def _post_message(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        body = await request.json()
        channel = self.channels.get(body.get("channel", ""))
        if channel is None:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if not body.get("text") and not body.get("blocks"):
            return web.json_response({"ok": False, "error": "no_text"})
        self.messages.append(body)
        ts = f"1700000000.{len(self.messages):06d}"
        answer = web.json_response({"ok": True, "channel": channel, "ts": ts, "message": body})
        return await self._accepted(request, answer)

    async def _webhook(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get("text") and not body.get("blocks"):
            return web.Response(status=400, text="no_text")
        self.webhook_messages.append(body)
        return await self._accepted(request, web.Response(text="ok"))
