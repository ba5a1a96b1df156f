"""What a Sync API v2 answer means: a page of deltas and the token after it, or a SyncError.

The shapes are those of Kontent.ai's own SDKs (@kontent-ai/sync-sdk's zod schemas,
Kontent.Ai.Sync for .NET): a 2xx body is a JSON object with the lists `items`, `types`,
`languages` and `taxonomies` (the init answer has them empty), each delta `{"change_type":
"changed" | "deleted", "timestamp", "data": {"system": {...}}}`; the token to continue from is
the `X-Continuation` header. An error is a JSON object `{"message", "request_id",
"error_code", "specific_code"}` with a 4xx or 5xx status (kontent.ai/learn/docs/apis/
sync-api-v2/errors).

A page's token moves the synchronisation past the page's deltas, so an answer whose deltas
cannot be read is an error, never an empty page: saving its token would skip what it held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge import jsonsafe
from bridge.httpread import decode, excerpt, retry_after_s

CONTINUATION = "X-Continuation"
DELTA_KINDS = ("items", "types", "languages", "taxonomies")

# Why a request failed, for logs and the bridge_source_errors_total metric (a bounded label).
Reason = Literal[
    "unauthorized",  # 401/403: the key
    "token_rejected",  # Kontent.ai no longer knows the continuation token
    "token_repeated",  # a page answered a token the poll already had: the sync does not move
    "rate_limited",  # 429 after every allowed wait
    "server_error",  # 5xx
    "refused",  # another 3xx/4xx, or one that is not Kontent.ai's own
    "unreachable",  # DNS, refused or reset connections, timeouts
    "bad_answer",  # a 2xx that is not a Sync API answer
]


class SyncError(Exception):
    """A request failed; `permanent` when repeating it cannot help (a bad key, a bad token)."""

    def __init__(
        self,
        message: str,
        *,
        reason: Reason,
        status: int | None = None,
        permanent: bool = False,
        retry_after_s: float | None = None,
    ):
        super().__init__(message)
        self.reason: Reason = reason
        self.status = status
        self.permanent = permanent
        self.retry_after_s = retry_after_s  # what the answer asked (Retry-After), if anything


@dataclass(frozen=True, slots=True)
class Page:
    """One answer: the deltas by kind and the token to continue from."""

    token: str
    deltas: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.deltas.values())


def page(
    status: int, headers: Mapping[str, str], body: bytes, charset: str | None, path: str
) -> Page:
    """The page a 2xx answer holds; SyncError for anything else."""
    if not 200 <= status < 300:
        raise failure(status, headers, body, charset, path)
    next_token = headers.get(CONTINUATION)
    if not next_token:
        raise SyncError(
            f"Sync API answered {path} without an {CONTINUATION} header",
            reason="bad_answer",
            status=status,
        )
    try:
        # One decoder for untrusted JSON: json.loads let a deep nesting's RecursionError out,
        # which stopped the poller for good, and NUL or lone surrogates no store can insert.
        # Bytes, not text: a body that is not UTF-8 is refused here, where aiohttp's text()
        # raised a UnicodeDecodeError no caller expected (the poller stopped).
        value = jsonsafe.loads(body)
    except ValueError as exc:
        raise SyncError(
            f"Sync API answered {path} with invalid JSON: {exc}", reason="bad_answer"
        ) from None
    if not isinstance(value, dict) or not any(isinstance(value.get(k), list) for k in DELTA_KINDS):
        raise SyncError(
            f"Sync API answered {path} with JSON that is not a Sync API answer (no "
            f"{', '.join(DELTA_KINDS)} lists): {_excerpt(body, charset)}",
            reason="bad_answer",
        )
    deltas = {kind: _deltas(value.get(kind), kind) for kind in DELTA_KINDS}
    # Kinds the API may add later pass through, as unknown webhook object types do; other
    # members (not lists of delta objects) are no deltas and are left alone.
    for kind, listed in value.items():
        if kind not in deltas and _looks_like_deltas(listed):
            deltas[kind] = listed
    return Page(token=next_token, deltas=deltas)


def failure(
    status: int, headers: Mapping[str, str], body: bytes, charset: str | None, path: str
) -> SyncError:
    """The SyncError a non-2xx answer stands for (a 429 is the client's to wait out)."""
    text = _excerpt(body, charset)
    wait_s = retry_after_s(headers)
    if status in (401, 403):
        # Never the key itself: only which one is wrong.
        return SyncError(
            f"Sync API refused the key for {path} ({status}): check the source's "
            "secure_access_key (published) or preview_api_key (preview)",
            reason="unauthorized",
            status=status,
            permanent=True,
        )
    if status in (400, 404) and path == "sync" and kontent_error(body):
        return SyncError(
            f"Sync API rejected the continuation token ({status}): {text}",
            reason="token_rejected",
            status=status,
            permanent=True,
        )
    if status == 429:
        return SyncError(
            f"Sync API kept answering 429 to {path}", reason="rate_limited", status=status
        )
    if status >= 500:
        return SyncError(
            f"Sync API answered {status} to {path}: {text}",
            reason="server_error",
            status=status,
            retry_after_s=wait_s,
        )
    # A 400/404 that is not Kontent.ai's error object (a proxy's or a CDN's page) says nothing
    # about the token: dropping it would lose the changes since the last poll. Asked again.
    who = "" if kontent_error(body) else " (not a Kontent.ai error object: a proxy?)"
    return SyncError(
        f"Sync API answered {status} to {path}{who}: {text}",
        reason="refused",
        status=status,
        retry_after_s=wait_s,
    )


def kontent_error(body: bytes) -> bool:
    """Whether `body` is Kontent.ai's error object (`message` with `error_code` or
    `request_id`), which only the API itself sends."""
    try:
        value = jsonsafe.loads(body)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and isinstance(value.get("message"), str)
        and ("error_code" in value or "request_id" in value)
    )


def _deltas(value: Any, kind: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise SyncError(
            f"Sync API answer: '{kind}' is not a list of delta objects", reason="bad_answer"
        )
    return value


def _looks_like_deltas(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(d, dict) and isinstance(d.get("change_type"), str) for d in value)
    )


def _excerpt(body: bytes, charset: str | None) -> str:
    return excerpt(decode(body[:8192], charset, final=len(body) <= 8192))
