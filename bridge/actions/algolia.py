"""`algolia`: keep an Algolia index in step with published (or preview) content.

Webhooks only say that an item changed, so each event's item is fetched fresh from the Delivery
API (preview slot → Preview API) and mapped to a record. A variant that is unpublished, deleted
or no longer there is removed from the index ("no longer there" only on Kontent.ai's own answer:
see bridge.kontent.client). A coalesced batch becomes as few `batch` requests as Algolia allows
(up to 1,000 operations each), and the action waits for Algolia's indexing tasks so that success
means "searchable". A record over `max_record_bytes` is shrunk to fit (record_size.py); one that
cannot fit has its old version deleted and fails the job, so no stale record stays searchable.
With `expand: used_in`, the items using a changed item or asset are reindexed too
(bridge.actions.used_in); records come from bridge.actions.records, shared by search actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from algoliasearch.http.api_response import ApiResponse
from algoliasearch.http.exceptions import AlgoliaUnreachableHostException, RequestException
from algoliasearch.http.hosts import Host, HostsCollection
from algoliasearch.http.transporter import Transporter
from algoliasearch.search.client import SearchClient
from algoliasearch.search.config import SearchConfig
from pydantic import Field, field_validator

from bridge.actions.base import (
    Action,
    ActionOptions,
    Call,
    PermanentFailure,
    Resources,
    Retry,
    Success,
)
from bridge.actions.httputil import BodyTooLarge, client_session
from bridge.actions.record_size import fit_record
from bridge.actions.records import RecordOptions, default_record, fill, mapped_record
from bridge.actions.used_in import Expand, expand_call
from bridge.events import Event

DELETE_ACTIONS = ("unpublished", "deleted")


class AlgoliaOptions(ActionOptions):
    app_id: str
    api_key: str
    index: str = Field(min_length=1)
    object_id: str = "{codename}_{language}"
    record: dict[str, Any] | None = None
    hosts: list[str] | None = None
    depth: int = Field(default=1, ge=0, le=10)
    max_record_bytes: int = Field(default=10_000, gt=0)
    batch_size: int = Field(default=1000, ge=1, le=1000)
    wait: bool = True
    delete_on: list[str] = Field(default_factory=lambda: list(DELETE_ACTIONS))
    expand: Expand = None
    content_depth: int = Field(default=3, ge=0, le=10)
    content_skip_types: list[str] = Field(default_factory=list)

    @field_validator("hosts")
    @classmethod
    def _base_urls(cls, hosts: list[str] | None) -> list[str] | None:
        for host in hosts or []:
            parts = urlsplit(host)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{host!r} is not a base URL like https://host:port")
            if parts.path not in ("", "/"):
                raise ValueError(f"{host!r}: Algolia hosts take no path")
        return hosts


@dataclass
class Plan:
    """What one call will do, keyed by (index, objectID): the last event for a record wins.

    The index comes from each event's own options, so `articles_{{ event.language }}` sends
    each variant of a mixed-language batch to its own index.
    """

    operations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    shrunk: list[str] = field(default_factory=list)  # saved, cut to fit max_record_bytes
    unfit: list[str] = field(default_factory=list)  # deleted: cannot fit; the job fails

    def by_index(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for (index, _), operation in self.operations.items():
            grouped.setdefault(index, []).append(operation)
        return grouped

    def summary(self) -> str:
        parts = []
        for index, operations in self.by_index().items():
            saves = sum(op["action"] == "addObject" for op in operations)
            parts.append(f"index {index}: saved {saves}, deleted {len(operations) - saves}")
        return "; ".join(parts)


class AlgoliaAction(Action[AlgoliaOptions]):
    Options = AlgoliaOptions
    secret_options = frozenset({"api_key"})
    # Without `hosts`, the SDK connects to hosts named after `app_id`: both choose the host.
    endpoint_options = {"hosts": "host", "app_id": "host"}
    summary = "Save or delete Algolia records from fresh Kontent.ai content."

    def __init__(self, name: str, resources: Resources) -> None:
        super().__init__(name, resources)
        self._clients: dict[tuple[str, str, tuple[str, ...]], SearchClient] = {}
        self._hosts: dict[tuple[str, str, tuple[str, ...]], list[Host]] = {}

    async def send(self, call: Call[AlgoliaOptions]) -> Success:
        options = call.options
        plan = Plan()
        expanded = await expand_call(call, self.resources.kontent)
        for position, item in enumerate(expanded.all_items):
            if position in expanded.expanded and item.event.object_type != "content_item":
                plan.skipped.append(f"{item.event.summary()}: reindexed the items using it")
                continue
            await self._plan_one(item.event, item.options, plan)
        plan.skipped += expanded.notes
        fanout = f"; {expanded.summary()}" if expanded.lookups else ""
        if not plan.operations:
            return Success(response="nothing to do; " + _skips(plan) + fanout)
        tasks: list[int] = []
        for index, operations in plan.by_index().items():
            tasks += await self._apply(options, index, operations)
        text = plan.summary()
        text += f"; tasks {','.join(map(str, tasks))}" + ("" if options.wait else " (not awaited)")
        if plan.skipped:
            text += "; " + _skips(plan)
        if plan.shrunk:
            text += "; " + "; ".join(plan.shrunk)
        if plan.unfit:
            # Everything else was applied; the job is not green, so someone looks at it.
            raise PermanentFailure("; ".join(plan.unfit), response=text + fanout)
        return Success(response=text + fanout)

    async def _plan_one(self, event: Event, options: AlgoliaOptions, plan: Plan) -> None:
        if event.object_type != "content_item" or not event.id or not event.environment_id:
            plan.skipped.append(f"{event.summary()}: {_why_not_indexed(event, options)}")
            return
        object_id = _object_id(options.object_id, event)
        key = (options.index, object_id)
        if event.action in options.delete_on:
            plan.operations[key] = _delete(object_id)
            return
        fetched = await self._fetch(event, options)
        if fetched is None:
            plan.operations[key] = _delete(object_id)
            return
        item, linked = fetched["item"], fetched.get("modular_content") or {}
        shape = RecordOptions(
            block_depth=options.content_depth, skip_types=frozenset(options.content_skip_types)
        )
        if options.record is not None:
            record = mapped_record(item, object_id, options.record, linked, shape)
        else:
            record = default_record(item, object_id, linked, shape)
        fitted = fit_record(record, options.max_record_bytes)
        if fitted.record is None:
            # Never leave the previous version searchable: delete it, and fail the job.
            note = (
                f"{object_id} too large to fit in {options.max_record_bytes} bytes "
                f"({fitted.final_bytes} bytes of fields that cannot be cut); old record deleted"
            )
            self.resources.logger.warning("[%s] %s", self.name, note)
            plan.unfit.append(note)
            plan.operations[key] = _delete(object_id)
            return
        if fitted.changes:
            note = f"{object_id} shrunk to fit ({fitted.describe()})"
            self.resources.logger.warning("[%s] %s", self.name, note)
            plan.shrunk.append(note)
        plan.operations[key] = {"action": "addObject", "body": fitted.record}

    async def _fetch(self, event: Event, options: AlgoliaOptions) -> dict[str, Any] | None:
        kontent = self.resources.kontent
        if kontent is None:
            raise PermanentFailure("algolia needs the Delivery API client (kontent: section)")
        return await kontent.fetch_item(
            str(event.environment_id),
            str(event.id),
            event.language,
            preview=event.delivery_slot == "preview",
            depth=options.depth,
        )

    async def _apply(
        self, options: AlgoliaOptions, index: str, operations: list[dict[str, Any]]
    ) -> list[int]:
        client = self._client(options)
        size = options.batch_size
        try:
            tasks = []
            for start in range(0, len(operations), size):
                chunk = operations[start : start + size]
                response = await client.batch(index, {"requests": chunk})
                tasks.append(response.task_id)
            if options.wait:
                for task in tasks:
                    await client.wait_for_task(index, task)
        except RequestException as exc:
            raise _failure(exc) from exc
        except BodyTooLarge as exc:  # before ClientError, which it is; a batch is safe to redo
            raise Retry(f"Algolia answered more than {exc.max_bytes} bytes") from exc
        except (TimeoutError, AlgoliaUnreachableHostException, aiohttp.ClientError) as exc:
            raise Retry(f"Algolia unreachable: {type(exc).__name__}: {exc}") from exc
        return tasks

    def _client(self, options: AlgoliaOptions) -> SearchClient:
        key = (options.app_id, options.api_key, tuple(options.hosts or ()))
        if key not in self._clients:
            config = SearchConfig(options.app_id, options.api_key)
            if options.hosts:
                self._hosts[key] = [_host(url) for url in options.hosts]
                config.hosts = HostsCollection(self._hosts[key])
            self._clients[key] = SearchClient(config=config, transporter=_Transporter(config))
        # The SDK sets a failing host aside for 5 minutes; our retry schedule already spaces
        # attempts, so each attempt may try every configured host again.
        for host in self._hosts.get(key, []):
            host.reset()
        return self._clients[key]

    async def close(self) -> None:
        clients, self._clients, self._hosts = list(self._clients.values()), {}, {}
        for client in clients:
            await client.close()


class _Transporter(Transporter):
    """The SDK's transporter on a session whose reads are bounded (httputil.BoundedResponse).

    The SDK opens its own aiohttp session on first use and reads every answer whole; opening
    that session first, as the SDK would but with the bounded response class, bounds it.
    """

    async def request(self, *args: Any, **kwargs: Any) -> ApiResponse[str]:
        if self._session is None:
            connector = aiohttp.TCPConnector(use_dns_cache=False)
            self._session = client_session(connector=connector, trust_env=True)
        return await super().request(*args, **kwargs)


def _object_id(template: str, event: Event) -> str:
    """From the event's own fields, so a delete finds the record a save made."""
    try:
        return str(fill(template, event.fields(), strict=True))
    except KeyError as exc:
        raise PermanentFailure(
            f"object_id {template!r}: unknown name {exc.args[0]!r} "
            "(use event fields such as id, codename, language, type, collection)"
        ) from None


def _why_not_indexed(event: Event, options: AlgoliaOptions) -> str:
    if event.object_type != "content_item":
        reason = f"not a content item ({event.object_type or 'unknown type'}): it has no record"
        if event.object_type == "asset" and options.expand is None:
            reason += "; set `expand: used_in` to reindex the items using it"
        return reason
    return "not a content item: the event names no item id or environment"


def _delete(object_id: str) -> dict[str, Any]:
    return {"action": "deleteObject", "body": {"objectID": object_id}}


def _host(url: str) -> Host:
    parts = urlsplit(url)
    return Host(url=str(parts.hostname), scheme=parts.scheme, port=parts.port)


def _failure(exc: RequestException) -> Retry | PermanentFailure:
    status = exc.status_code
    reason = f"Algolia answered {status}: {exc.message}"
    if status is None or status == 429 or status >= 500:
        return Retry(reason, status=status)
    return PermanentFailure(reason, status=status)


def _skips(plan: Plan) -> str:
    if not plan.skipped:
        return ""
    return f"skipped {len(plan.skipped)}: " + "; ".join(plan.skipped)
