"""`algolia`: keep an Algolia index in step with published (or preview) content.

Webhooks only say that an item changed, so each event's item is fetched fresh from the Delivery
API (preview slot → Preview API) and mapped to a record. A variant that is unpublished, deleted
or no longer there is removed from the index ("no longer there" only on Kontent.ai's own answer:
see bridge.kontent.answers; an unpublish the API contradicts saves: search_index.fetch_current).
A coalesced batch becomes as few `batch` requests as Algolia allows (up to 1,000 operations
each), and the action waits for Algolia's indexing tasks so that success means "searchable".
A record over `max_record_bytes` is shrunk to fit (record_size.py); one that cannot fit has its
old version deleted and fails the job, so no stale record stays searchable.
With `expand: used_in`, the items using a changed item or asset are reindexed too
(bridge.actions.used_in); records come from bridge.actions.records, shared by search actions.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from algoliasearch.http.api_response import ApiResponse
from algoliasearch.http.exceptions import AlgoliaUnreachableHostException, RequestException
from algoliasearch.http.hosts import Host, HostsCollection
from algoliasearch.http.retry import RetryOutcome, RetryStrategy
from algoliasearch.http.transporter import Transporter
from algoliasearch.search.client import SearchClient
from algoliasearch.search.config import SearchConfig
from pydantic import Field, field_validator

from bridge.actions.base import (
    Action,
    Call,
    PermanentFailure,
    Resources,
    Retry,
    Success,
)
from bridge.actions.httputil import (
    RETRYABLE_4XX,
    BodyTooLarge,
    client_session,
    excerpt,
    failure_reason,
)
from bridge.actions.record_size import fit_record
from bridge.actions.search_index import (
    PER_EVENT_OPTIONS,
    SearchIndexOptions,
    by_index,
    event_key,
    fetch_current,
    indexable,
    plan_call,
    record,
    skips,
    why_not_indexed,
)
from bridge.events import Event


class AlgoliaOptions(SearchIndexOptions):
    app_id: str
    api_key: str
    index: str = Field(min_length=1)
    object_id: str = "{codename}_{language}"
    hosts: list[str] | None = None
    max_record_bytes: int = Field(default=10_000, gt=0)
    wait: bool = True

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
    kept: list[str] = field(default_factory=list)  # a delete the Delivery API contradicts

    def by_index(self) -> dict[str, list[dict[str, Any]]]:
        return by_index(self.operations)

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
    per_event_options = PER_EVENT_OPTIONS | {"index", "object_id", "max_record_bytes"}
    summary = "Save or delete Algolia records from fresh Kontent.ai content."

    def __init__(self, name: str, resources: Resources) -> None:
        super().__init__(name, resources)
        self._clients: dict[tuple[str, str, tuple[str, ...]], SearchClient] = {}
        self._hosts: dict[tuple[str, str, tuple[str, ...]], list[Host]] = {}

    async def send(self, call: Call[AlgoliaOptions]) -> Success:
        options = call.options
        plan = Plan()

        async def plan_one(event: Event, options: AlgoliaOptions) -> None:
            await self._plan_one(event, options, plan)

        fanout = await plan_call(call, self.resources, plan_one, plan.skipped)
        if not plan.operations:
            return Success(response="nothing to do; " + skips(plan.skipped) + fanout)
        tasks: list[int] = []
        for index, operations in plan.by_index().items():
            tasks += await self._apply(options, index, operations)
        text = plan.summary()
        text += f"; tasks {','.join(map(str, tasks))}" + ("" if options.wait else " (not awaited)")
        if plan.skipped:
            text += "; " + skips(plan.skipped)
        if plan.shrunk:
            text += "; " + "; ".join(plan.shrunk)
        if plan.kept:
            text += "; " + "; ".join(plan.kept)
        if plan.unfit:
            # Everything else was applied; the job is not green, so someone looks at it.
            raise PermanentFailure("; ".join(plan.unfit), response=text + fanout)
        return Success(response=text + fanout)

    async def _plan_one(self, event: Event, options: AlgoliaOptions, plan: Plan) -> None:
        if not indexable(event):
            plan.skipped.append(f"{event.summary()}: {why_not_indexed(event, options, 'record')}")
            return
        object_id = event_key("object_id", options.object_id, event)
        key = (options.index, object_id)
        fetched = await fetch_current("algolia", self.resources, event, options, plan.kept)
        if fetched is None:
            plan.operations[key] = _delete(object_id)
            return
        fitted = fit_record(record(fetched, object_id, options), options.max_record_bytes)
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
        except EveryHostFailed as exc:
            raise Retry(str(exc), status=exc.status) from exc
        except BodyTooLarge as exc:  # before ClientError, which it is; a batch is safe to redo
            raise Retry(f"Algolia answered more than {exc.max_bytes} bytes") from exc
        except (TimeoutError, AlgoliaUnreachableHostException, aiohttp.ClientError) as exc:
            raise Retry(failure_reason("Algolia", exc)) from exc
        except (ValueError, AttributeError, TypeError, RecursionError) as exc:
            # A 2xx the SDK cannot read (HTML from a proxy, JSON of another shape: its
            # JSONDecodeError, pydantic ValidationError, AttributeError on None): say so.
            raise Retry(
                f"Algolia answered something its SDK cannot read: {_first_line(exc)}"
            ) from exc
        return tasks

    def _client(self, options: AlgoliaOptions) -> SearchClient:
        key = (options.app_id, options.api_key, tuple(options.hosts or ()))
        if key not in self._clients:
            config = SearchConfig(options.app_id, options.api_key)
            # The SDK would sleep out a 429's Retry-After inside the attempt, up to 3 times, so
            # the job's timeout, not the 429, would be its reason: the schedule waits instead.
            config.max_rate_limit_retries = 0
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


# What each host answered in the current request, newest last (a list per request: clients
# are shared by concurrent calls, and the SDK's strategy object by all of them).
_HOSTS_TRIED: ContextVar[list[tuple[str, ApiResponse[str]]] | None] = ContextVar(
    "algolia_hosts_tried", default=None
)


class EveryHostFailed(AlgoliaUnreachableHostException):
    """The SDK's "Unreachable hosts", with what each host answered: a 503 is not unreachable,
    and the status and the answer's excerpt are what an operator needs to see."""

    def __init__(self, tried: list[tuple[str, ApiResponse[str]]], correlation_id: Any) -> None:
        said = "; ".join(_host_said(host, response) for host, response in tried)
        message = f"every Algolia host failed: {said or 'none was tried'}"
        super().__init__(message, correlation_id)  # type: ignore[no-untyped-call]
        statuses = [response.status_code for _, response in tried if response.status_code]
        self.status: int | None = statuses[-1] if statuses else None


