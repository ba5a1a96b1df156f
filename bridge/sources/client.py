"""The Kontent.ai Sync API v2 over HTTP: `POST /{env}/sync/init`, then `GET /{env}/sync` with
the `X-Continuation` token each answer hands back (what an answer means: answers.py).

One client per source. It spaces its own requests (`min_interval_s`, 10 a second by default)
well under the limits Kontent.ai documents for uncached Sync API requests (100 a second and
2,000 a minute: kontent.ai/learn/docs/apis/sync-api-v2/api-limitations), and answers a 429 by
waiting the Retry-After it names, so a bridge that polls after an outage does not trip the
limit it is catching up under.

Every wait (a request in flight, a 429's Retry-After, the spacing) ends at once when `stop` is
set, raising Stopped: a shutdown does not wait for a 60 s timeout, nor for twenty 429s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import TypeVar

import aiohttp

from bridge.delivery.clock import Clock
from bridge.httpread import (
    SDK_MAX_RESPONSE_BYTES,
    BodyTooLarge,
    failure_reason,
    read_at_most,
    retry_after_s,
)
from bridge.sources.answers import CONTINUATION, DELTA_KINDS, Page, SyncError, failure, page

__all__ = ["CONTINUATION", "DELTA_KINDS", "Page", "Stopped", "SyncClient", "SyncError"]

log = logging.getLogger("bridge.sources")

T = TypeVar("T")

DELIVERY_SYNC_URL = "https://deliver.kontent.ai/v2"
PREVIEW_SYNC_URL = "https://preview-deliver.kontent.ai/v2"
MIN_INTERVAL_S = 0.1
# A 429 without a readable Retry-After still waits this long before the same request again.
DEFAULT_RETRY_AFTER_S = 1.0
MAX_RETRY_AFTER_S = 60.0  # the longest one 429 holds a cycle
MAX_RATE_LIMITED = 20  # 429s in a row for one request before it counts as a failure
REQUEST_TIMEOUT_S = 60.0
# A page holds at most 100 deltas of each kind (Kontent.Ai.Sync's MaxItemsPerEntityType), a
# few hundred kilobytes: an answer past this is no Sync API answer.
MAX_ANSWER_BYTES = SDK_MAX_RESPONSE_BYTES


class Stopped(Exception):
    """The source is stopping: the request or wait in progress was abandoned."""


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
        stop: asyncio.Event | None = None,
    ) -> None:
        self.http = http
        self.clock = clock
        self.environment_id = environment_id
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.min_interval_s = min_interval_s
        self.stop = stop  # set: every wait ends with Stopped
        self.requests = 0  # sent, for tests and logs
        self._last_request_at: float | None = None

    async def init(self) -> str:
        """A new synchronisation: its first token (changes from now on, none from before)."""
        answer = await self._request("POST", "sync/init", None)
        return answer.token

    async def sync(self, token: str) -> Page:
        return await self._request("GET", "sync", token)

    async def _request(self, method: str, path: str, token: str | None) -> Page:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers[CONTINUATION] = token
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for _ in range(MAX_RATE_LIMITED):
            await self._space()
            status, answer_headers, body, charset = await self._until_stopped(
                self._send(method, path, headers)
            )
            if status != 429:
                return page(status, answer_headers, body, charset, path)
            wait_s = retry_after_s(answer_headers)
            wait_s = DEFAULT_RETRY_AFTER_S if wait_s is None else max(wait_s, self.min_interval_s)
            # Within one cycle: a Retry-After of days would hold the source (and its lease)
            # without polling; the same page is asked again after at most this long.
            wait_s = min(wait_s, MAX_RETRY_AFTER_S)
            log.warning(
                "Sync API answered 429 for %s: waiting %.1fs as Retry-After asks", path, wait_s
            )
            await self._until_stopped(self.clock.sleep(wait_s))
        raise failure(429, answer_headers, body, charset, path)

    async def _space(self) -> None:
        """Keep at least `min_interval_s` between two requests of this client."""
        now = self.clock.now()
        if self._last_request_at is not None:
            wait_s = self._last_request_at + self.min_interval_s - now
            if wait_s > 0:
                await self._until_stopped(self.clock.sleep(wait_s))
        self._last_request_at = self.clock.now()

    async def _send(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> tuple[int, Mapping[str, str], bytes, str | None]:
        url = f"{self.base_url}/{self.environment_id}/{path}"
        self.requests += 1
        try:
            async with self.http.request(
                method,
                url,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                allow_redirects=False,  # a 3xx is an answer (answers.page), never followed
            ) as response:
                body = await read_at_most(response, MAX_ANSWER_BYTES)
                return response.status, response.headers, body, response.charset
        except BodyTooLarge:
            raise SyncError(
                f"Sync API answered {path} with more than "
                f"{MAX_ANSWER_BYTES} bytes: no Sync API page is that large",
                reason="bad_answer",
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SyncError(failure_reason("Sync API", exc), reason="unreachable") from None

    async def _until_stopped(self, work: Awaitable[T]) -> T:
        """`work`'s result, or Stopped (with `work` cancelled) as soon as `stop` is set."""
        if self.stop is None:
            return await work
        if self.stop.is_set():
            if asyncio.iscoroutine(work):
                work.close()  # never started: no "coroutine was never awaited" warning
            raise Stopped
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
            await asyncio.gather(task, stopper, return_exceptions=True)
        if task.cancelled():
            raise Stopped
        return task.result()
