"""`trello`: create a card in a list, move a card to a list, or comment on a card.

Trello's REST API v1 over the host's bounded HTTP session (no SDK): `POST /1/cards`,
`PUT /1/cards/{id}` (idList, and the card's fields when a create finds its card), `POST
/1/cards/{id}/actions/comments`, `GET /1/search?modelTypes=cards`. The key and token travel as
query parameters, as Trello documents; both are secret options, so their values are hidden in
logs, errors, stored URLs, explain and the admin API (bridge.redaction hides them by value).

A card is found again by a marker appended to its description, `[kontent:<item id>:<language>]`,
and a search on that marker (verified against each returned description, since Trello's search
matches words, not the exact text). Nothing is stored in the bridge's database: a card found is
remembered in memory only, as a cache that a restart or a deleted card simply empties. So a
`create` that finds its card updates it instead of creating a second one (a retried create after
a lost answer, a republish), and "moved to Review" moves the card the item created.

Trello's rate limits (300 requests per 10 s per key, 100 per token) answer 429: retried, not
before Retry-After when Trello sends one; every other 4xx is permanent.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

import aiohttp
from pydantic import Field, model_validator

from bridge import jsonsafe
from bridge.actions import sent as sent_requests
from bridge.actions.base import Action, ActionOptions, Call, PermanentFailure, Retry, Success
from bridge.actions.httputil import (
    check_headers,
    classify,
    failure_reason,
    read_at_most,
    read_prefix,
    split_values,
)
from bridge.events import Event

TRELLO_API = "https://api.trello.com"
MAX_ANSWER_BYTES = 1 << 20  # a card or a search page; far more than Trello sends for either
SEARCH_LIMIT = 10


class TrelloOptions(ActionOptions):
    key: str
    token: str
    api_url: str = Field(default=TRELLO_API, description="Trello API base (proxies, tests)")
    operation: Literal["create", "move", "comment"] = "create"
    list_id: str | None = None  # create: the list the card goes to; move: the list it moves to
    board_id: str | None = None  # narrows the marker search to one board
    name: str | None = None  # default: the item's name
    description: str = ""
    # label ids (a string may hold several, spaced); one that renders empty or None is dropped
    labels: list[str | None] | str | None = None
    due: str | None = None  # ISO 8601 date or time; empty text clears it
    text: str | None = None  # comment: the comment's text
    # move/comment when no card carries the item's marker: create it in list_id, succeed
    # without doing anything, or retry (Trello's search may not have indexed a new card yet).
    if_missing: Literal["create", "skip", "retry"] = "retry"

    @model_validator(mode="after")
    def _needs(self) -> TrelloOptions:
        if self.operation in ("create", "move") and not self.list_id:
            raise ValueError(f"operation {self.operation} needs list_id")
        if self.operation == "comment" and not self.text:
            raise ValueError("operation comment needs text")
        if self.if_missing == "create" and not self.list_id:
            raise ValueError("if_missing: create needs list_id")
        return self


def marker(event: Event) -> str:
    """The text that identifies an item's card: appended to the card's description."""
    return f"[kontent:{event.id}:{event.language or '-'}]"


class TrelloAction(Action[TrelloOptions]):
    Options = TrelloOptions
    secret_options = frozenset({"key", "token"})
    endpoint_options = {"api_url": "host"}
    per_event_options = frozenset(TrelloOptions.model_fields)  # one card per event
    summary = "Create, move or comment on a Trello card found again by the item's marker."

    def __init__(self, name: str, resources: Any) -> None:
        super().__init__(name, resources)
        self._cards: dict[tuple[str, str], str] = {}  # (api_url, marker) -> card id (a cache)

    async def send(self, call: Call[TrelloOptions]) -> Success:
        lines = [await self._item(item.options, item.event) for item in call.items]
        return Success(status=200, response="; ".join(lines))

    async def _item(self, options: TrelloOptions, event: Event) -> str:
        if not event.id:
            raise PermanentFailure("trello needs an event about an item (no id)")
        mark = marker(event)
        card = await self._find(options, mark)
        if options.operation == "create":
            if card is None:
                card = await self._create(options, event, mark)
                return f"created card {card}"
            await self._call(options, "PUT", f"/1/cards/{card}", self._fields(options, event, mark))
            return f"updated card {card}"
        if card is None:
            if options.if_missing == "skip":
                return f"no card carries {mark}; skipped"
            if options.if_missing == "retry":
                raise Retry(f"no card carries {mark} (yet)")
            card = await self._create(options, event, mark)
            if options.operation == "move":
                return f"created card {card} in list {options.list_id}"
        if options.operation == "move":
            await self._call(options, "PUT", f"/1/cards/{card}", {"idList": options.list_id or ""})
            return f"moved card {card} to list {options.list_id}"
        await self._call(
            options, "POST", f"/1/cards/{card}/actions/comments", {"text": options.text or ""}
        )
        return f"commented on card {card}"

    # -- finding the card ----------------------------------------------------------------------
    async def _find(self, options: TrelloOptions, mark: str) -> str | None:
        cache_key = (options.api_url, mark)
        cached = self._cards.get(cache_key)
        if cached is not None:
            try:
                card = await self._call(options, "GET", f"/1/cards/{cached}", {"fields": "desc"})
            except PermanentFailure as exc:
                if exc.status != 404:
                    raise
                card = {}
            if mark in str(card.get("desc", "")):
                return cached
            self._cards.pop(cache_key, None)  # deleted, or its marker edited away
        params = {
            "query": f'"{mark}"',
            "modelTypes": "cards",
            "card_fields": "id,desc,idList,closed",
            "cards_limit": str(SEARCH_LIMIT),
            "partial": "false",
        }
        if options.board_id:
            params["idBoards"] = options.board_id
        found = await self._call(options, "GET", "/1/search", params)
        cards = found.get("cards") if isinstance(found, dict) else None
        for card in cards or []:
            if isinstance(card, dict) and mark in str(card.get("desc", "")) and card.get("id"):
                self._cards[cache_key] = str(card["id"])
                return str(card["id"])
        return None

    async def _create(self, options: TrelloOptions, event: Event, mark: str) -> str:
        fields = {"idList": options.list_id or "", **self._fields(options, event, mark)}
        card = await self._call(options, "POST", "/1/cards", fields)
        card_id = str(card.get("id") or "")
        if not card_id:
            raise Retry("Trello created a card but its answer holds no id")
        self._cards[(options.api_url, mark)] = card_id
        return card_id

    def _fields(self, options: TrelloOptions, event: Event, mark: str) -> dict[str, str]:
        description = options.description.rstrip()
        fields = {
            "name": options.name or event.name or str(event.id),
            "desc": f"{description}\n\n{mark}" if description else mark,
        }
        labels = split_values(options.labels)
        if labels:  # none left (all rendered empty): the card's labels are left as they are
            fields["idLabels"] = ",".join(labels)
        if options.due is not None:
            fields["due"] = options.due
        return fields

    # -- HTTP ----------------------------------------------------------------------------------
    async def _call(
        self, options: TrelloOptions, method: str, path: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """One request; the answer's JSON object. Key and token go in the query (redacted)."""
        what = f"Trello {method} {path.split('?')[0]}"
        url = options.api_url.rstrip("/") + path
        query = {**params, "key": options.key, "token": options.token}
        headers = {"Accept": "application/json"}
        check_headers(headers, what=what)
        # For the job page: the URL with its query, key and token hidden (bridge/actions/sent.py).
        sent_requests.note(method, f"{url}?{urlencode(query)}", headers, {})
        try:
            with sent_requests.noted_by_caller():  # not noted again by the session's trace
                async with self.resources.http.request(
                    method, url, params=query, headers=headers, allow_redirects=False
                ) as resp:
                    if not 200 <= resp.status < 300:  # the status decides, whatever the body
                        classify(resp.status, resp.headers, await read_prefix(resp), what=what)
                    data = await read_at_most(resp, MAX_ANSWER_BYTES)
                    text = data.decode("utf-8", errors="replace")
        except (TimeoutError, aiohttp.ClientError) as exc:
            # aiohttp's message may hold the URL with its query: the key and token are hidden
            # by value wherever the reason is shown (they are secret options).
            raise Retry(failure_reason(what, exc, quote_error=False)) from exc
        try:
            answer = jsonsafe.loads(data) if text.strip() else {}
        except ValueError:
            raise Retry(f"{what} answered {resp.status} with no JSON") from None
        return answer if isinstance(answer, dict) else {"items": answer}
