"""Ids to codenames for legacy workflow notifications, through the Kontent.ai Management API.

Legacy Management API (workflow) payloads name the language and the workflow steps by id only,
so rules written with codenames (`workflow_step: review`) would never match them. With a
`management_api_key` configured for the environment, the receiver resolves those ids before
planning: the environment's workflows and languages are listed once and cached, and listed again
on an id the cache does not know, at most once a minute. A failure (no answer within the short
timeout, an error status, an unreadable body) logs a warning and leaves the ids as they came, so
a slow or broken Management API never costs a webhook its answer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from bridge import jsonsafe
from bridge.events import Event, Notification
from bridge.legacy import DEFAULT_LANGUAGE, DEFAULT_LANGUAGE_ID

MANAGEMENT_URL = "https://manage.kontent.ai/v2"
TIMEOUT_S = 3.0
REFRESH_INTERVAL_S = 60.0
MAX_LANGUAGE_PAGES = 50

log = logging.getLogger("bridge.kontent.management")

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ID_FIELDS = (
    "language",
    "workflow",
    "workflow_step",
    "previous_workflow",
    "previous_workflow_step",
)


class ManagementKeys(Protocol):
    """What the resolver needs of an environment's config (`EnvironmentConfig` fits)."""

    @property
    def management_api_key(self) -> str | None: ...


class ManagementSettings(Protocol):
    """What the resolver needs of the `kontent:` section (`KontentConfig` fits)."""

    @property
    def management_url(self) -> str: ...

    @property
    def environments(self) -> Mapping[str, ManagementKeys]: ...


class ManagementError(Exception):
    """The Management API did not give a usable listing; the message says why (never the key)."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """One environment's names: language id -> codename, step id -> (step, workflow codename)."""

    languages: Mapping[str, str]
    default_language: str | None
    steps: Mapping[str, tuple[str, str | None]]
    workflows: Mapping[str, str]

    def knows(self, event: Event, raw_language_id: str | None) -> bool:
        steps = (event.workflow_step, event.previous_workflow_step)
        ids = [raw_language_id] if raw_language_id else []
        ids += [v for v in steps if v is not None and _is_id(v)]
        known = {**self.languages, **self.steps, **self.workflows}
        return all(i in known for i in ids)


@dataclass
class _Entry:
    catalog: Catalog | None = None
    fetched_at: float = float("-inf")  # the last attempt, successful or not
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


def _sent_language(notification: Notification) -> str | None:
    """The language the payload named (an id, or `default` for the all-zero one), kept for the
    store's dedupe: an object's latest must not depend on whether this lookup worked."""
    if notification.sent_language is not None or not notification.events:
        return notification.sent_language
    return notification.events[0].language


def needs_resolving(event: Event) -> bool:
    """A legacy event still naming something by id (a GUID where a codename belongs)."""
    if event.format != "legacy" or not event.environment_id:
        return False
    for name in _ID_FIELDS:
        if _is_id(getattr(event, name)):
            return True
    return event.language == DEFAULT_LANGUAGE and _language_id(event) == DEFAULT_LANGUAGE_ID


