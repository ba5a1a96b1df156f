"""The Azure SDK side of `azure_search`: clients, credentials, and sending one batch.

The SDK (the `azure` install extra) is imported only here and only when used, so the action
type loads without it. Every client shares the host's HTTP session (answers bounded, see
httputil.BoundedResponse) and has the SDK's retries turned off: the job's schedule retries,
honouring the service's Retry-After, instead of the SDK sleeping inside an attempt.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from bridge.actions.azure_limits import failure_of, service_message
from bridge.actions.base import Retry
from bridge.httpread import failure_reason

if TYPE_CHECKING:
    from azure.core.credentials import AzureKeyCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.search.documents.aio import SearchClient

    Credential = AzureKeyCredential | AsyncTokenCredential

# Per action: None when Azure took it, else (status, message).
Answer = tuple[int, str] | None


def sdk_installed() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("azure.core", "azure.search.documents", "azure.identity")
    )


@dataclass(frozen=True, slots=True)
class Connection:
    """Where one index is and how the bridge proves who it is there."""

    endpoint: str
    index: str
    credential: str  # api_key | managed_identity | default
    api_key: str | None = None
    client_id: str | None = None
    audience: str | None = None
    api_version: str | None = None
    ca_file: str | None = None

    @property
    def identity(self) -> tuple[str, str | None, str | None]:
        return (self.credential, self.api_key, self.client_id)


class AzureClients:
    """One SearchClient per connection, one credential per identity; closed together."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self._http = http
        self._clients: dict[Connection, SearchClient] = {}
        self._credentials: dict[tuple[str, str | None, str | None], Credential] = {}

    def client(self, connection: Connection) -> SearchClient:
        from azure.core.pipeline.transport import AioHttpTransport
        from azure.search.documents.aio import SearchClient

        if connection not in self._clients:
            extra: dict[str, Any] = {}
            if connection.api_version:
                extra["api_version"] = connection.api_version
            if connection.audience:
                extra["audience"] = connection.audience
            self._clients[connection] = SearchClient(
                connection.endpoint,
                connection.index,
                self._credential(connection),
                transport=self._transport(AioHttpTransport, connection.ca_file),
                retry_total=0,
                # azure-core follows redirects itself (not through aiohttp) and drops only
                # Authorization on another domain: the api-key header would follow.
                permit_redirects=False,
                **extra,
            )
        return self._clients[connection]

    def _transport(self, kind: Any, ca_file: str | None = None) -> Any:
        # The host's session, never closed here; `ca_file` replaces the system's trust store
        # for this endpoint, verification stays on.
        verify: str | bool = ca_file or True
        return kind(session=self._http, session_owner=False, connection_verify=verify)

    def _credential(self, connection: Connection) -> Credential:
        if connection.identity in self._credentials:
            return self._credentials[connection.identity]
        from azure.core.credentials import AzureKeyCredential
        from azure.core.pipeline.transport import AioHttpTransport

        credential: Credential
        if connection.credential == "api_key":
            credential = AzureKeyCredential(str(connection.api_key))
        elif connection.credential == "managed_identity":
            from azure.identity.aio import ManagedIdentityCredential

            credential = ManagedIdentityCredential(
                client_id=connection.client_id,
                transport=self._transport(AioHttpTransport),
                retry_total=0,  # as for the index requests: the job's schedule retries
                permit_redirects=False,
            )
        else:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential(managed_identity_client_id=connection.client_id)
        self._credentials[connection.identity] = credential
        return credential

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        credentials, self._credentials = list(self._credentials.values()), {}
        for client in clients:
            await client.close()
        for credential in credentials:
            closing = getattr(credential, "close", None)
            if closing is not None:
                await closing()


# Requests one batch may take to find the documents a whole-request 400 is about (halving).
MAX_ISOLATION_REQUESTS = 32
NOT_SENT = (
    "not sent: its batch held a document Azure AI Search refuses, and finding which took all "
    f"{MAX_ISOLATION_REQUESTS} requests one attempt allows; sent again on the retry"
)


