"""`azure_search`: keep an Azure AI Search index in step with published (or preview) content.

The same work as `algolia`, against another engine: each event's item is fetched fresh from the
Delivery API, mapped by the shared record mapping (bridge.actions.records) with Azure's naming
rules as its parameters, and merged or uploaded; unpublished, deleted or vanished variants are
deleted by key, once the Delivery API agrees (search_index.fetch_current). Batches stay within
Azure's limits (1,000 actions, 16 MB a request). What Azure rejects per document is not left
behind as a stale version: a document that cannot fit, or that the service refuses, has its old
version deleted and fails the job; what Azure asks to retry (429/503 with Retry-After,
per-document 409/422/503) retries the whole idempotent call.

The official `azure-search-documents` SDK comes with the `azure` install extra; it is imported
only when the action sends, so the action type loads without it and `bridge check` names the
extra to install.
"""

from __future__ import annotations

import base64
import importlib.util
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from bridge.actions.azure_client import (
    NOT_SENT,
    AzureClients,
    Connection,
    index_batch,
    sdk_installed,
)
from bridge.actions.azure_limits import (
    KEY_RULE,
    azure_field_name,
    batches,
    document_problem,
    field_name_problem,
)
from bridge.actions.base import (
    Action,
    Call,
    PermanentFailure,
    Resources,
    Retry,
    Success,
)
from bridge.actions.cafile import CaFile
from bridge.actions.httputil import TEMPLATE_MARKERS
from bridge.actions.record_size import PROTECTED_FIELDS, Fitted, fit_record, json_size
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

MAX_REQUEST_BYTES = 16_000_000  # "about 16 MB per batch", counted in decimal to stay below it
ENVELOPE_BYTES = len('{"value": []}')
ACTION_BYTES = len('"@search.action": "mergeOrUpload", ')
INSTALL = "pip install 'kontent-bridge[azure]'"
WRITES = {"merge_or_upload": "mergeOrUpload", "upload": "upload"}


