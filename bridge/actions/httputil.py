"""What every HTTP-speaking action shares: Retry-After, excerpts, status classes, URL origins.

One place decides which answers are worth retrying, so that `http`, the build hooks and the
purges agree: 2xx succeeds; 408, 409, 425, 429 and every 5xx retry (honouring Retry-After);
any other 4xx is permanent (the request itself is wrong: retrying cannot help); 3xx is
permanent too, because following a redirect could take the bridge to another host.

What no retry can fix is refused before anything is sent, here once for every action that
calls `request`: a header name that is not an HTTP token, a header value holding a control
character (CR/LF: header injection) or a lone surrogate, a body that cannot be encoded. Each is
a PermanentFailure naming the header, so a FIFO queue moves on at once.

Only the start of an answer is read (bridge.httpread, whose names this module re-exports for the
actions and plugins: `read_prefix`, `excerpt`, `retry_after_s`, ...).
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import aiohttp
from pydantic import AfterValidator, ValidationInfo

from bridge import httpread, jsonsafe, redaction
from bridge.actions import endpoints
from bridge.actions import sent as sent_requests
from bridge.actions.base import Call, PermanentFailure, Retry, Success
from bridge.httpread import (
    EXCERPT_CHARS,
    READ_LIMIT_BYTES,
    RETRYABLE_4XX,
    SDK_MAX_RESPONSE_BYTES,
    Body,
    BodyTooLarge,
    BoundedResponse,
    answer_heads,
    answer_problem,
    excerpt,
    failure_reason,
    read_at_most,
    read_prefix,
    retry_after_s,
)

# RFC 9110 5.6.2: a field name is a token; a value holds no control character but HTAB (and a
# lone surrogate is no character at all).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
TEMPLATE_MARKERS = ("{{", "{%", "{#")
# The most of an error answer's own words that a reason quotes (the whole answer is beside it).
ANSWER_SAYS_CHARS = 160
_TITLE = re.compile(r"<(title|h1)[^>]*>([^<]{1,500})</\1", re.IGNORECASE)


def classify(
    status: int,
    headers: Mapping[str, str],
    body: str | Body,
    *,
    what: str,
    body_in_reason: bool = False,
) -> Success:
    """Turn an HTTP answer into Success, or raise Retry / PermanentFailure.

    `body_in_reason` for targets that name the cause in a short body (Slack's `no_service`):
    the reason, which the job list shows, then ends with it.
    """
    text = body.excerpt() if isinstance(body, Body) else excerpt(body)
    if 200 <= status < 300:
        return Success(status=status, response=text)
    reason = f"{what} answered {status}"
    if body_in_reason:
        reason += f": {text or 'no body'}"
    elif said := answer_says(
        body.text if isinstance(body, Body) else body,
        whole=not isinstance(body, Body) or body.complete,
    ):
        reason += f": {said}"
    if status == 429 or status >= 500 or status in RETRYABLE_4XX:
        delay_s = retry_after_s(headers)
        if delay_s is not None:  # why the next attempt is later than the schedule's
            reason += f" (Retry-After: {delay_s:.0f} s)"
        raise Retry(reason, delay_s=delay_s, status=status, response=text)
    if 300 <= status < 400 and (where := headers.get("Location")):
        # The Location last: a URL's query runs to the end of the text (redaction hides its
        # token values up to a space, and would take a `;` after it with them).
        reason = f"{what} redirected ({status}); configure the final URL: {where}"
    elif 300 <= status < 400:  # 304 Not Modified, or a 3xx naming nowhere: no redirect at all
        reason = f"{what} answered {status} without a Location"
    raise PermanentFailure(reason, status=status, response=text)


def answer_says(text: str, limit: int = ANSWER_SAYS_CHARS, *, whole: bool = True) -> str:
    """The cause an error answer names, for the reason every view shows: a JSON error's
    message (`error`, `error_description`, `message`, `detail`, `title`, `errors[0]`), an HTML
    page's title, or a short one-line text; '' when it names none. Redacted and bounded (as
    the start of a longer text when not `whole`: the cut may have split a secret)."""
    text = text.strip()
    said = ""
    if text[:1] in "{[":
        with contextlib.suppress(ValueError, RecursionError):
            said = _json_says(jsonsafe.loads(text.encode()))
    elif text[:1] == "<":
        found = _TITLE.search(text[:READ_LIMIT_BYTES])
        said = html.unescape(found.group(2)) if found else ""
    elif "\n" not in text and len(text) <= limit:
        said = text
    said = " ".join(said.split())
    if not said.isprintable() or "\ufffd" in said:  # binary, or text in an unknown encoding
        return ""
    said = redaction.redact(said) if whole else redaction.redactor.redact_prefix(said).strip()
    return said if len(said) <= limit else said[:limit] + "…"


def _json_says(data: Any) -> str:
    if isinstance(data, list):
        return _json_says(data[0]) if data else ""
    if not isinstance(data, dict):
        return data if isinstance(data, str) else ""
    error = data.get("error")
    if isinstance(error, dict | list):  # {"error": {"code": ..., "message": ...}}
        return _json_says(error)
    parts = [
        data[key]
        for key in ("error", "code", "error_description", "message", "detail", "title")
        if isinstance(data.get(key), str) and data[key].strip()
    ]
    if not parts and isinstance(data.get("errors"), list):
        return _json_says(data["errors"])
    return ": ".join(dict.fromkeys(parts))


def header_problem(name: str, value: str) -> str | None:
    """Why `name: value` cannot be sent as an HTTP header (RFC 9110 5.5, 5.6.2), or None.

    Values may hold any text but control characters (HTAB aside) and lone surrogates; CR and LF
    would end the header and start another one (header injection), so aiohttp refuses them with
    a ValueError that would otherwise be retried for days.
    """
    if _TOKEN.fullmatch(name) is None:
        return f"header name {name!r} is not an HTTP token (letters, digits, !#$%&'*+-.^_`|~)"
    found = _UNSENDABLE.search(value)
    if found is None:
        return None
    char, position = found.group(), found.start()
    if char in "\r\n":
        what = "a line break"
    elif ord(char) >= 0xD800:
        what = "a lone surrogate"
    else:
        what = "a control character"
    return f"header {name!r} holds {what} ({char!r} at position {position})"


def check_headers(headers: Mapping[str, str], *, what: str) -> None:
    """PermanentFailure for the first header that can never be sent; rendered values included."""
    for name, value in headers.items():
        problem = header_problem(str(name), str(value))
        if problem is not None:
            raise PermanentFailure(
                f"{what}: {problem} after rendering; a retry would send the same"
            )


async def request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Success:
    """One request, never following redirects; network errors and timeouts become Retry,
    headers and bodies that can never be sent a PermanentFailure before anything connects."""
    success, _ = await answered(http, method, url, what=what, headers=headers, **kwargs)
    return success


async def answered(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> tuple[Success, Body]:
    """`request`, and the start of a 2xx answer's body as read (up to READ_LIMIT_BYTES, not
    redacted, not cut to the excerpt) for actions that must read what it says (Cloudflare's
    `"success": false`): `Success.response` is an excerpt for the log, never JSON to parse."""
    sent = dict(headers or {})
    check_headers(sent, what=what)
    sent_requests.note(method, url, sent, kwargs)  # for the job page (bridge/actions/sent.py)
    answer_came = False
    try:
        with sent_requests.noted_by_caller():
            async with http.request(
                method, url, headers=sent, allow_redirects=False, **kwargs
            ) as resp:
                answer_came = True
                body = await read_prefix(resp)
                return classify(resp.status, resp.headers, body, what=what), body
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Retry(failure_reason(what, exc)) from exc
    except UnicodeEncodeError as exc:  # a str body aiohttp encodes; the same fails every time
        raise PermanentFailure(f"{what}: the request body cannot be encoded: {exc}") from exc
    except ValueError as exc:
        if answer_came:  # not the request's doing: a bug, retried as any other
            raise
        # aiohttp refused to build the request (an Authorization header beside credentials in
        # the URL, a malformed URL): the same request is refused on every retry.
        raise PermanentFailure(f"{what}: the request cannot be sent: {exc}") from exc


def client_session(**kwargs: Any) -> aiohttp.ClientSession:
    """The bounded session (httpread.client_session) whose requests the worker records, those
    the SDKs send on it included (sent.trace_config)."""
    traces = [*(kwargs.pop("trace_configs", None) or ()), sent_requests.trace_config()]
    return httpread.client_session(trace_configs=traces, **kwargs)


def check_url_template(value: str, *, option: str = "url") -> str:
    """A URL template may fill the path or query, never the scheme or host.

    Called by Options validators: at config load the value is the unrendered template, so a
    template that could point the bridge at another host is refused before anything runs (the
    config check also applies the rule to every declared endpoint option: endpoints.py).
    """
    problem = endpoints.url_problem(value)
    if problem == endpoints.URL_TEMPLATED_HOST:
        raise ValueError(f"{option}: {problem}")
    if problem:
        raise ValueError(f"{option} {problem}")
    return value


def _check_url_field(value: str, info: ValidationInfo) -> str:
    return check_url_template(value, option=info.field_name or "url")


# Option types for a target URL that may be templated; the check runs when the config loads
# and names the option it checks.
UrlTemplate = Annotated[str, AfterValidator(_check_url_field)]
ApiUrlTemplate = UrlTemplate


def check_origin(template: str, rendered: str, *, option: str = "url") -> None:
    """At send time: the rendered URL keeps the template's literal scheme and host, and its path
    stays under the template's literal path (endpoints.check_url)."""
    endpoints.check_url(template, rendered, option=option)


