"""The Kontent.ai Sync API v2 over HTTP: `POST /{env}/sync/init`, then `GET /{env}/sync` with
the `X-Continuation` token each answer hands back.

One client per source. It spaces its own requests (`min_interval_s`, 10 a second by default)
well under the limits Kontent.ai documents for uncached Sync API requests (100 a second and
2,000 a minute: kontent.ai/learn/docs/apis/sync-api-v2/api-limitations), and answers a 429 by
waiting the Retry-After it names, so a bridge that polls after an outage does not trip the
limit it is catching up under.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bridge import jsonsafe
from bridge.actions.httputil import excerpt, failure_reason, retry_after_s
from bridge.delivery.clock import Clock

log = logging.getLogger("bridge.sources")

DELIVERY_SYNC_URL = "https://deliver.kontent.ai/v2"
PREVIEW_SYNC_URL = "https://preview-deliver.kontent.ai/v2"
CONTINUATION = "X-Continuation"
DELTA_KINDS = ("items", "types", "languages", "taxonomies")
MIN_INTERVAL_S = 0.1
# A 429 without a readable Retry-After still waits this long before the same request again.
DEFAULT_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 60.0  # the longest one 429 holds a cycle
MAX_RATE_LIMITED = 20  # 429s in a row for one request before it counts as a failure
REQUEST_TIMEOUT_S = 60.0


class SyncError(Exception):
    """A request failed; `permanent` when repeating it cannot help (a bad key, a bad token)."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Page:
    """One answer: the deltas by kind and the token to continue from."""

    token: str
    deltas: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.deltas.get(kind) for kind in DELTA_KINDS)


class SyncClient:
    """`init()` and `sync(token)` for one environment and slot; shares the host's session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        clock: Clock,
        *,
        environment_id: str,
        base_url: str,
        api_key: str | None,
        min_interval_s: float = MIN_INTERVAL_S,
    ) -> None:
        self.http = http
        self.clock = clock
        self.environment_id = environment_id
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.min_interval_s = min_interval_s
        self.requests = 0  # sent, for tests and logs
        self._last_request_at: float | None = None

    async def init(self) -> str:
        """A new synchronisation: its first token (changes from now on, none from before)."""
        page = await self._request("POST", "sync/init", None)
        return page.token

    async def sync(self, token: str) -> Page:
        return await self._request("GET", "sync", token)

    async def _request(self, method: str, path: str, token: str | None) -> Page:
        url = f"{self.base_url}/{self.environment_id}/{path}"
        headers = {"Accept": "application/json"}
        if token is not None:
            headers[CONTINUATION] = token
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for _ in range(MAX_RATE_LIMITED):
            await self._space()
            status, answer_headers, text = await self._send(method, url, headers)
            if status != 429:
                return _page(status, answer_headers, text, token, path)
            wait_s = retry_after_s(answer_headers)
            wait_s = DEFAULT_RETRY_AFTER_S if wait_s is None else max(wait_s, self.min_interval_s)
            # Within one cycle: a Retry-After of days would hold the source (and its lease)
            # without polling; the same page is asked again after at most this long.
            wait_s = min(wait_s, MAX_RETRY_AFTER_S)
            log.warning(
                "Sync API answered 429 for %s: waiting %.1fs as Retry-After asks", path, wait_s
            )
            await self.clock.sleep(wait_s)
        raise SyncError(f"Sync API kept answering 429 to {path}", status=429)

    async def _space(self) -> None:
        """Keep at least `min_interval_s` between two requests of this client."""
        now = self.clock.now()
        if self._last_request_at is not None:
            wait_s = self._last_request_at + self.min_interval_s - now
            if wait_s > 0:
                await self.clock.sleep(wait_s)
        self._last_request_at = self.clock.now()

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], str]:
        self.requests += 1
        try:
            async with self.http.request(
                method,
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                allow_redirects=False,  # a 3xx is an answer (_page), never followed
            ) as response:
                return response.status, response.headers, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SyncError(failure_reason("Sync API", exc)) from None


def _page(status: int, headers: Mapping[str, str], text: str, token: str | None, path: str) -> Page:
    if status in (401, 403):
        # Never the key itself: only which one is wrong.
        raise SyncError(
            f"Sync API refused the key for {path} ({status}): check the source's "
            "secure_access_key (published) or preview_api_key (preview)",
            status=status,
            permanent=True,
        )
    if status in (400, 404) and token is not None:
        raise SyncError(
            f"Sync API rejected the continuation token ({status}): {excerpt(text)}",
            status=status,
            permanent=True,
        )
    if not 200 <= status < 300:
        raise SyncError(f"Sync API answered {status} to {path}: {excerpt(text)}", status=status)
    next_token = headers.get(CONTINUATION)
    if not next_token:
        raise SyncError(f"Sync API answered {path} without an {CONTINUATION} header", status=status)
    try:
        # One decoder for untrusted JSON: json.loads let a deep nesting's RecursionError out,
        # which stopped the poller for good, and NUL or lone surrogates no store can insert.
        body = jsonsafe.loads(text.encode()) if text.strip() else {}
    except ValueError as exc:
        raise SyncError(f"Sync API answered {path} with invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise SyncError(f"Sync API answered {path} with JSON that is not an object")
    deltas = {kind: _deltas(body.get(kind), kind) for kind in DELTA_KINDS}
    return Page(token=next_token, deltas=deltas)


def _deltas(value: Any, kind: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise SyncError(f"Sync API answer: '{kind}' is not a list of delta objects")
    return value
