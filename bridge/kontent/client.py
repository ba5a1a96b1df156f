"""Fresh content from the Kontent.ai Delivery API (published) or Preview Delivery API.

A webhook says *that* an item changed; actions such as `algolia` need *what* it is now. Requests
carry `X-KC-Wait-For-Loading-New-Content: true` so the API answers with the content the
notification is about, not a cached older version (seed 000). Errors are translated into the
action contract: 429 and 5xx retry (Retry-After honoured), 401/403 are permanent and name the
environment (never the key), and "the item is not there" is `None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from bridge.actions.base import PermanentFailure, Retry
from bridge.actions.httputil import excerpt, retry_after_s

DELIVERY_URL = "https://deliver.kontent.ai"
PREVIEW_URL = "https://preview-deliver.kontent.ai"
WAIT_HEADER = "X-KC-Wait-For-Loading-New-Content"


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
    ) -> None:
        self.http = http
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
        return _one_variant(data, language)

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
        self, url: str, params: Mapping[str, str], environment_id: str, *, preview: bool
    ) -> dict[str, Any] | None:
        api = "Preview Delivery API" if preview else "Delivery API"
        what = f"{api} (environment {environment_id})"
        headers = self._headers(environment_id, preview=preview)
        try:
            # No redirects: the API key must never follow a redirect to another host.
            async with self.http.get(
                url, params=params, headers=headers, allow_redirects=False
            ) as resp:
                text = await resp.text(errors="replace")
                if resp.status == 404:
                    return None
                if resp.status in (401, 403):
                    raise PermanentFailure(
                        f"{what} refused access ({resp.status}): check the key configured "
                        "for this environment",
                        status=resp.status,
                        response=excerpt(text),
                    )
                if resp.status == 429 or resp.status >= 500:
                    raise Retry(
                        f"{what} answered {resp.status}",
                        delay_s=retry_after_s(resp.headers),
                        status=resp.status,
                        response=excerpt(text),
                    )
                if resp.status != 200:
                    raise PermanentFailure(
                        f"{what} answered {resp.status}", status=resp.status, response=excerpt(text)
                    )
                data = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Retry(f"{what} unreachable: {type(exc).__name__}: {exc}") from exc
        except ValueError as exc:
            raise Retry(f"{what} answered invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise Retry(f"{what} answered JSON that is not an object")
        return data


def _one_variant(data: dict[str, Any], language: str | None) -> dict[str, Any] | None:
    if "items" in data:
        items = data.get("items") or []
        item = items[0] if items else None
    else:
        item = data.get("item")
    if not isinstance(item, dict):
        return None
    system = item.get("system") or {}
    if language and system.get("language") not in (None, language):
        return None
    return {"item": item, "modular_content": data.get("modular_content") or {}}
