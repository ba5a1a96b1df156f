"""A fake Trello REST API v1: the card endpoints the `trello` action uses, and search.

`POST /1/cards`, `GET|PUT /1/cards/{id}`, `POST /1/cards/{id}/actions/comments`, `GET
/1/search?query=...&modelTypes=cards`. Every request needs `key` and `token` query parameters
(401 "invalid key" otherwise, as Trello answers). Search matches a quoted phrase as a substring
of the card's name or description (Trello's word search is looser; the action verifies).
`rate_limit_next()` scripts Trello's 429; `fail_next()` any other answer.
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer


class FakeTrello(FakeServer):
    def __init__(self, key: str, token: str) -> None:
        super().__init__()
        self.key = key
        self.token = token
        self.cards: dict[str, dict[str, Any]] = {}
        self.comments: list[tuple[str, str]] = []  # (card id, text)
        self.board = "board1"  # the board every card is on
        self.indexed = True  # False: search finds nothing (a card not indexed yet)
        self._ids = (f"card{n:04d}" for n in itertools.count(1))

    def rate_limit_next(self, retry_after_s: int | None = 2) -> None:
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else {}
        body = {"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"}
        self.fail_next(429, body, headers)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/1/cards", self._create)
        app.router.add_get("/1/cards/{id}", self._get)
        app.router.add_put("/1/cards/{id}", self._update)
        app.router.add_post("/1/cards/{id}/actions/comments", self._comment)
        app.router.add_get("/1/search", self._search)

    def _denied(self, request: web.Request) -> web.Response | None:
        if request.query.get("key") != self.key or request.query.get("token") != self.token:
            return web.Response(status=401, text="invalid key")
        return None

    def _card(self, request: web.Request) -> dict[str, Any] | None:
        return self.cards.get(request.match_info["id"])

    async def _create(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        if not request.query.get("idList"):
            return web.Response(status=400, text="invalid value for idList")
        card_id = next(self._ids)
        card = {"id": card_id, "closed": False, "idLabels": [], "due": None}
        card.update(self._fields(request))
        card["idBoard"] = self.board
        self.cards[card_id] = card
        return web.json_response(card)

    async def _get(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        card = self._card(request)
        if card is None:
            return web.Response(status=404, text="The requested resource was not found.")
        return web.json_response(card)

    async def _update(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        card = self._card(request)
        if card is None:
            return web.Response(status=404, text="The requested resource was not found.")
        card.update(self._fields(request))
        return web.json_response(card)

    async def _comment(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        card = self._card(request)
        if card is None:
            return web.Response(status=404, text="The requested resource was not found.")
        text = request.query.get("text", "")
        self.comments.append((card["id"], text))
        return web.json_response(
            {"id": f"action{len(self.comments)}", "type": "commentCard", "data": {"text": text}}
        )

    async def _search(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        phrase = request.query.get("query", "").strip('"')
        boards = request.query.get("idBoards")
        found = [
            card
            for card in self.cards.values()
            if self.indexed
            and phrase
            and (phrase in card.get("desc", "") or phrase in card.get("name", ""))
            and (not boards or card.get("idBoard") in boards.split(","))
        ]
        limit = int(request.query.get("cards_limit", "10"))
        return web.json_response({"cards": found[:limit], "options": {"terms": [phrase]}})

    @staticmethod
    def _fields(request: web.Request) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name in ("name", "desc", "idList", "due"):
            if name in request.query:
                fields[name] = request.query[name] or None if name == "due" else request.query[name]
        if "idLabels" in request.query:
            fields["idLabels"] = [x for x in request.query["idLabels"].split(",") if x]
        return fields
