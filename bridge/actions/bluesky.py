"""`bluesky`: a post with a link card (app.bsky.embed.external) about an item, through `atproto`.

The official SDK's AsyncClient logs in (`com.atproto.server.createSession`, once per process and
account; the SDK refreshes the session), uploads the card's image when `thumb_url` is set
(downloaded with the bridge's bounded session, then `com.atproto.repo.uploadBlob`) and writes
the post with `com.atproto.repo.createRecord`.

Deduplicated per item and language with nothing stored in the bridge: the record key (rkey) is
derived from the item id and language, so the same item's post has the same AT URI on every
attempt and after every restart. The record is looked up first (`com.atproto.repo.getRecord`);
when it exists, or createRecord answers that it does (a race with another replica), the post is
already there and nothing is sent. `repost: true` lets the server choose a fresh key, so every
matching event posts again. The rkey is written in TID syntax (13 base32-sortable characters,
what app.bsky.feed.post's lexicon asks for) from a SHA-256 of `<item id>:<language>`.

The SDK has its own HTTP stack (httpx): every request is bounded by `request_timeout` (connect,
read, write and pool), redirects are not followed, and the whole call by the job's `timeout`.
Answers are read whole by httpx, without the bridge's size bound (docs/actions.md).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from bridge.actions import sent as sent_requests
from bridge.actions.base import (
    Action,
    ActionOptions,
    Call,
    PermanentFailure,
    Resources,
    Retry,
    Success,
)
from bridge.actions.httputil import excerpt, retry_after_s
from bridge.actions.social import download_image, post_each
from bridge.events import Event
from bridge.netproblems import no_answer

BLUESKY_URL = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
MAX_TEXT_GRAPHEMES = 300
MAX_THUMB_BYTES = 1_000_000  # the lexicon's maxSize for an external embed's thumb
_TID_CHARS = "234567abcdefghijklmnopqrstuvwxyz"
_ALREADY = ("already exists", "RecordAlreadyExists")


class BlueskyOptions(ActionOptions):
    identifier: str = Field(description="handle or DID of the account")
    password: str = Field(description="an app password (Settings > App passwords)")
    base_url: str = Field(default=BLUESKY_URL, description="PDS or entryway (tests, self-hosted)")
    text: str | None = None  # default: the item's name
    url: str  # the link card's target (the item's page)
    title: str | None = None  # default: the item's name
    description: str = ""
    thumb_url: str | None = None  # an image for the card (the item's asset URL)
    langs: list[str] | None = None  # default: the event's language, when it has one
    repost: bool = False  # True: post again on every matching event
    request_timeout: float = Field(default=20.0, gt=0, description="seconds per SDK request")


def record_key(event: Event) -> str:
    """A TID-shaped rkey that depends only on the item and language (13 chars, top bit 0)."""
    digest = hashlib.sha256(f"{event.id}:{event.language or ''}".encode()).digest()
    value = int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)
    chars = [_TID_CHARS[(value >> (5 * (12 - i))) & 31] for i in range(13)]
    return "".join(chars)


class BlueskyAction(Action[BlueskyOptions]):
    Options = BlueskyOptions
    secret_options = frozenset({"password"})
    # The image is fetched without credentials, but from a host the config names, not content.
    endpoint_options = {"base_url": "host", "thumb_url": "url"}
    per_event_options = frozenset(BlueskyOptions.model_fields)  # one post per event
    summary = "Post about an item on Bluesky with a link card, once per item and language."

    def __init__(self, name: str, resources: Resources) -> None:
        super().__init__(name, resources)
        # (url, identifier, password) -> (logged-in AsyncClient, the account's DID)
        self._clients: dict[tuple[str, str, str], tuple[Any, str]] = {}

    async def send(self, call: Call[BlueskyOptions]) -> Success:
        return await post_each(call, "thumb_url", self._item)

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client, _ in clients.values():
            await client.request.close()

    async def _item(self, options: BlueskyOptions, event: Event) -> str:
        if not event.id:
            raise PermanentFailure("bluesky needs an event about an item (no id)")
        text = options.text if options.text is not None else (event.name or "")
        if len(text) > MAX_TEXT_GRAPHEMES:  # characters >= graphemes: a safe upper bound
            raise PermanentFailure(
                f"the post text has {len(text)} characters; Bluesky allows {MAX_TEXT_GRAPHEMES}"
            )
        try:
            return await self._post(options, event, text)
        except Retry as exc:
            if exc.status in (401, 403):  # the session was revoked or expired: log in again
                self._clients.pop(_key(options), None)
            raise

    async def _post(self, options: BlueskyOptions, event: Event, text: str) -> str:
        client, did = await self._client(options)
        rkey = None if options.repost else record_key(event)
        if rkey is not None and await self._exists(client, did, rkey):
            return f"already posted at://{did}/{POST_COLLECTION}/{rkey}"
        thumb = await self._thumb(client, options) if options.thumb_url else None
        models = _atproto().models
        external = models.AppBskyEmbedExternal.External(
            uri=options.url,
            title=options.title if options.title is not None else (event.name or ""),
            description=options.description,
            thumb=thumb,
        )
        langs = options.langs if options.langs is not None else _langs(event)
        record = models.AppBskyFeedPost.Record(
            text=text,
            created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            embed=models.AppBskyEmbedExternal.Main(external=external),
            langs=langs or None,
        )
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=did, collection=POST_COLLECTION, rkey=rkey, record=record
        )
        # For the job page (bridge/actions/sent.py): the record the post is written as.
        body = data.model_dump(mode="json", by_alias=True, exclude_none=True)
        url = f"{options.base_url.rstrip('/')}/xrpc/com.atproto.repo.createRecord"
        sent_requests.note("POST", url, {"Authorization": "Bearer (session)"}, {"json": body})
        try:
            created = await _sdk(client.com.atproto.repo.create_record(data), "createRecord")
        except _Already:
            return f"already posted at://{did}/{POST_COLLECTION}/{rkey}"
        return f"posted {created.uri}"

    async def _exists(self, client: Any, did: str, rkey: str) -> bool:
        params = {"repo": did, "collection": POST_COLLECTION, "rkey": rkey}
        try:
            await _sdk(client.com.atproto.repo.get_record(params), "getRecord")
        except _NotFound:
            return False
        return True

    async def _thumb(self, client: Any, options: BlueskyOptions) -> Any:
        """The card's image: downloaded with the bounded session, uploaded as a blob."""
        url = str(options.thumb_url)
        data, _ = await download_image(self.resources.http, url, MAX_THUMB_BYTES, "the thumb image")
        uploaded = await _sdk(client.upload_blob(data), "uploadBlob")
        return uploaded.blob

    async def _client(self, options: BlueskyOptions) -> tuple[Any, str]:
        key = _key(options)
        known = self._clients.get(key)
        if known is not None:
            return known
        atproto = _atproto()
        import httpx

        timeout = httpx.Timeout(options.request_timeout)
        request = atproto.AsyncRequest(timeout=timeout, limits=httpx.Limits(max_connections=4))
        request._client.follow_redirects = False  # credentials never follow a redirect
        client = atproto.AsyncClient(base_url=options.base_url, request=request)
        try:
            await _sdk(
                client.login(options.identifier, options.password, fetch_bsky_profile=False),
                "createSession",
                login=True,
            )
        except BaseException:
            await request.close()
            raise
        self._clients[key] = (client, str(client._session.did))
        return self._clients[key]


