"""A fake Bluesky PDS speaking the XRPC endpoints the `bluesky` action calls through `atproto`.

`POST /xrpc/com.atproto.server.createSession` (identifier + password; 401 AuthenticationRequired
otherwise; the access token is a JWT whose `exp` the SDK reads), `POST
/xrpc/com.atproto.repo.uploadBlob` (raw bytes), `GET /xrpc/com.atproto.repo.getRecord` (400
RecordNotFound when absent, as the PDS answers), `POST /xrpc/com.atproto.repo.createRecord`
(an rkey already taken answers 400 InvalidRequest "Record already exists"). Every repo call
needs `Authorization: Bearer <accessJwt>`. `rate_limit_next()` scripts the 429 with Bluesky's
`ratelimit-*` headers; `fail_next()` any other answer.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

DID = "did:plc:fakebridge0001"
CID = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
BLOB_CID = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"


def _jwt(payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'at+jwt'})}.{part(payload)}.c2lnbmF0dXJl"


class FakeBluesky(FakeServer):
    def __init__(self, identifier: str, password: str) -> None:
        super().__init__()
        self.identifier = identifier
        self.password = password
        self.records: dict[tuple[str, str], dict[str, Any]] = {}  # (collection, rkey) -> record
        self.created: list[dict[str, Any]] = []  # every accepted createRecord body
        self.blobs: list[tuple[str, bytes]] = []  # (content type, bytes)
        self.sessions = 0
        self.tokens: set[str] = set()
        self._tids = (f"3kfake{n:07d}" for n in itertools.count(1))

    def rate_limit_next(self, reset_in_s: int = 30) -> None:
        headers = {
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(int(time.time()) + reset_in_s),
            "ratelimit-policy": "5000;w=3600",
        }
        self.fail_next(
            429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, headers
        )

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/xrpc/com.atproto.server.createSession", self._session)
        app.router.add_post("/xrpc/com.atproto.repo.uploadBlob", self._upload)
        app.router.add_get("/xrpc/com.atproto.repo.getRecord", self._get)
        app.router.add_post("/xrpc/com.atproto.repo.createRecord", self._create)

    @staticmethod
    def _error(status: int, error: str, message: str) -> web.Response:
        return web.json_response({"error": error, "message": message}, status=status)

    def _denied(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens:
            return self._error(401, "AuthenticationRequired", "Authentication Required")
        return None

    async def _session(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("identifier") != self.identifier or body.get("password") != self.password:
            return self._error(401, "AuthenticationRequired", "Invalid identifier or password")
        self.sessions += 1
        now = int(time.time())
        access = _jwt({"scope": "com.atproto.access", "sub": DID, "iat": now, "exp": now + 7200})
        self.tokens.add(access)
        refresh = _jwt({"scope": "com.atproto.refresh", "sub": DID, "iat": now, "exp": now + 86400})
        return web.json_response(
            {
                "accessJwt": access,
                "refreshJwt": refresh,
                "handle": self.identifier,
                "did": DID,
                "active": True,
            }
        )

    async def _upload(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        data = await request.read()
        mime = request.headers.get("Content-Type", "application/octet-stream")
        self.blobs.append((mime, data))
        return web.json_response(
            {
                "blob": {
                    "$type": "blob",
                    "ref": {"$link": BLOB_CID},
                    "mimeType": mime,
                    "size": len(data),
                }
            }
        )

    async def _get(self, request: web.Request) -> web.Response:
        repo, collection = request.query.get("repo"), request.query.get("collection", "")
        rkey = request.query.get("rkey", "")
        record = self.records.get((collection, rkey)) if repo == DID else None
        uri = f"at://{repo}/{collection}/{rkey}"
        if record is None:
            return self._error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return web.json_response({"uri": uri, "cid": CID, "value": record})

    async def _create(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        body = await request.json()
        if body.get("repo") != DID:
            return self._error(400, "InvalidRequest", "Invalid repo")
        collection = body["collection"]
        rkey = body.get("rkey") or next(self._tids)
        uri = f"at://{DID}/{collection}/{rkey}"
        if (collection, rkey) in self.records:
            return self._error(400, "InvalidRequest", f"Record already exists: {uri}")
        self.records[(collection, rkey)] = body["record"]
        self.created.append(body)
        return web.json_response(
            {
                "uri": uri,
                "cid": CID,
                "commit": {"cid": CID, "rev": "3kfakerev0001"},
                "validationStatus": "valid",
            }
        )