class _RecordingStrategy(RetryStrategy):
    """The SDK's host strategy, noting each answer it moves past (a timeout or a 5xx)."""

    def decide(self, host: Host, response: ApiResponse[str]) -> str:
        decision = super().decide(host, response)
        tried = _HOSTS_TRIED.get()
        if decision == RetryOutcome.RETRY and tried is not None:
            tried.append((host.url, response))
        return str(decision)


class HostUnreachable(TimeoutError):
    """No connection to one host (refused, no DNS name, closed before it answered).

    A TimeoutError, because that is the only error on which the SDK moves on to its next host:
    any other ends the request, so with the first of Algolia's hosts down (the `-dsn` one, or a
    `hosts:` entry) the others, there for exactly that, were never tried.
    """


async def _next_host_on_connection_error(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    try:
        return await handler(request)
    except aiohttp.ClientConnectionError as exc:
        raise HostUnreachable(f"{_NO_CONNECTION}{type(exc).__name__}: {exc}") from exc


_NO_CONNECTION = "no connection: "


class _Transporter(Transporter):
    """The SDK's transporter on a session whose reads are bounded (httputil.BoundedResponse),
    which moves on to the next host when one cannot be reached (HostUnreachable), and whose
    "Unreachable hosts" says what each host answered (EveryHostFailed).

    The SDK opens its own aiohttp session on first use and reads every answer whole; opening
    that session first, as the SDK would but with the bounded response class, bounds it.
    """

    def __init__(self, config: SearchConfig) -> None:
        super().__init__(config)
        self._retry_strategy = _RecordingStrategy()

    async def request(self, *args: Any, **kwargs: Any) -> ApiResponse[str]:
        if self._session is None:
            connector = aiohttp.TCPConnector(use_dns_cache=False)
            self._session = client_session(
                connector=connector,
                trust_env=True,
                middlewares=(_next_host_on_connection_error,),
            )
        tried: list[tuple[str, ApiResponse[str]]] = []
        token = _HOSTS_TRIED.set(tried)
        try:
            return await super().request(*args, **kwargs)
        except AlgoliaUnreachableHostException as exc:
            raise EveryHostFailed(tried, getattr(exc, "correlation_id", None)) from exc
        finally:
            _HOSTS_TRIED.reset(token)


def _host_said(host: str, response: ApiResponse[str]) -> str:
    if response.is_timed_out_error:
        said = response.error_message
        return (
            f"{host}: {excerpt(said, 200)}"
            if said.startswith(_NO_CONNECTION)
            else f"{host} timed out"
        )
    if response.status_code is None:
        return f"{host} failed: {excerpt(response.error_message, 200)}"
    text = excerpt(str(response.raw_data or ""), 200)
    said = f"{host} answered {response.status_code} {response.error_message}".rstrip()
    return f"{said}: {text}" if text else said


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def _delete(object_id: str) -> dict[str, Any]:
    return {"action": "deleteObject", "body": {"objectID": object_id}}


def _host(url: str) -> Host:
    parts = urlsplit(url)
    return Host(url=str(parts.hostname), scheme=parts.scheme, port=parts.port)


def _failure(exc: RequestException) -> Retry | PermanentFailure:
    status = exc.status_code
    reason = f"Algolia answered {status}: {exc.message}"
    if status is None or status == 429 or status >= 500 or status in RETRYABLE_4XX:
        return Retry(reason, status=status)
    return PermanentFailure(reason, status=status)