async def index_batch(
    client: SearchClient, actions: list[dict[str, Any]], key_field: str, endpoint: str
) -> list[tuple[dict[str, Any], Answer]]:
    """Send `actions` (`@search.action` plus the document); each comes back with its answer.

    A 413 halves the batch and sends each half; a lone action answered 413 is (413, ...).

    A 400 for the whole request (a value of another type than its field declares, a property
    the index lacks) names no document, and one such document kept every other one of the
    batch out of the index for good. The batch is then halved, and each half that is refused
    halved again, down to the documents refused on their own, each answered (400, ...); the
    rest is saved. When nothing at all goes through (an index whose fields are wrong for every
    document), the first refusal is the batch's failure, as before, and no document is
    answered refused (the action deletes the old version of a refused one). Halving takes at
    most MAX_ISOLATION_REQUESTS requests; documents it had no request left for are answered
    (503, NOT_SENT): busy, retried.
    """
    try:
        return await _send(client, actions, key_field, endpoint)
    except _Refused as refused:
        if len(actions) > 1:
            budget = [MAX_ISOLATION_REQUESTS]
            answers = await _isolate(client, actions, key_field, endpoint, budget)
            if any(answer is None for _, answer in answers):
                return answers
        raise failure_of(refused.error, endpoint) from refused.error


async def _isolate(
    client: SearchClient,
    actions: list[dict[str, Any]],
    key_field: str,
    endpoint: str,
    budget: list[int],
) -> list[tuple[dict[str, Any], Answer]]:
    half = len(actions) // 2
    answers: list[tuple[dict[str, Any], Answer]] = []
    for part in (actions[:half], actions[half:]):
        if budget[0] <= 0:
            answers += [(action, (503, NOT_SENT)) for action in part]
            continue
        budget[0] -= 1
        try:
            answers += await _send(client, part, key_field, endpoint)
        except _Refused as refused:
            if len(part) == 1:
                answers.append((part[0], (400, service_message(refused.error))))
            else:
                answers += await _isolate(client, part, key_field, endpoint, budget)
    return answers


async def _send(
    client: SearchClient, actions: list[dict[str, Any]], key_field: str, endpoint: str
) -> list[tuple[dict[str, Any], Answer]]:
    """One request (or, after a 413, one per half); `_Refused` for a whole-request 400."""
    from azure.core.exceptions import AzureError
    from azure.search.documents import IndexDocumentsBatch

    batch = IndexDocumentsBatch()
    adders = {
        "delete": batch.add_delete_actions,
        "upload": batch.add_upload_actions,
        "mergeOrUpload": batch.add_merge_or_upload_actions,
    }
    for action in actions:
        adders[action["@search.action"]]([{k: v for k, v in action.items() if k[0] != "@"}])
    try:
        results = await client.index_documents(batch, raw_response_hook=_refuse_413)
    except _TooLarge:
        if len(actions) == 1:
            return [(actions[0], (413, "request too large"))]
        half = len(actions) // 2
        first = await index_batch(client, actions[:half], key_field, endpoint)
        return first + await index_batch(client, actions[half:], key_field, endpoint)
    except AzureError as exc:
        if getattr(exc, "status_code", None) == 400 and _from_service(exc, endpoint):
            raise _Refused(exc) from exc
        raise failure_of(exc, endpoint) from exc
    except (TimeoutError, OSError) as exc:
        raise Retry(
            failure_reason("Azure AI Search", exc, host=urlsplit(endpoint).hostname)
        ) from exc
    except (ValueError, AttributeError, TypeError, RecursionError) as exc:  # a 2xx unread
        raise _unreadable(exc) from exc
    try:
        by_key = {result.key: result for result in results}
    except (AttributeError, TypeError) as exc:  # `value` not a list of results
        raise _unreadable(exc) from exc
    answered: list[tuple[dict[str, Any], Answer]] = []
    for action in actions:
        result = by_key.get(action[key_field])
        if result is None:
            answered.append((action, (500, "no result for this key in Azure's answer")))
        elif not result.succeeded:
            answered.append((action, (result.status_code, result.error_message or "")))
        else:
            answered.append((action, None))
    return answered


def _unreadable(exc: Exception) -> Retry:
    """HTML from a proxy, JSON of another shape: the SDK's JSONDecodeError or AttributeError
    would otherwise be the job's whole reason."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return Retry(
        f"Azure AI Search answered something that is not an index result: "
        f"{type(exc).__name__}: {first}".rstrip(": ")
    )


class _Refused(Exception):
    """The service answered 400 to the whole request (kept: `error`)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _from_service(exc: Exception, endpoint: str) -> bool:
    """The answer came from the index, not from the credential's token endpoint."""
    response = getattr(exc, "response", None)
    url = str(getattr(getattr(response, "request", None), "url", "") or "")
    return not url or url.startswith(endpoint)


class _TooLarge(Exception):
    """A 413, raised before the SDK's own batch halving sees it (12.0.0's fails on the second
    half with a TypeError), so the halving here decides what a lone document too large means."""


def _refuse_413(response: Any) -> None:
    if response.http_response.status_code == 413:
        raise _TooLarge