class AzureSearchOptions(SearchIndexOptions):
    endpoint: str
    index: str = Field(min_length=2, max_length=128)
    credential: Literal["api_key", "managed_identity", "default"] | None = None
    api_key: str | None = None
    client_id: str | None = None  # a user-assigned managed identity
    audience: str | None = None  # sovereign clouds: https://search.azure.us, ...
    api_version: str | None = None  # the SDK's default
    ca_file: CaFile | None = None  # a CA bundle the endpoint's certificate chains to
    key: str = "{codename}_{language}"
    key_field: str = "key"
    key_encoding: Literal["auto", "base64"] = "auto"
    write: Literal["merge_or_upload", "upload"] = "merge_or_upload"
    max_record_bytes: int | None = Field(default=None, gt=0)
    max_request_bytes: int = Field(default=MAX_REQUEST_BYTES, ge=1000, le=16 * 1024 * 1024)

    @field_validator("endpoint")
    @classmethod
    def _base_url(cls, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{endpoint!r} is not a URL like https://<service>.search.windows.net")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{endpoint!r}: the endpoint takes no path or query")
        return endpoint.rstrip("/")

    @field_validator("index")
    @classmethod
    def _index_name(cls, index: str) -> str:
        if any(marker in index for marker in TEMPLATE_MARKERS):
            return index  # checked once rendered, per event
        if not re.fullmatch(r"[a-z0-9](?:[a-z0-9]|[-_](?![-_]))*", index):
            raise ValueError(
                f"{index!r} is not an Azure index name (lower-case letters, digits, dashes and "
                "underscores, starting with a letter or digit, none doubled)"
            )
        return index

    @field_validator("key_field")
    @classmethod
    def _key_field(cls, name: str) -> str:
        problem = field_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    @field_validator("record")
    @classmethod
    def _record_fields(cls, record: dict[str, Any] | None) -> dict[str, Any] | None:
        for path, name in _field_names(record or {}):
            problem = field_name_problem(name)
            if problem:
                raise ValueError(f"record field {path!r}: {problem}")
        return record

    @model_validator(mode="after")
    def _credential_and_sdk(self) -> AzureSearchOptions:
        if not _sdk_installed():
            raise ValueError(f"azure_search needs the Azure SDK: {INSTALL}")
        kind = self.credential or ("api_key" if self.api_key else None)
        if kind is None:
            raise ValueError("set api_key, or credential: managed_identity (or default)")
        if kind == "api_key" and not self.api_key:
            raise ValueError("credential api_key needs api_key")
        if kind != "api_key" and self.api_key:
            raise ValueError(f"credential {kind} takes no api_key (choose one)")
        if kind != "api_key" and self.endpoint.startswith("http://"):
            raise ValueError(f"credential {kind} needs an https endpoint (tokens go only over TLS)")
        if kind == "api_key" and self.client_id:
            raise ValueError("client_id names a managed identity; credential api_key takes none")
        return self

    @property
    def credential_kind(self) -> str:
        return self.credential or "api_key"

    @property
    def record_limit(self) -> int:
        """The largest document (with its action) that fits in one request."""
        fits = self.max_request_bytes - ENVELOPE_BYTES - ACTION_BYTES
        return min(fits, self.max_record_bytes) if self.max_record_bytes else fits


@dataclass
class Plan:
    """Per (index, key), the last event's action; and what the outcome must say."""

    actions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    shrunk: list[str] = field(default_factory=list)
    unfit: list[str] = field(default_factory=list)  # old document deleted; the job fails
    busy: list[str] = field(default_factory=list)  # Azure asked for a retry
    unsent: list[str] = field(default_factory=list)  # keys halving had no request left for
    kept: list[str] = field(default_factory=list)  # a delete the Delivery API contradicts

    def by_index(self) -> dict[str, list[dict[str, Any]]]:
        return by_index(self.actions)


class AzureSearchAction(Action[AzureSearchOptions]):
    Options = AzureSearchOptions
    secret_options = frozenset({"api_key"})
    endpoint_options = {"endpoint": "host"}
    # `write` and `key_field` are read per call too, when the batch is sent.
    per_event_options = PER_EVENT_OPTIONS | {"index", "key", "key_encoding", "max_record_bytes"}
    summary = "Merge, upload or delete Azure AI Search documents from fresh Kontent.ai content."

    def __init__(self, name: str, resources: Resources) -> None:
        super().__init__(name, resources)
        self._clients = AzureClients(resources.http)

    async def send(self, call: Call[AzureSearchOptions]) -> Success:
        options = call.options
        plan = Plan()

        async def plan_one(event: Event, options: AzureSearchOptions) -> None:
            await self._plan_one(event, options, plan)

        fanout = await plan_call(call, self.resources, plan_one, plan.skipped)
        if not plan.actions:
            return Success(response="nothing to do; " + skips(plan.skipped) + fanout)
        counts = [await self._apply(options, index, acts, plan) for index, acts in _sorted(plan)]
        text = "; ".join(counts)
        for notes in (plan.skipped and [skips(plan.skipped)], plan.shrunk, plan.kept, plan.unfit):
            text += "".join(f"; {note}" for note in notes or [])
        text += fanout
        if plan.busy or plan.unsent:
            # Everything else was applied; resending the whole call is safe (idempotent).
            reasons = ["Azure AI Search asked to retry " + ", ".join(plan.busy)] * bool(plan.busy)
            if plan.unsent:
                reasons.append(f"{len(plan.unsent)} document(s) {NOT_SENT}")
            raise Retry("; ".join(reasons), response=text)
        if plan.unfit:
            raise PermanentFailure("; ".join(plan.unfit), response=text)
        return Success(response=text)

    async def _plan_one(self, event: Event, options: AzureSearchOptions, plan: Plan) -> None:
        if not indexable(event):
            why = why_not_indexed(event, options, "document")
            plan.skipped.append(f"{event.summary()}: {why}")
            return
        key = _document_key(options, event)
        slot = (options.index, key)
        fetched = await fetch_current("azure_search", self.resources, event, options, plan.kept)
        if fetched is None:
            plan.actions[slot] = _delete(options, key)
            return
        document = record(
            fetched, key, options, id_key=options.key_field, field_name=azure_field_name
        )
        fitted, saved = _fit(document, options)
        if saved is None:
            note = (
                f"{key} too large to fit in {options.record_limit} bytes "
                f"({fitted.final_bytes} bytes of fields that cannot be cut); old document deleted"
            )
            self.resources.logger.warning("[%s] %s", self.name, note)
            plan.unfit.append(note)
            plan.actions[slot] = _delete(options, key)
            return
        if fitted.changes:
            note = f"{key} shrunk to fit ({fitted.describe()})"
            self.resources.logger.warning("[%s] %s", self.name, note)
            plan.shrunk.append(note)
        plan.actions[slot] = {"@search.action": WRITES[options.write], **saved}

    async def _apply(
        self, options: AzureSearchOptions, index: str, actions: list[dict[str, Any]], plan: Plan
    ) -> str:
        client = self._clients.client(_connection(options, index))
        rejected: list[dict[str, Any]] = []
        saved = deleted = 0
        for batch in batches(actions, options.batch_size, options.max_request_bytes):
            for action, result in await index_batch(
                client, batch, options.key_field, options.endpoint
            ):
                kind, key = action["@search.action"], action[options.key_field]
                if result is None:
                    saved += kind != "delete"
                    deleted += kind == "delete"
                    continue
                status, message = result
                if message == NOT_SENT:
                    plan.unsent.append(key)
                elif status in (409, 422, 503):
                    plan.busy.append(f"{key} ({status}: {message})")
                elif kind == "delete":
                    plan.unfit.append(f"{key}: delete refused ({status}: {message})")
                else:
                    why = "too large for one request" if status == 413 else f"{status}: {message}"
                    note = f"{key} refused by Azure AI Search ({why}); old document deleted"
                    plan.unfit.append(note)
                    rejected.append(_delete(options, key))
        if rejected:  # never leave the previous version searchable
            for action, result in await index_batch(
                client, rejected, options.key_field, options.endpoint
            ):
                if result is not None:
                    key = action[options.key_field]
                    plan.unfit.append(f"{key}: delete refused ({result[0]}: {result[1]})")
                else:
                    deleted += 1
        return f"index {index}: {_written(options)} {saved}, deleted {deleted}"

    async def close(self) -> None:
        await self._clients.close()


def _sdk_installed() -> bool:
    return importlib.util.find_spec("azure") is not None and sdk_installed()


def _connection(options: AzureSearchOptions, index: str) -> Connection:
    return Connection(
        endpoint=options.endpoint,
        index=index,
        credential=options.credential_kind,
        api_key=options.api_key,
        client_id=options.client_id,
        audience=options.audience,
        api_version=options.api_version,
        ca_file=options.ca_file,
    )


def _fit(
    document: dict[str, Any], options: AzureSearchOptions
) -> tuple[Fitted, dict[str, Any] | None]:
    """The document shrunk to fit (record_size.py), or None when it cannot.

    A merge keeps the fields it is not sent, so a dropped field is sent as null instead; the
    nulls take room too, so the budget shrinks by what they add until the whole fits.
    """
    protected = PROTECTED_FIELDS | {options.key_field}
    limit = budget = options.record_limit
    fitted = fit_record(document, budget, protected)
    for _ in range(8):
        if fitted.record is None or not fitted.changes or options.write == "upload":
            return fitted, fitted.record
        saved = fitted.record | {name: None for name in document if name not in fitted.record}
        over = json_size(saved) - limit
        if over <= 0:
            return fitted, saved
        budget -= over
        fitted = fit_record(document, budget, protected)
    return fitted, None


def _document_key(options: AzureSearchOptions, event: Event) -> str:
    """From the event's own fields, so a delete finds the document a save made."""
    raw = event_key("key", options.key, event)
    key = raw
    if options.key_encoding == "base64" or not KEY_RULE.fullmatch(raw):
        key = base64.urlsafe_b64encode(raw.encode()).decode()
    problem = document_problem(key)
    if problem:
        raise PermanentFailure(f"key {raw!r}: {problem}")
    return key


def _delete(options: AzureSearchOptions, key: str) -> dict[str, Any]:
    return {"@search.action": "delete", options.key_field: key}


def _written(options: AzureSearchOptions) -> str:
    return "merged or uploaded" if options.write == "merge_or_upload" else "uploaded"


def _sorted(plan: Plan) -> list[tuple[str, list[dict[str, Any]]]]:
    return list(plan.by_index().items())


def _field_names(record: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every field name a `record:` mapping writes, nested complex fields included."""
    found: list[tuple[str, str]] = []
    for name, value in record.items():
        path = f"{prefix}{name}"
        found.append((path, str(name)))
        if isinstance(value, dict):
            found += _field_names(value, path + ".")
    return found
