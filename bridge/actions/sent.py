"""What an attempt sent: the outgoing HTTP request, recorded for the job page and the admin API.

The worker opens `recording()` around one call of an action; `httputil.request` (every
built-in HTTP action's one way out) calls `note()` with what it is about to send. Nothing else
changes: outside a recording `note` does nothing, and a plugin that sends its own way simply
has no request recorded (the API says `null`, the job page "not recorded").

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
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bridge import redaction

BODY_CHARS = 4000
HEADER_CHARS = 500


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


@contextlib.contextmanager
def recording(recorder: Recorder | None = None) -> Iterator[Recorder]:
    """Collect the requests `httputil.request` sends in this task (and tasks it starts)."""
    recorder = recorder if recorder is not None else Recorder()
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)


def note(method: str, url: str, headers: Mapping[str, str], kwargs: Mapping[str, Any]) -> None:
    """Record a request about to be sent (only inside `recording()`; never raises)."""
    recorder = _current.get()
    if recorder is None:
        return
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


def redact_url(url: str) -> str:
    """A URL with its user info and its credential-named query values (`access_token=`,
    `api_key=`) hidden, and configured secret values anywhere in it."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(_secret_key(k) for k, _ in pairs):  # else the query stays as written
        query = urlencode(
            [(k, redaction.REDACTED if _secret_key(k) else v) for k, v in pairs],
            safe="*",
        )
        parts = parts._replace(query=query)
    return redaction.redact(urlunsplit(parts))


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
    text = redaction.redact(text)
    if len(text) > BODY_CHARS:
        return text[:BODY_CHARS] + f"… ({len(text) - BODY_CHARS} more characters)"
    return text
