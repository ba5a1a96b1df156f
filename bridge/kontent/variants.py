"""Language variants through the Kontent.ai Management API v2: read, upsert, change workflow.

There is no official Python SDK for the Management API, so these are the documented REST
endpoints over the host's shared aiohttp session:

- `GET  /projects/{env}/types/codename/{type}` or `/types/{id}`: a type's elements (ids,
  codenames, kinds; a `snippet` element names its snippet by id)
- `GET  /projects/{env}/snippets/{id}`: a content type snippet's elements (codenames
  `<snippet>__<element>`), which variants list with their own ids
- `GET  /projects/{env}/workflows`: the workflows and their steps (ids, codenames)
- `GET  /projects/{env}/items/{item}/variants/codename/{language}`: the latest variant
- `PUT  /projects/{env}/items/{item}/variants/codename/{language}`: upsert its elements
- `PUT  /projects/{env}/items/{item}/variants/codename/{language}/change-workflow`, body
  `{"workflow_identifier": {"codename"}, "step_identifier": {"codename"}}`

The Management API allows 10 requests per second and 400 per minute per API key and answers 429
with Retry-After beyond them (API limitations). Every client of one (base URL, environment)
shares one `RateLimiter`, so several actions and concurrent calls together stay under the
limits instead of each collecting 429s; a 429 that still comes back is a Retry with its delay.
Answers are read up to `MAX_RESPONSE_BYTES`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from bridge import jsonsafe
from bridge.failures import PermanentFailure, Retry
from bridge.httpread import (
    RETRYABLE_4XX,
    BodyTooLarge,
    excerpt,
    failure_reason,
    read_at_most,
    read_prefix,
    retry_after_s,
)

MAX_RESPONSE_BYTES = 8 << 20
# (requests, window in seconds): the documented Management API limits.
LIMITS: tuple[tuple[int, float], ...] = ((10, 1.0), (400, 60.0))


class RateLimiter:
    """At most `count` requests in any `window_s`, for each (count, window_s) of `limits`.

    A sliding log of start times; `acquire()` waits until every window has room. `sleep` and
    `clock` are injectable so tests can count waits without waiting.
    """

    def __init__(
        self,
        limits: tuple[tuple[int, float], ...] = LIMITS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.waited_s = 0.0  # total time spent waiting (observable in tests)

    async def acquire(self) -> None:
        async with self._lock:  # one waiter at a time keeps the order of requests
            while (delay := self._delay()) > 0:
                self.waited_s += delay
                await self.sleep(delay)
            self._starts.append(self.clock())
            longest = max(window for _, window in self.limits)
            while self._starts and self._starts[0] <= self.clock() - longest:
                self._starts.popleft()

    def _delay(self) -> float:
        now = self.clock()
        delay = 0.0
        for count, window in self.limits:
            recent = [t for t in self._starts if t > now - window]
            if len(recent) >= count:
                delay = max(delay, recent[-count] + window - now)
        return delay


_LIMITERS: dict[tuple[str, str], RateLimiter] = {}


def limiter_for(base_url: str, environment_id: str) -> RateLimiter:
    """The process-wide limiter of one environment (per base URL: tests run several fakes)."""
    key = (base_url.rstrip("/"), environment_id)
    if key not in _LIMITERS:
        _LIMITERS[key] = RateLimiter()
    return _LIMITERS[key]


@dataclass(frozen=True, slots=True)
class TypeElement:
    id: str
    codename: str
    kind: str  # "text", "rich_text", "number", "snippet", ...
    snippet_id: str | None = None  # kind "snippet": the snippet whose elements it stands for
    # `is_non_localizable`: one value shared by every language, edited in the default one only.
    localizable: bool = True


@dataclass(frozen=True, slots=True)
class WorkflowSteps:
    """Step id -> (workflow codename, step codename), and the steps people move content on to."""

    steps: Mapping[str, tuple[str, str]]
    final_step_ids: frozenset[str]  # published, archived and scheduled steps


class ManagementClient:
    """One environment's variants; errors become the action contract's Retry/PermanentFailure.

    Messages name the environment and the request, never the key.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        environment_id: str,
        api_key: str,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.http = http
        self.root = f"{base_url.rstrip('/')}/projects/{quote(environment_id, safe='')}"
        self.environment_id = environment_id
        self.api_key = api_key
        self.limiter = limiter or limiter_for(base_url, environment_id)

    async def type_elements(self, type_codename: str) -> list[TypeElement]:
        return await self._elements(
            f"/types/codename/{_q(type_codename)}", f"type {type_codename!r}"
        )

    async def type_elements_by_id(self, type_id: str) -> list[TypeElement]:
        """A component's type (components name their type by id)."""
        return await self._elements(f"/types/{_q(type_id)}", f"type {type_id}")

    async def snippet_elements(self, snippet_id: str) -> list[TypeElement]:
        return await self._elements(f"/snippets/{_q(snippet_id)}", f"snippet {snippet_id}")

    async def _elements(self, path: str, what: str) -> list[TypeElement]:
        found = await self._call("GET", path)
        elements = found.get("elements") if isinstance(found, dict) else None
        if not isinstance(elements, list):
            raise Retry(f"Management API: {what} has no 'elements' array")
        return [_type_element(e) for e in elements if isinstance(e, dict) and e.get("id")]

    async def workflows(self) -> WorkflowSteps:
        listing = await self._call("GET", "/workflows")
        steps: dict[str, tuple[str, str]] = {}
        final: set[str] = set()
        for workflow in listing if isinstance(listing, list) else []:
            if not isinstance(workflow, dict):
                continue
            codename = str(workflow.get("codename") or "")
            found = workflow.get("steps")
            listed: list[Any] = found if isinstance(found, list) else []
            for special in ("published_step", "archived_step", "scheduled_step"):
                step = workflow.get(special)
                if isinstance(step, dict) and step.get("id"):
                    final.add(str(step["id"]))
                    listed = [*listed, step]
            for step in listed:
                if isinstance(step, dict) and step.get("id"):
                    steps[str(step["id"])] = (codename, str(step.get("codename") or ""))
        return WorkflowSteps(steps, frozenset(final))

    async def variant(self, item_id: str, language: str) -> dict[str, Any] | None:
        """The latest variant of `item_id` in `language` (a codename), or None if it has none."""
        found = await self._call("GET", self._variant_path(item_id, language), missing_ok=True)
        return found if isinstance(found, dict) else None

    async def upsert_variant(
        self, item_id: str, language: str, elements: list[dict[str, Any]]
    ) -> dict[str, Any]:
        found = await self._call(
            "PUT", self._variant_path(item_id, language), body={"elements": elements}
        )
        return found if isinstance(found, dict) else {}

    async def change_workflow(self, item_id: str, language: str, workflow: str, step: str) -> None:
        body = {
            "workflow_identifier": {"codename": workflow},
            "step_identifier": {"codename": step},
        }
        path = self._variant_path(item_id, language) + "/change-workflow"
        await self._call("PUT", path, body=body)

    def _variant_path(self, item_id: str, language: str) -> str:
        return f"/items/{_q(item_id)}/variants/codename/{_q(language)}"

    async def _call(
        self, method: str, path: str, *, body: Any = None, missing_ok: bool = False
    ) -> Any:
        what = f"Management API {method} {path} (environment {self.environment_id})"
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        await self.limiter.acquire()
        try:
            async with self.http.request(
                method, self.root + path, headers=headers, json=body, allow_redirects=False
            ) as resp:
                status, answer_headers = resp.status, resp.headers
                if not 200 <= status < 300:  # the status decides, whatever the body does
                    error = await read_prefix(resp)
                else:
                    data = await read_at_most(resp, MAX_RESPONSE_BYTES)
        except BodyTooLarge as exc:
            raise Retry(f"{what} answered more than {exc.max_bytes} bytes") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Retry(failure_reason(what, exc)) from None
        if not 200 <= status < 300:
            if status == 404 and missing_ok:
                return None
            _raise_for(status, answer_headers, error.text, what)
        if not data.strip():
            return None
        try:
            return jsonsafe.loads(data)  # too deep a nesting too (json.loads: RecursionError)
        except ValueError:
            raise Retry(f"{what} answered {status} with a body that is not JSON") from None


def _raise_for(status: int, headers: Mapping[str, str], text: str, what: str) -> None:
    detail = excerpt(text)
    reason = f"{what} answered {status}"
    if status == 429 or status >= 500 or status in RETRYABLE_4XX:
        raise Retry(reason, delay_s=retry_after_s(headers), status=status, response=detail)
    raise PermanentFailure(reason, status=status, response=detail)


def _type_element(found: dict[str, Any]) -> TypeElement:
    snippet = found.get("snippet")
    snippet_id = snippet.get("id") if isinstance(snippet, dict) else None
    return TypeElement(
        str(found["id"]),
        str(found.get("codename") or ""),
        str(found.get("type") or ""),
        str(snippet_id) if snippet_id else None,
        found.get("is_non_localizable") is not True,
    )


def _q(value: str) -> str:
    return quote(value, safe="")
