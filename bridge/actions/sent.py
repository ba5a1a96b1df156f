"""What an attempt sent: the outgoing HTTP request, recorded for the job page and the admin API.

The worker opens `recording()` around one call of an action; `httputil.request` (every
built-in HTTP action's one way out) calls `note()` with what it is about to send. The SDKs
(slack-sdk, algoliasearch, azure) send on sessions made by `httputil.client_session`, whose
`trace_config()` notes each request at the aiohttp layer the same way: method, URL and headers
when it starts, the body from the chunks aiohttp writes. A request `httputil.request` already
noted is skipped by the trace (`noted_by_caller`). Outside a recording nothing is kept, and a
plugin that sends on a session of its own has no request recorded (the API says `null`, the job
page "not recorded").

What is kept is what an operator may see: headers and the URL's query with secrets hidden by
the one policy of bridge.redaction (credential-named keys and configured secret values), the
body cut to `BODY_CHARS`. The last request of a call is kept (the one whose answer decided the
outcome), with the number of requests the call sent.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp

from bridge import redaction

BODY_CHARS = 4000
HEADER_CHARS = 500
BODY_BYTES = 4 * BODY_CHARS  # what the trace keeps of a body it sees in chunks


@dataclass
class Recorder:
    requests: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def as_json(self) -> str | None:
        """The last request sent, as the store keeps it (JSON text), or None if none was."""
        if not self.requests:
            return None
        last = dict(self.requests[-1])
        last["requests_sent"] = self.count
        return json.dumps(last, ensure_ascii=False)


_current: ContextVar[Recorder | None] = ContextVar("bridge_sent_requests", default=None)
# True while httputil.request sends what it noted itself: the trace leaves that request alone.
_caller_noted: ContextVar[bool] = ContextVar("bridge_sent_caller_noted", default=False)


@contextlib.contextmanager
def recording(recorder: Recorder | None = None) -> Iterator[Recorder]:
    """Collect the requests `httputil.request` sends in this task (and tasks it starts)."""
    recorder = recorder if recorder is not None else Recorder()
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)


def note(
    method: str, url: str, headers: Mapping[str, str], kwargs: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Record a request about to be sent (only inside `recording()`; never raises): the entry
    kept, for the trace to add the body it sees later, or None outside a recording."""
    recorder = _current.get()
    if recorder is None:
        return None
    recorder.count += 1
    try:
        shown = {
            "method": method.upper(),
            "url": redact_url(url),
            "headers": _headers(headers),
            "body": _body(kwargs),
        }
    except Exception:  # what cannot be shown must never fail the call
        shown = {"method": method.upper(), "url": "(not shown)", "headers": {}, "body": None}
    recorder.requests[:] = [shown]
    return shown


@contextlib.contextmanager
def noted_by_caller() -> Iterator[None]:
    """Around a request its caller has noted: the session's trace does not note it again."""
    token = _caller_noted.set(True)
    try:
        yield
    finally:
        _caller_noted.reset(token)


def trace_config() -> aiohttp.TraceConfig:
    """Hooks that note every request a session sends inside a recording (SDKs' included)."""
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_on_start)
    config.on_request_chunk_sent.append(_on_chunk)
    config.on_request_end.append(_on_done)
    config.on_request_exception.append(_on_done)
    return config


async def _on_start(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams
) -> None:
    if _current.get() is None or _caller_noted.get():
        return
    ctx.shown = note(params.method, str(params.url), params.headers, {})
    ctx.body = bytearray()


async def _on_chunk(
    _session: aiohttp.ClientSession,
    ctx: SimpleNamespace,
    params: aiohttp.TraceRequestChunkSentParams,
) -> None:
    if getattr(ctx, "shown", None) is not None and len(ctx.body) <= BODY_BYTES:
        ctx.body += params.chunk


async def _on_done(_session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: object) -> None:
    """The body, rendered once when the request is sent (or failed)."""
    shown: dict[str, Any] | None = getattr(ctx, "shown", None)
    if shown is None or not ctx.body:
        return
    try:
        shown["body"] = _sent_body(bytes(ctx.body[:BODY_BYTES]), len(ctx.body) > BODY_BYTES)
    except Exception:  # what cannot be shown must never fail the call
        shown["body"] = "(not shown)"
    ctx.shown = None


def redact_url(url: str) -> str:
    """A URL with its user info and its credential-named query values (`access_token=`,
    `api_key=`, `code=`) hidden, and configured secret values anywhere in it: the one policy's
    (bridge.redaction, bridge.secret_urls), which hides them in every text."""
    return redaction.redact(url)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """redaction.is_secret_key, cached: the same few keys come with every call (uncached, the
    check's two regexes per key are most of a recording's cost)."""
    return redaction.is_secret_key(key)


def _hidden(value: Any) -> Any:
    """Credential-named keys hidden at any depth (redaction.redact_value's key rule). Secret
    values inside strings are hidden afterwards, once, in the serialised text (the redactor
    knows their JSON-escaped forms too)."""
    if isinstance(value, Mapping):
        return {
            k: _hide(v) if isinstance(k, str) and _secret_key(k) else _hidden(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_hidden(v) for v in value]
    return value


def _hide(value: Any) -> Any:
    return value if value in (None, "") else redaction.REDACTED


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        str(k): _hide(v) if _secret_key(str(k)) else redaction.redact(str(v))[:HEADER_CHARS]
        for k, v in headers.items()
    }


def _body(kwargs: Mapping[str, Any]) -> str | None:
    if kwargs.get("json") is not None:
        text = json.dumps(_hidden(kwargs["json"]), ensure_ascii=False, default=str)
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        if isinstance(data, bytes | bytearray):
            text = bytes(data).decode("utf-8", "replace")
        elif isinstance(data, str):
            text = data
        elif isinstance(data, Mapping):
            text = urlencode(_hidden(dict(data)))
        else:
            text = f"({type(data).__name__} body)"
    else:
        return None
    return _cut(redaction.redact(text))


def _sent_body(data: bytes, truncated: bool) -> str:
    """A body as sent on the wire: JSON and form bodies with credential-named keys hidden (as
    `_body` does for httputil's), anything else as text; configured secrets hidden either way
    (a secret the first BODY_BYTES cut off included)."""
    text = data.decode("utf-8", "replace")
    if not truncated:
        try:
            text = json.dumps(_hidden(json.loads(text)), ensure_ascii=False)
        except ValueError:
            text = _form(text)
        text = _cut(redaction.redact(text))
    else:
        text = _cut(redaction.redactor.redact_prefix(text))
    return text + (" … (more not kept)" if truncated and len(text) < BODY_CHARS else "")


def _form(text: str) -> str:
    """A form body (`token=xoxb-...&channel=...`) with its credential-named values hidden."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:  # not a form
        return text
    if not any(_secret_key(k) for k, _ in pairs):
        return text
    return urlencode([(k, _hide(v) if _secret_key(k) else v) for k, v in pairs], safe="*")


def _cut(text: str) -> str:
    if len(text) > BODY_CHARS:
        return text[:BODY_CHARS] + f"… ({len(text) - BODY_CHARS} more characters)"
    return text
