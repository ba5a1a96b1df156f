"""Fresh content from the Kontent.ai Delivery API (published) or Preview Delivery API.

A webhook says *that* an item changed; actions such as `algolia` need *what* it is now. Requests
carry `X-KC-Wait-For-Loading-New-Content: true` so the API answers with the content the
notification is about, not a cached older version (seed 000), and an answer it still marks
`X-Stale-Content: 1` retries (answers.check_fresh). Errors are translated into the
action contract: 429 and 5xx retry (Retry-After honoured), 401/403 are permanent and name the
environment (never the key), and "the item is not there" is `None`, decided only by
Kontent.ai's own answers (bridge/kontent/answers.py).
An answer is read up to `max_response_bytes` (32 MiB by default) and refused above it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

import aiohttp

from bridge import jsonsafe
from bridge.failures import PermanentFailure, Retry
from bridge.httpread import BodyTooLarge, failure_reason, read_at_most, read_prefix
from bridge.kontent.answers import (
    api_name,
    check_fresh,
    check_status,
    one_variant,
    url_setting,
)

DELIVERY_URL = "https://deliver.kontent.ai"
PREVIEW_URL = "https://preview-deliver.kontent.ai"
WAIT_HEADER = "X-KC-Wait-For-Loading-New-Content"
CONTINUATION_HEADER = "X-Continuation"
MAX_RESPONSE_BYTES = 32 << 20


class EnvironmentKeys(Protocol):
    """What the client needs of an environment's config (`EnvironmentConfig` fits)."""

    @property
    def preview_api_key(self) -> str | None: ...

    @property
    def secure_access_key(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Keys:
    """A plain EnvironmentKeys, for callers without a config object (tests, scripts)."""

    preview_api_key: str | None = None
    secure_access_key: str | None = None


class DeliveryClient:
    """Fetches one item variant; shares the host's HTTP session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        delivery_url: str | None = DELIVERY_URL,
        preview_url: str | None = PREVIEW_URL,
        environments: Mapping[str, EnvironmentKeys] | None = None,
        *,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.http = http
        self.max_response_bytes = max_response_bytes
        self.delivery_url = (delivery_url or DELIVERY_URL).rstrip("/")
        self.preview_url = (preview_url or PREVIEW_URL).rstrip("/")
        self.environments: Mapping[str, EnvironmentKeys] = environments or {}

    async def fetch_item(
        self,
        environment_id: str,
        item: str,
        language: str | None,
        *,
        preview: bool,
        depth: int = 0,
        by: str = "id",
    ) -> dict[str, Any] | None:
        """`{"item": ..., "modular_content": ...}` for the exact language variant, or None.

        `by="id"` filters the item listing on `system.id` (what webhooks carry); `by="codename"`
        reads `/items/{codename}`. Either way the answer must be in `language` itself: the API
        falls back to another language for an untranslated variant, and indexing that fallback
        under this language would be wrong, so a fallback counts as "not there".
        """
        base = self.preview_url if preview else self.delivery_url
        params: dict[str, str] = {"depth": str(depth)}
        if language:
            params["language"] = language
            params["system.language"] = language
        if by == "codename":
            url = f"{base}/{quote(environment_id, safe='')}/items/{quote(item, safe='')}"
        else:
            url = f"{base}/{quote(environment_id, safe='')}/items"
            params["system.id"] = item
        data = await self._get(url, params, environment_id, preview=preview)
        if data is None:
            return None
        what = api_name(environment_id, preview)
        listed = None if by == "codename" else item
        return one_variant(data, language, listed=listed, what=what, preview=preview)

    def _headers(self, environment_id: str, *, preview: bool) -> dict[str, str]:
        headers = {WAIT_HEADER: "true", "Accept": "application/json"}
        keys = self.environments.get(environment_id)
        if preview:
            key = keys.preview_api_key if keys else None
            if not key:
                raise PermanentFailure(
                    f"no preview_api_key configured for environment {environment_id}; "
                    "preview-slot events need one to fetch content"
                )
        else:
            key = keys.secure_access_key if keys else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def _get(
        self,
        url: str,
        params: Mapping[str, str],
        environment_id: str,
        *,
        preview: bool,
        extra_headers: Mapping[str, str] | None = None,
        received: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """`extra_headers` are sent too; `received`, when given, gets the answer's headers."""
        what = api_name(environment_id, preview)
        headers = self._headers(environment_id, preview=preview) | dict(extra_headers or {})
        try:
            # No redirects: the API key must never follow a redirect to another host.
            async with self.http.get(
                url, params=params, headers=headers, allow_redirects=False
            ) as resp:
                if received is not None:
                    received.update(resp.headers)
                if resp.status != 200:
                    check_status(what, resp.status, resp.headers, await read_prefix(resp), preview)
                    return None  # Kontent.ai's own "item not found"
                check_fresh(what, resp.headers)
                raw = await read_at_most(resp, self.max_response_bytes)
        except BodyTooLarge as exc:  # before ClientError, which it is
            size = f" ({exc.declared_bytes} bytes)" if exc.declared_bytes is not None else ""
            raise PermanentFailure(
                f"{what} answer is larger than {exc.max_bytes} bytes{size}, the most the bridge "
                "holds (kontent.max_response_bytes); a smaller `depth` fetches fewer linked items"
            ) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Retry(failure_reason(what, exc)) from exc
        try:
            data = jsonsafe.loads(raw)  # any decode failure, too deep a nesting included
        except ValueError as exc:
            # A sign-in page or a proxy's HTML at the configured URL, as often as a broken answer.
            raise Retry(
                f"{what} answered 200 with something that is not JSON ({exc}): "
                f"check {url_setting(preview)}"
            ) from exc
        if not isinstance(data, dict):
            raise Retry(
                f"{what} answered 200 with JSON that is not an object: check {url_setting(preview)}"
            )
        return data

    async def used_in_page(
        self,
        environment_id: str,
        entity: Literal["items", "assets"],
        codename: str,
        *,
        language: str | None,
        preview: bool,
        continuation: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of `GET /{env}/{items|assets}/{codename}/used-in`: items, next token.

        Kontent.ai pages this listing with the `X-Continuation` header: sent back as received
        for the next page, absent on the last one. An unknown codename is no parents; an answer
        without the `items` listing retries, like `fetch_item`'s.
        """
        base = self.preview_url if preview else self.delivery_url
        url = f"{base}/{quote(environment_id, safe='')}/{entity}/{quote(codename, safe='')}/used-in"
        params = {"language": language} if language else {}
        extra = {CONTINUATION_HEADER: continuation} if continuation else {}
        received: dict[str, str] = {}
        data = await self._get(
            url, params, environment_id, preview=preview, extra_headers=extra, received=received
        )
        if data is None:
            return [], None
        listing = data.get("items")
        if not isinstance(listing, list):
            # As for an item: a 200 without the listing is a wrong host, not "used nowhere",
            # which would quietly leave every record that shows the object stale.
            what = api_name(environment_id, preview)
            raise Retry(
                f"{what} answered 200 without a used-in listing: check {url_setting(preview)}"
            )
        items = [item for item in listing if isinstance(item, dict)]
        token = next((v for k, v in received.items() if k.lower() == "x-continuation"), None)
        return items, token or None

    async def listing_page(
        self,
        environment_id: str,
        listing: Literal["items", "types", "languages"],
        params: Mapping[str, str],
        *,
        preview: bool,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of `GET /{env}/{items|types|languages}` with `params` (filters, `skip` and
        `limit`): its entries, and whether `pagination.next_page` says more follow. An answer
        without the listing retries, as `used_in_page`'s does."""
        base = self.preview_url if preview else self.delivery_url
        url = f"{base}/{quote(environment_id, safe='')}/{listing}"
        data = await self._get(url, params, environment_id, preview=preview)
        entries = None if data is None else data.get(listing)
        if not isinstance(entries, list):
            what = api_name(environment_id, preview)
            raise Retry(
                f"{what} answered without a {listing} listing: check {url_setting(preview)}"
            )
        pagination = data.get("pagination") if data is not None else None
        more = isinstance(pagination, dict) and bool(pagination.get("next_page"))
        return [entry for entry in entries if isinstance(entry, dict)], more