def _key(options: BlueskyOptions) -> tuple[str, str, str]:
    return (options.base_url, options.identifier, options.password)


@dataclass(frozen=True, slots=True)
class _Sdk:
    AsyncClient: Any
    AsyncRequest: Any
    models: Any
    exceptions: Any


class _Already(Exception):
    """createRecord: a record with this rkey exists."""


class _NotFound(Exception):
    """getRecord: no record with this rkey."""


async def _sdk(awaitable: Any, what: str, *, login: bool = False) -> Any:
    """Await an SDK call; its errors become Retry / PermanentFailure (or the two markers)."""
    exceptions = _atproto().exceptions
    try:
        return await awaitable
    except exceptions.RequestErrorBase as exc:
        response = exc.response
        status = response.status_code if response is not None else None
        detail = _detail(exc)
        if status is None:
            if (said := no_answer(f"Bluesky {what}", exc)) is not None:
                raise Retry(said) from None
            raise Retry(f"Bluesky {what} unreachable: {type(exc).__name__} {exc}") from None
        if what == "getRecord" and status in (400, 404) and "RecordNotFound" in detail:
            raise _NotFound from None
        if what == "createRecord" and status in (400, 409) and any(a in detail for a in _ALREADY):
            raise _Already from None
        reason = f"Bluesky {what} answered {status}: {detail}"
        if status == 429 or status >= 500:  # the shared rules: Retry-After for both
            headers = dict(response.headers) if response is not None else {}
            raise Retry(
                reason, delay_s=_rate_limit_delay(headers), status=status, response=detail
            ) from None
        if status in (401, 403) and login:
            raise PermanentFailure(reason, status=status, response=detail) from None
        if status in (401, 403) or status >= 500 or status in (408, 409, 425):
            raise Retry(reason, status=status, response=detail) from None
        raise PermanentFailure(reason, status=status, response=detail) from None
    except exceptions.AtProtocolError as exc:  # a model error: an answer the SDK cannot read
        raise Retry(f"Bluesky {what}: {type(exc).__name__}: {excerpt(str(exc))}") from None


def _detail(exc: Any) -> str:
    content = exc.response.content if exc.response is not None else None
    error = getattr(content, "error", None)
    if error is not None:
        message = getattr(content, "message", None)
        return f"{error}: {message}" if message else str(error)
    if isinstance(content, bytes):
        return excerpt(content.decode("utf-8", errors="replace"))
    return excerpt(str(content or ""))


def _rate_limit_delay(headers: dict[str, str]) -> float | None:
    """Retry-After, or else Bluesky's `ratelimit-reset` (epoch seconds) from now."""
    delay = retry_after_s(headers)
    if delay is not None:
        return delay
    reset = headers.get("ratelimit-reset")
    if reset and reset.isdigit():
        return max(0.0, float(reset) - datetime.now(UTC).timestamp())
    return None


_BCP47 = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def _langs(event: Event) -> list[str]:
    """The event's language when its codename is a language tag (`en-US`; not `default`)."""
    language = event.language or ""
    return [language] if _BCP47.fullmatch(language) else []


def _atproto() -> Any:
    """The `atproto` SDK, from the optional `bluesky` extra; without it the job cannot run."""
    try:
        import atproto_client
        import atproto_client.exceptions
        import atproto_client.request
    except ImportError:
        raise PermanentFailure(
            "the atproto SDK is not installed: pip install 'kontent-bridge[bluesky]'"
        ) from None
    return _Sdk(
        atproto_client.AsyncClient,
        atproto_client.request.AsyncRequest,
        atproto_client.models,
        atproto_client.exceptions,
    )