class ManagementResolver:
    """Resolves legacy workflow events' ids; shares the host's HTTP session.

    `settings` is called on every use, so a configuration reload that adds a key takes effect
    without rebuilding the resolver (and the cache survives reloads of unrelated parts).
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        settings: Callable[[], ManagementSettings],
        *,
        timeout_s: float = TIMEOUT_S,
        refresh_interval_s: float = REFRESH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.settings = settings
        self.timeout_s = timeout_s
        self.refresh_interval_s = refresh_interval_s
        self.clock = clock
        self._cache: dict[tuple[str, str], _Entry] = {}

    async def resolve(self, notifications: Sequence[Notification]) -> list[Notification]:
        """The notifications with resolved events; the same list when nothing needs it."""
        if not any(needs_resolving(e) for n in notifications for e in n.events):
            return list(notifications)
        settings = self.settings()
        result: list[Notification] = []
        for notification in notifications:
            events = [await self._resolve_event(settings, e) for e in notification.events]
            if any(new is not old for new, old in zip(events, notification.events, strict=True)):
                notification = dataclasses.replace(
                    notification, events=tuple(events), sent_language=_sent_language(notification)
                )
            result.append(notification)
        return result

    async def _resolve_event(self, settings: ManagementSettings, event: Event) -> Event:
        if not needs_resolving(event) or event.environment_id is None:
            return event
        environment = settings.environments.get(event.environment_id)
        key = environment.management_api_key if environment is not None else None
        if not key:
            return event
        language_id = _language_id(event)
        catalog = await self._catalog(settings.management_url, event.environment_id, key)
        if catalog is not None and not catalog.knows(event, language_id):
            catalog = await self._catalog(settings.management_url, event.environment_id, key, True)
        return _resolved(event, catalog, language_id) if catalog is not None else event

    async def _catalog(
        self, base_url: str, environment_id: str, key: str, refresh: bool = False
    ) -> Catalog | None:
        entry = self._cache.setdefault((base_url, environment_id), _Entry())
        async with entry.lock:  # concurrent requests for one environment list it once
            stale = self.clock() - entry.fetched_at >= self.refresh_interval_s
            if (entry.catalog is None or refresh) and stale:
                entry.fetched_at = self.clock()
                try:
                    entry.catalog = await self._fetch(base_url.rstrip("/"), environment_id, key)
                except ManagementError as exc:
                    log.warning(
                        "could not list workflows and languages of environment %s: %s; "
                        "legacy workflow notifications keep their ids",
                        environment_id,
                        exc,
                    )
            return entry.catalog

    async def _fetch(self, base_url: str, environment_id: str, key: str) -> Catalog:
        root = f"{base_url}/projects/{quote(environment_id, safe='')}"
        workflows = await self._get(f"{root}/workflows", key)
        languages: list[Any] = []
        continuation: str | None = None
        for _ in range(MAX_LANGUAGE_PAGES):
            page = await self._get(f"{root}/languages", key, continuation)
            if not isinstance(page, dict) or not isinstance(page.get("languages"), list):
                raise ManagementError("the language listing has no 'languages' array")
            languages.extend(page["languages"])
            pagination = page.get("pagination")
            token = pagination.get("continuation_token") if isinstance(pagination, dict) else None
            if not isinstance(token, str) or not token:
                break
            continuation = token
        return _catalog_of(workflows, languages)

    async def _get(self, url: str, key: str, continuation: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        if continuation:
            headers["x-continuation"] = continuation
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            # A 3xx is an answer here, never followed: the key must not go to another host.
            get = self.http.get(url, headers=headers, timeout=timeout, allow_redirects=False)
            async with get as response:
                if response.status != 200:
                    raise ManagementError(f"GET {url} answered {response.status}")
                return jsonsafe.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ManagementError(f"GET {url} failed: {str(exc) or type(exc).__name__}") from None


def _catalog_of(workflows: Any, languages: list[Any]) -> Catalog:
    if isinstance(workflows, dict):  # tolerate a wrapped listing
        workflows = workflows.get("workflows")
    if not isinstance(workflows, list):
        raise ManagementError("the workflow listing is not an array")
    steps: dict[str, tuple[str, str | None]] = {}
    names: dict[str, str] = {}
    for workflow in workflows:
        if not isinstance(workflow, dict):
            continue
        codename = _str(workflow.get("codename"))
        if (workflow_id := _str(workflow.get("id"))) and codename:
            names[workflow_id] = codename
        listed = workflow.get("steps")
        if not isinstance(listed, list):
            listed = []
        special = [workflow.get(k) for k in ("published_step", "archived_step", "scheduled_step")]
        for step in [*listed, *special]:
            if isinstance(step, dict) and (step_id := _str(step.get("id"))):
                step_codename = _str(step.get("codename"))
                if step_codename:
                    steps.setdefault(step_id, (step_codename, codename))
    codenames: dict[str, str] = {}
    default: str | None = None
    for language in languages:
        if not isinstance(language, dict):
            continue
        language_id, codename = _str(language.get("id")), _str(language.get("codename"))
        if language_id and codename:
            codenames[language_id] = codename
            if language.get("is_default") is True or language_id == DEFAULT_LANGUAGE_ID:
                default = codename
    return Catalog(codenames, default, steps, names)


def _resolved(event: Event, catalog: Catalog, language_id: str | None) -> Event:
    """`event` with every id the catalog knows replaced by its codename."""
    changes: dict[str, Any] = {}
    if language_id and language_id in catalog.languages:
        changes["language"] = catalog.languages[language_id]
    elif event.language == DEFAULT_LANGUAGE and catalog.default_language:
        changes["language"] = catalog.default_language
    for step_field, workflow_field in (
        ("workflow_step", "workflow"),
        ("previous_workflow_step", "previous_workflow"),
    ):
        step = catalog.steps.get(getattr(event, step_field) or "")
        if step is None:
            continue
        changes[step_field] = step[0]
        workflow = getattr(event, workflow_field)
        if step[1] and (workflow is None or _is_id(workflow)):
            changes[workflow_field] = step[1]
    for workflow_field in ("workflow", "previous_workflow"):
        value = getattr(event, workflow_field)
        if workflow_field not in changes and _is_id(value) and value in catalog.workflows:
            changes[workflow_field] = catalog.workflows[value]
    return dataclasses.replace(event, **changes) if changes else event


def _language_id(event: Event) -> str | None:
    """The language id the event's own slice of the legacy body carries, if any."""
    data = event.raw.get("data")
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        return None
    language = items[0].get("language")
    if isinstance(language, dict) and _is_id(language.get("id")):
        return str(language["id"])
    return str(language) if _is_id(language) else None


def _is_id(value: Any) -> bool:
    # The length test first: this runs for every field of every legacy event on the event loop.
    return isinstance(value, str) and len(value) == 36 and _GUID.fullmatch(value) is not None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
