"""A fake Mastodon instance: the REST endpoints the `mastodon` action calls through Mastodon.py.

`GET /api/v1/accounts/verify_credentials`, `GET /api/v1/accounts/{id}/statuses` (newest first),
`GET /api/v1/scheduled_statuses`, `POST /api/v1/statuses` (form fields as Mastodon.py sends
them; `Idempotency-Key` honoured: the same key answers the same status), `POST /api/v2/media`
(multipart `file`). A status's `content` is HTML as Mastodon renders it: paragraphs, and links whose
visible text is shortened but whose href is whole. `Authorization: Bearer <token>` required (401
"The access token is invalid" otherwise). `rate_limit_next()` scripts the 429 with Mastodon's
`X-RateLimit-*` headers; `fail_next()` any other answer.
"""

from __future__ import annotations

import email.policy
import html
import itertools
import re
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

ACCOUNT_ID = "109000000000000001"
_URL = re.compile(r"https?://[^\s<]+")


def render(text: str) -> str:
    """Mastodon's HTML for a plain-text status: escaped text, links shortened on screen."""

    def link(url: str) -> str:
        shown = url.split("://", 1)[1]
        visible = html.escape(shown[:30] + ("…" if len(shown) > 30 else ""))
        return f'<a href="{html.escape(url)}" rel="nofollow noopener" target="_blank">{visible}</a>'

    parts = []
    for paragraph in (p for p in text.split("\n\n") if p):
        pieces, last = [], 0
        for match in _URL.finditer(paragraph):
            pieces.append(html.escape(paragraph[last : match.start()], quote=False))
            pieces.append(link(match.group(0)))
            last = match.end()
        pieces.append(html.escape(paragraph[last:], quote=False))
        parts.append("<p>" + "".join(pieces).replace("\n", "<br />") + "</p>")
    return "".join(parts)


class FakeMastodon(FakeServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.statuses: list[dict[str, Any]] = []  # newest last
        self.scheduled: list[dict[str, Any]] = []
        self.media: list[dict[str, Any]] = []  # uploaded: id, bytes, mime, description
        self.posts: list[dict[str, str]] = []  # the form of every accepted POST /api/v1/statuses
        self.idempotency: dict[str, dict[str, Any]] = {}
        self._ids = (str(110000000000000000 + n) for n in itertools.count(1))

    def rate_limit_next(self, reset_in_s: int = 120) -> None:
        reset = datetime.now(UTC) + timedelta(seconds=reset_in_s)
        headers = {
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        self.fail_next(429, {"error": "Too many requests"}, headers)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/accounts/verify_credentials", self._me)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self._account_statuses)
        app.router.add_get("/api/v1/scheduled_statuses", self._scheduled)
        app.router.add_post("/api/v1/statuses", self._post)
        app.router.add_post("/api/v2/media", self._media)

    def _denied(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "The access token is invalid"}, status=401)
        return None

    def _account(self) -> dict[str, Any]:
        return {
            "id": ACCOUNT_ID,
            "username": "news",
            "acct": "news",
            "url": f"{self.url}/@news",
            "created_at": "2024-01-01T00:00:00.000Z",
        }

    async def _me(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        return web.json_response(self._account())

    async def _account_statuses(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if request.match_info["id"] != ACCOUNT_ID:
            return web.json_response({"error": "Record not found"}, status=404)
        limit = int(request.query.get("limit", "20"))
        return web.json_response(list(reversed(self.statuses))[:limit])

    async def _scheduled(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        limit = int(request.query.get("limit", "20"))
        return web.json_response(self.scheduled[:limit])

    async def _post(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        form = await request.post()
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotency:
            return web.json_response(self.idempotency[key])
        text = str(form.get("status", ""))
        if not text.strip():
            return web.json_response(
                {"error": "Validation failed: Text can't be blank"}, status=422
            )
        fields = {k: str(v) for k, v in form.items()}
        fields["media_ids"] = ",".join(str(v) for v in form.getall("media_ids[]", []))
        self.posts.append(fields)
        status_id = next(self._ids)
        media = [m for m in self.media if m["id"] in fields["media_ids"].split(",")]
        attachments = [
            {"id": m["id"], "type": "image", "url": m["url"], "description": m["description"]}
            for m in media
        ]
        if form.get("scheduled_at"):
            answer = {
                "id": status_id,
                "scheduled_at": str(form["scheduled_at"]),
                "params": {
                    "text": text,
                    "visibility": fields.get("visibility"),
                    "media_ids": fields["media_ids"].split(",") if media else None,
                },
                "media_attachments": attachments,
            }
            self.scheduled.append(answer)
        else:
            answer = {
                "id": status_id,
                "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "url": f"{self.url}/@news/{status_id}",
                "uri": f"{self.url}/users/news/statuses/{status_id}",
                "content": render(text),
                "visibility": fields.get("visibility", "public"),
                "language": fields.get("language"),
                "spoiler_text": fields.get("spoiler_text", ""),
                "media_attachments": attachments,
                "account": self._account(),
            }
            self.statuses.append(answer)
        if key:
            self.idempotency[key] = answer
        return web.json_response(answer)

    async def _media(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        parts = _multipart(request.headers.get("Content-Type", ""), await request.read())
        if "file" not in parts:
            return web.json_response(
                {"error": "Validation failed: File can't be blank"}, status=422
            )
        data, mime, filename = parts["file"]
        description = parts["description"][0].decode() if "description" in parts else None
        media_id = next(self._ids)
        entry = {
            "id": media_id,
            "bytes": data,
            "mime": mime,
            "filename": filename,
            "description": description or None,
            "url": f"{self.url}/media/{media_id}.png",
        }
        self.media.append(entry)
        return web.json_response(
            {
                "id": media_id,
                "type": "image",
                "url": entry["url"],
                "description": entry["description"],
            }
        )


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str, str | None]]:
    """multipart/form-data fields by name: (bytes, content type, file name). The recording
    middleware has read the body already, so it is parsed from the bytes."""
    message = BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, tuple[bytes, str, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (payload, part.get_content_type(), part.get_filename())
    return fields
