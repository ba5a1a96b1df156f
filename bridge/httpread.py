"""Bounded reading of HTTP answers, shared by the actions and the Kontent.ai clients.

Only the start of an answer is read (`READ_LIMIT_BYTES`): the delivery log keeps an excerpt,
so a target answering a gigabyte costs the bridge a few kilobytes, and the connection of a
longer answer is closed rather than drained. SDKs that share the session read through
`BoundedResponse`, which refuses more than `SDK_MAX_RESPONSE_BYTES`.

Below both bridge.actions and bridge.kontent (which raise the same failures, bridge.failures),
so neither imports the other's internals: the import contracts in pyproject.toml check it.
bridge.actions.httputil re-exports these names for the actions and plugins.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import contextvars
import email.utils
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bridge import jsonsafe, netproblems, redaction
from bridge.failures import PermanentFailure

EXCERPT_CHARS = 500
# How much of an answer is read: twice what the store keeps (2 KiB, RESPONSE_EXCERPT_BYTES in
# bridge.delivery.records), so that an excerpt never lacks text, and a few kilobytes at most.
READ_LIMIT_BYTES = 8192
# The most an SDK (slack-sdk, algoliasearch) may read of one answer: they read answers whole
# through `read()`, so the session's response class refuses more (see BoundedResponse).
SDK_MAX_RESPONSE_BYTES = 8 << 20
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
# How long the excerpt of an answer whose status has come may take: a body that trickles on
# must not turn an answered request into a timed-out one (and a 2xx into a repeat).
BODY_READ_S = 10.0


def excerpt(text: str, limit: int = EXCERPT_CHARS, *, whole: bool = True) -> str:
    """A bounded part of a response for the delivery log, secrets hidden before the cut (and,
    when `text` is not `whole` but the start of a longer answer, one that the read cut off)."""
    text = (redaction.redact(text) if whole else redaction.redactor.redact_prefix(text)).strip()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


@dataclass(frozen=True, slots=True)
class Body:
    """The start of an answer: at most `READ_LIMIT_BYTES`, decoded, and whether that was all."""

    text: str
    complete: bool
    declared_bytes: int | None = None  # Content-Length, when the target sent one
    read_bytes: int = 0
    # Why the body ended before its end (reset, short of its Content-Length, bad gzip): the
    # status was answered, so it still decides; the excerpt says the body is partial.
    broken: str = ""

    def excerpt(self, limit: int = EXCERPT_CHARS) -> str:
        if self.broken:
            text = excerpt(self.text, limit, whole=False)
            note = f"(the answer broke off after {self.read_bytes} bytes: {self.broken})"
            return f"{text}… {note}" if text else note
        if self.complete:
            return excerpt(self.text, limit)
        if self.declared_bytes is not None:
            size = f"{self.declared_bytes} bytes"
        else:
            size = f"more than {self.read_bytes} bytes"
        # Before the cut, and with the end of what was read, which may hold half a secret.
        text = redaction.redactor.redact_prefix(self.text).strip()
        return text[:limit] + f"… ({size}; only the first {self.read_bytes} read)"


class BodyTooLarge(aiohttp.ClientPayloadError):
    """An answer passed the most a caller will hold; its connection has been closed.

    A ClientPayloadError, so an SDK that handles aiohttp's errors handles this one too.
    """

    def __init__(self, max_bytes: int, declared_bytes: int | None) -> None:
        super().__init__(f"answer larger than {max_bytes} bytes")
        self.max_bytes = max_bytes
        self.declared_bytes = declared_bytes


async def _read_upto(
    resp: aiohttp.ClientResponse, limit: int, chunks: list[bytes] | None = None
) -> tuple[list[bytes], bool]:
    """Chunks of at most `limit` + 1 bytes (into `chunks`, which keeps what was read if the
    body breaks off), and whether the body ended within `limit`."""
    chunks = [] if chunks is None else chunks
    size = 0
    while size <= limit:
        chunk = await resp.content.read(limit + 1 - size)
        if not chunk:
            return chunks, True
        chunks.append(chunk)
        size += len(chunk)
    return chunks, False


async def read_prefix(resp: aiohttp.ClientResponse, limit: int = READ_LIMIT_BYTES) -> Body:
    """The first `limit` bytes of an answer; a longer one's connection is closed, not drained.

    A body that breaks off, or has not ended after `BODY_READ_S` (or 90% of what the attempt
    has left, netproblems.body_wait_s), is what was read, with the
    reason (`Body.broken`): the status line came whole, so a 404 with a bad gzip body is still
    a 404 (permanent), and a 200 whose body trickles on is a success, not a timeout.
    """
    chunks: list[bytes] = []
    broken = ""
    wait_s = netproblems.body_wait_s(BODY_READ_S)  # within the attempt's own timeout
    try:
        async with asyncio.timeout(wait_s):
            _, complete = await _read_upto(resp, limit, chunks)
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        complete, broken = False, answer_problem(exc)
    except TimeoutError:  # only this one: the attempt's own timeout propagates
        complete, broken = False, f"it had not ended after {wait_s:.3g} s"
    data = b"".join(chunks)[:limit]
    netproblems.note("done")  # what follows is no longer this request's doing
    if not complete:
        resp.close()
    return Body(
        decode(data, resp.charset, final=complete), complete, resp.content_length, len(data), broken
    )


def decode(data: bytes, charset: str | None, *, final: bool = True) -> str:
    """`data` as text in the answer's `charset`, which the target names: only a text encoding
    is used (Python's codecs also name `bz2` and `zlib`, which would inflate 8 KiB into
    gigabytes, and `rot13` or `hex`, which raise), UTF-8 when it names none that decodes, and
    no lone surrogate is kept (`unicode_escape` and `utf-7` make them; no store could save
    them). `final=False` when cut: a character split by the limit is dropped, not garbled."""
    text: str | None = None
    try:
        info = codecs.lookup(charset or "utf-8")
        if getattr(info, "_is_text_encoding", True):
            text = info.incrementaldecoder(errors="replace").decode(data, final=final)
    except (LookupError, UnicodeError, ValueError, TypeError):
        pass  # utf-16 without its BOM, `undefined`, ...
    if text is None:
        text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=final)
    return jsonsafe.without_lone_surrogates(text)


def answer_problem(exc: BaseException) -> str:
    """aiohttp's own words for a malformed answer, without the `400, message=` it puts first
    (its parser's code, not the target's status), on one line."""
    for error in (exc, exc.__cause__):
        message = getattr(error, "message", None)
        if isinstance(message, str) and message.strip():
            return " ".join(word for word in message.split() if word != "^")  # llhttp's caret
    return " ".join(str(exc).split()) or type(exc).__name__


def failure_reason(
    what: str, exc: BaseException, *, host: str | None = None, quote_error: bool = True
) -> str:
    """A job's reason for a request that got no usable answer (each a Retry): a malformed
    answer is not 'unreachable', and aiohttp's parser's `400` is not the target's status; a
    connection that failed says why in words (bridge.netproblems), naming host and port only.
    `quote_error=False` for a client whose messages hold the URL with its query (Trello's)."""
    if isinstance(exc, aiohttp.ClientPayloadError):  # a body cut off, bad gzip, a bad chunk
        return f"{what}: the answer broke off: {answer_problem(exc)}"
    if isinstance(exc, aiohttp.ClientResponseError) and isinstance(
        exc.__cause__, aiohttp.http_exceptions.HttpProcessingError
    ):
        return f"{what} sent an answer that is not valid HTTP: {answer_problem(exc)}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{what} closed the connection without answering"
    if (said := netproblems.no_answer(what, exc, host=host)) is not None:
        return said
    if isinstance(exc, TimeoutError):  # aiohttp's own timeouts (the session's, an SDK's)
        return f"{what} timed out: {netproblems.stalled() or 'no answer in time'}"
    if not quote_error:
        return f"{what} unreachable: {type(exc).__name__}"
    return f"{what} unreachable: {type(exc).__name__}: {exc}"


async def read_at_most(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The whole answer, for callers that need all of it; BodyTooLarge past `max_bytes`.

    A declared Content-Length over the maximum fails before anything is read; an undeclared
    (chunked) answer fails as soon as it passes the maximum. Either way the connection closes.
    """
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        resp.close()
        raise BodyTooLarge(max_bytes, declared)
    chunks, complete = await _read_upto(resp, max_bytes)
    netproblems.note("done")
    if not complete:
        chunks.clear()
        resp.close()
        raise BodyTooLarge(max_bytes, declared)
    return b"".join(chunks)


class BoundedResponse(aiohttp.ClientResponse):
    """A response whose `read()` (and so `text()`, `json()`) refuses more than `max_bytes`.

    The bridge's own code reads answers through read_prefix/read_at_most; SDKs that share the
    session call `read()`, and this is where their reads are bounded.
    """

    max_bytes = SDK_MAX_RESPONSE_BYTES

    async def read(self) -> bytes:
        if self._body is None:
            self._body = await read_at_most(self, self.max_bytes)
        return await super().read()


class RedirectRefused(PermanentFailure):
    """A redirect met by a request that did not say `allow_redirects=False` (an SDK's).

    Permanent, as `classify` makes a 3xx: SDKs send their key in headers aiohttp keeps across
    hosts (Algolia's `x-algolia-api-key`; only Authorization and Cookie are dropped), so a
    followed redirect would hand the key to whatever host the target names.
    """


async def _refuse_redirect(
    session: aiohttp.ClientSession,
    context: Any,
    params: aiohttp.TraceRequestRedirectParams,
) -> None:
    response = params.response
    where = response.headers.get("Location", "?")
    response.close()
    # The origin only: a hook's path is its credential.
    raise RedirectRefused(
        f"{params.url.origin()} redirected ({response.status}); redirects are not followed "
        f"(they could carry credentials to another host): configure the final URL: {where}",
        status=response.status,
    )


# The methods aiohttp itself sends again after a closed pooled connection (RFC 9112 9.3.1).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Whether the request being sent went out on a pooled connection: a holder per request, set by
# _retry_stale_connection and marked by the connector's reuse signal in the same task, so
# concurrent requests never see each other's.
_REUSED: contextvars.ContextVar[list[bool]] = contextvars.ContextVar("bridge_reused_connection")


async def _note_reuse(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
    holder = _REUSED.get(None)
    if holder is not None:
        holder[0] = True


async def _retry_stale_connection(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Send `request` again at once, on a new connection, when the pooled connection it went
    out on was closed without a byte of answer (ServerDisconnected, a reset).

    A server closes a keep-alive connection after its idle timeout (Node and uvicorn 5 s,
    nginx 75 s); a request written in the same few milliseconds meets the close and was never
    read. aiohttp retries that only for idempotent methods (RFC 9112 9.3.1); for a POST the
    job would wait a schedule step (holding a FIFO queue) and then send the same call with the
    same delivery id anyway, so the one retry now changes when, not whether, a call repeats.
    A new connection that fails, or a second failure, is raised as it is."""
    if request.method in IDEMPOTENT_METHODS:  # aiohttp's own retry covers these
        return await handler(request)
    holder = [False]
    token = _REUSED.set(holder)
    try:
        try:
            return await handler(request)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if (
                not holder[0]
                or isinstance(exc, aiohttp.ClientConnectorError)
                or getattr(request.body, "consumed", False)  # a stream read once cannot go again
            ):
                raise
        holder[0] = False
        return await handler(request)
    finally:
        _REUSED.reset(token)


# The status of each answer whose head arrived while `answer_heads()` is open in this task.
_HEADS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("bridge_answer_heads")


@contextlib.contextmanager
def answer_heads() -> Iterator[list[int]]:
    """Inside, the status of every answer whose status line and headers arrived, in order: an
    SDK reads the body itself and may fail doing so (cut off, not JSON), and its caller must
    still know that the target answered, and how (a 2xx that posted a message, say)."""
    heads: list[int] = []
    token = _HEADS.set(heads)
    try:
        yield heads
    finally:
        _HEADS.reset(token)


async def _note_head(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
) -> None:
    heads = _HEADS.get(None)
    if heads is not None:
        heads.append(params.response.status)
    netproblems.note("answered", status=params.response.status)


async def _note_start(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
) -> None:
    netproblems.note("connecting", url=params.url)


async def _note_failed(
    session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestExceptionParams
) -> None:
    """A request that failed is over, unless the attempt's timeout is what stopped it: then
    where it was is the timeout's reason."""
    if not isinstance(params.exception, asyncio.CancelledError | TimeoutError):
        netproblems.note("done")


def _phase(phase: str) -> Any:
    async def hook(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
        netproblems.note(phase)

    return hook


def client_session(**kwargs: Any) -> aiohttp.ClientSession:
    """An aiohttp session whose every read is bounded, which never follows a redirect and which
    sends a request again once when a pooled connection turns out closed: the one the bridge
    and its SDKs share."""
    guard = aiohttp.TraceConfig()
    guard.on_request_redirect.append(_refuse_redirect)
    guard.on_connection_reuseconn.append(_note_reuse)
    guard.on_request_end.append(_note_head)
    # How far each request got, for an attempt that runs out of time (netproblems.progress).
    guard.on_request_start.append(_note_start)
    guard.on_dns_resolvehost_start.append(_phase("resolving"))
    guard.on_dns_resolvehost_end.append(_phase("connecting"))
    guard.on_request_headers_sent.append(_phase("sent"))
    guard.on_request_exception.append(_note_failed)
    traces = [*(kwargs.pop("trace_configs", None) or ()), guard]
    # A caller's own middlewares wrap the stale-connection retry: they see its final outcome.
    middlewares = (*(kwargs.pop("middlewares", None) or ()), _retry_stale_connection)
    return aiohttp.ClientSession(
        response_class=BoundedResponse,
        trace_configs=traces,
        middlewares=middlewares,
        **kwargs,
    )


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    raw = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:  # "inf" and "nan" parse as floats, but are no delay-seconds: unreadable
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