static_prefix = endpoints.static_prefix


# Keys, tags or URLs as an option holds them after rendering. A one-expression template of a
# null field (`"{{ event.codename }}"` for a legacy workflow event) renders None, not text, and
# may render a list holding None: both stand for no value, as text that renders empty does.
Values = list[str | None] | str | None


def split_values(values: Iterable[str | None] | str | None) -> list[str]:
    """Keys, tags or URLs from one string or a list; whitespace separates several in one string.

    A template can then produce several values with a loop. Order is kept; duplicates dropped.
    What rendered empty (blank text, None) is dropped: no target is sent an empty key or URL.
    """
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    seen: dict[str, None] = {}
    for value in values:
        if value is None:
            continue
        for part in str(value).split():
            seen.setdefault(part, None)
    return list(seen)


def merged(per_item: Iterable[Values]) -> list[str]:
    """Values of every event of a coalesced batch, merged in order without duplicates."""
    seen: dict[str, None] = {}
    for values in per_item:
        for value in split_values(values):
            seen.setdefault(value, None)
    return list(seen)


def chunks(values: list[str], size: int) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def check_templated_origins(call: Call[Any], *names: str) -> None:
    """Send-time guard: options whose template was a URL keep its literal scheme and host.

    Config loading cannot type-check templated values, so this is where a template such as
    `https://{{ event.raw.host }}/` is refused, before any request leaves the bridge.
    """
    for name in names:
        template = call.templates.get(name)
        value = getattr(call.options, name, None)
        if isinstance(template, str) and isinstance(value, str):
            check_origin(template, value, option=name)


def api_endpoint(call: Call[Any], path: str) -> str:
    """`path` on the options' `api_url`, once the send-time origin check has passed."""
    check_templated_origins(call, "api_url")
    api_url: str = call.options.api_url
    return api_url.rstrip("/") + path


# Public: this module's own names and the bounded reading it re-exports from bridge.httpread.
__all__ = [
    "EXCERPT_CHARS",
    "READ_LIMIT_BYTES",
    "RETRYABLE_4XX",
    "SDK_MAX_RESPONSE_BYTES",
    "TEMPLATE_MARKERS",
    "ApiUrlTemplate",
    "Body",
    "BodyTooLarge",
    "BoundedResponse",
    "UrlTemplate",
    "Values",
    "answer_heads",
    "answer_problem",
    "answered",
    "api_endpoint",
    "check_headers",
    "check_origin",
    "check_templated_origins",
    "check_url_template",
    "chunks",
    "classify",
    "client_session",
    "excerpt",
    "failure_reason",
    "header_problem",
    "merged",
    "read_at_most",
    "read_prefix",
    "request",
    "retry_after_s",
    "split_values",
    "static_prefix",
]
