"""`mastodon`: a status about an item (text, optional image, visibility, scheduled posts), through
the official `Mastodon.py` SDK.

Deduplicated per item and language without the bridge's database: each status carries a marker
(by default the item's link, `url`; else `[kontent:<item id>:<language>]` is appended), and
before posting the account's own recent statuses and its scheduled statuses are searched for it.
A found marker means "already posted". The status is also sent with an idempotency key derived
from the item and language, which Mastodon honours for about an hour: it covers a retry whose
first attempt posted but lost its answer before the status shows up in the account's timeline.
`repost: true` skips both, so every matching event posts.

Mastodon.py is synchronous (requests): every SDK call runs in a worker thread, each HTTP request
is bounded by `request_timeout`, the SDK's own rate-limit waiting is off (`ratelimit_method=
"throw"`: a 429 comes back as a retry at `X-RateLimit-Reset`, instead of sleeping in a thread the
job's timeout cannot stop), and redirects are refused. requests reads answers whole: they are
not held to the bridge's size bound. The image is downloaded with the bridge's bounded session.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

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
from bridge.actions.httputil import excerpt
from bridge.actions.social import download_image, post_each
from bridge.events import Event
from bridge.netproblems import no_answer

MAX_IMAGE_BYTES = 16 << 20  # Mastodon's default image limit (16 MB)
SEARCH_LIMIT = 40  # statuses per page, the API's maximum
MIN_SCHEDULE = timedelta(minutes=5)  # Mastodon refuses scheduled_at sooner than this
ASSUMED_VERSION = "4.0.0"  # every endpoint used exists since 3.1.4 (v2/media)


class MastodonOptions(ActionOptions):
    api_base_url: str = Field(description="the instance, e.g. https://mastodon.social")
    access_token: str
    text: str
    url: str | None = None  # the item's link; the default marker
    marker: str | None = None  # text that identifies the item's status (appended if absent)
    image_url: str | None = None  # an image attached to the status (the item's asset)
    image_description: str | None = None  # the image's alt text
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    scheduled_at: str | None = None  # ISO 8601; sooner than 5 minutes (or past): posted now
    spoiler_text: str | None = None
    language: str | None = None  # ISO 639 code; default: the event's language (de-DE -> de)
    repost: bool = False
    request_timeout: float = Field(default=20.0, gt=0, description="seconds per SDK request")


def default_marker(event: Event) -> str:
    return f"[kontent:{event.id}:{event.language or '-'}]"


class MastodonAction(Action[MastodonOptions]):
    Options = MastodonOptions
    secret_options = frozenset({"access_token"})
    # The image is fetched without credentials, but from a host the config names, not content.
    endpoint_options = {"api_base_url": "host", "image_url": "url"}
    per_event_options = frozenset(MastodonOptions.model_fields)  # one post per event
    summary = "Post a status about an item on Mastodon, once per item and language."

    def __init__(self, name: str, resources: Resources) -> None:
        super().__init__(name, resources)
        self._clients: dict[tuple[str, str, float], tuple[Any, str]] = {}  # -> (api, account id)

    async def send(self, call: Call[MastodonOptions]) -> Success:
        return await post_each(call, "image_url", self._item)

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for api, _ in clients.values():
            await asyncio.to_thread(api.session.close)

    async def _item(self, options: MastodonOptions, event: Event) -> str:
        if not event.id:
            raise PermanentFailure("mastodon needs an event about an item (no id)")
        mark = options.marker or options.url or default_marker(event)
        text = options.text if mark in options.text else f"{options.text.rstrip()}\n\n{mark}"
        scheduled = _schedule(options.scheduled_at)
        api, account = await self._client(options)
        if not options.repost:
            found = await _sdk(self._find, api, account, mark, what="search")
            if found:
                return f"already posted: {found}"
        media_ids = [await self._image(api, options)] if options.image_url else None
        key = None
        if not options.repost:
            digest = hashlib.sha256(f"{event.id}:{event.language}:{mark}".encode()).hexdigest()
            key = f"kontent-bridge-{digest[:32]}"
        form = {"status": text, "visibility": options.visibility, "media_ids": media_ids}
        if scheduled is not None:
            form["scheduled_at"] = scheduled.isoformat()
        sent_requests.note(  # for the job page (bridge/actions/sent.py)
            "POST",
            f"{options.api_base_url.rstrip('/')}/api/v1/statuses",
            {"Authorization": "Bearer (access_token)", "Idempotency-Key": key or ""},
            {"json": form},
        )
        status = await _sdk(
            api.status_post,
            text,
            media_ids=media_ids,
            visibility=options.visibility,
            spoiler_text=options.spoiler_text,
            language=options.language or _language(event),
            idempotency_key=key,
            scheduled_at=scheduled,
            what="status_post",
        )
        if scheduled is not None:
            return f"scheduled {status.get('id')} for {scheduled.isoformat()}"
        return f"posted {status.get('url') or status.get('id')}"

    @staticmethod
    def _find(api: Any, account: str, mark: str) -> str | None:
        """The URL or id of a recent or scheduled status of this account holding `mark`."""
        for status in api.account_statuses(account, exclude_reblogs=True, limit=SEARCH_LIMIT):
            if mark in html.unescape(str(status.get("content") or "")):
                return str(status.get("url") or status.get("id"))
        for scheduled in api.scheduled_statuses(limit=SEARCH_LIMIT):
            params = scheduled.get("params") or {}
            if mark in str(params.get("text") or ""):
                return f"scheduled {scheduled.get('id')}"
        return None

    async def _image(self, api: Any, options: MastodonOptions) -> Any:
        url = str(options.image_url)
        data, mime = await download_image(self.resources.http, url, MAX_IMAGE_BYTES, "the image")
        media = await _sdk(
            api.media_post,
            data,
            mime_type=mime,
            description=options.image_description,
            file_name=url.rsplit("/", 1)[-1].split("?")[0] or "image",
            what="media_post",
        )
        return media.get("id")

    async def _client(self, options: MastodonOptions) -> tuple[Any, str]:
        key = (options.api_base_url, options.access_token, options.request_timeout)
        known = self._clients.get(key)
        if known is not None:
            return known
        sdk = _sdk_module()
        import requests

        session = requests.Session()
        session.max_redirects = 0  # the token never follows a redirect
        api = sdk.Mastodon(
            access_token=options.access_token,
            api_base_url=options.api_base_url,
            request_timeout=options.request_timeout,
            ratelimit_method="throw",
            # A fixed version: the SDK never asks the instance for one (its lookup recurses
            # without end when /api/v1/instance fails) and picks /api/v2/media for uploads.
            mastodon_version=ASSUMED_VERSION,
            version_check_mode="created",
            session=session,
        )
        try:
            me = await _sdk(api.account_verify_credentials, what="verify_credentials")
        except BaseException:
            session.close()
            raise
        self._clients[key] = (api, str(me.get("id")))
        return self._clients[key]


async def _sdk(function: Any, *args: Any, what: str, **kwargs: Any) -> Any:
    """Run one SDK call in a thread; its errors become Retry or PermanentFailure."""
    sdk = _sdk_module()
    api = getattr(function, "__self__", None)
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except sdk.MastodonRatelimitError:
        reset = getattr(api, "ratelimit_reset", None) if api is not None else None
        if reset is None and args and hasattr(args[0], "ratelimit_reset"):
            reset = args[0].ratelimit_reset
        delay = max(0.0, float(reset) - datetime.now(UTC).timestamp()) if reset else None
        raise Retry(f"Mastodon {what}: rate limit", delay_s=delay, status=429) from None
    except sdk.MastodonNetworkError as exc:
        if "redirect" in str(exc).lower():
            raise PermanentFailure(
                f"Mastodon {what}: the instance redirected; configure its final URL"
            ) from None
        if (said := no_answer(f"Mastodon {what}", exc)) is not None:
            raise Retry(said) from None
        raise Retry(f"Mastodon {what} unreachable: {excerpt(str(exc))}") from None
    except sdk.MastodonAPIError as exc:
        status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        detail = " ".join(str(a) for a in exc.args[2:] if a)
        reason = f"Mastodon {what} answered {status}: {excerpt(detail)}"
        if status is None or status >= 500 or status in (408, 409, 425):
            raise Retry(reason, status=status, response=excerpt(detail)) from None
        raise PermanentFailure(reason, status=status, response=excerpt(detail)) from None
    except sdk.MastodonError as exc:
        raise PermanentFailure(f"Mastodon {what}: {excerpt(str(exc))}") from None


def _schedule(value: str | None) -> datetime | None:
    """The scheduled time, or None to post now (absent, past, or sooner than Mastodon allows)."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PermanentFailure(f"scheduled_at {value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when if when - datetime.now(UTC) > MIN_SCHEDULE else None


def _language(event: Event) -> str | None:
    code = (event.language or "").split("-")[0].lower()
    return code if len(code) == 2 else None


def _sdk_module() -> Any:
    """`Mastodon.py`, from the optional `mastodon` extra; without it the job cannot run."""
    try:
        import mastodon
    except ImportError:
        raise PermanentFailure(
            "Mastodon.py is not installed: pip install 'kontent-bridge[mastodon]'"
        ) from None
    return mastodon
