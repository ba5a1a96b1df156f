"""What every HTTP-speaking action shares: Retry-After, excerpts, status classes, URL origins.

One place decides which answers are worth retrying, so that `http`, the build hooks and the
purges agree: 2xx succeeds; 408, 409, 425, 429 and every 5xx retry (honouring Retry-After);
any other 4xx is permanent (the request itself is wrong: retrying cannot help); 3xx is
permanent too, because following a redirect could take the bridge to another host.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import AfterValidator, ValidationInfo

from bridge.actions.base import Call, PermanentFailure, Retry, Success

EXCERPT_CHARS = 500
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
TEMPLATE_MARKERS = ("{{", "{%", "{#")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A bounded part of a response for the delivery log."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    raw = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def classify(status: int, headers: Mapping[str, str], body: str, *, what: str) -> Success:
    """Turn an HTTP answer into Success, or raise Retry / PermanentFailure."""
    text = excerpt(body)
    if 200 <= status < 300:
        return Success(status=status, response=text)
    reason = f"{what} answered {status}"
    if status == 429 or status >= 500 or status in RETRYABLE_4XX:
        raise Retry(reason, delay_s=retry_after_s(headers), status=status, response=text)
    if 300 <= status < 400:
        where = headers.get("Location", "?")
        reason = f"{what} redirected ({status}) to {where}; configure the final URL"
    raise PermanentFailure(reason, status=status, response=text)


async def request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Success:
    """One request, never following redirects; network errors and timeouts become Retry."""
    try:
        async with http.request(
            method, url, headers=dict(headers or {}), allow_redirects=False, **kwargs
        ) as resp:
            body = await resp.text(errors="replace")
            return classify(resp.status, resp.headers, body, what=what)
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Retry(f"{what} unreachable: {type(exc).__name__}: {exc}") from exc


def check_url_template(value: str, *, option: str = "url") -> str:
    """A URL template may fill the path or query, never the scheme or host.

    Called by Options validators: at config load the value is the unrendered template, so a
    template that could point the bridge at another host is refused before anything runs.
    """
    prefix = static_prefix(value)
    parts = urlsplit(prefix)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{option} must start with http:// or https:// written literally")
    if prefix != value:
        rest = prefix[len(parts.scheme) + 3 :]
        if not parts.netloc or not any(sep in rest for sep in "/?#"):
            raise ValueError(
                f"{option}: a template may fill the path or query only; "
                "write the scheme and host literally (https://host/...{{ ... }})"
            )
    elif not parts.netloc:
        raise ValueError(f"{option} has no host")
    return value


def _check_url_field(value: str, info: ValidationInfo) -> str:
    return check_url_template(value, option=info.field_name or "url")


# Option types for a target URL that may be templated; the check runs when the config loads
# and names the option it checks.
UrlTemplate = Annotated[str, AfterValidator(_check_url_field)]
ApiUrlTemplate = UrlTemplate


def check_origin(template: str, rendered: str, *, option: str = "url") -> None:
    """At send time: the rendered URL keeps the template's literal scheme and host."""
    expected = urlsplit(static_prefix(template))
    got = urlsplit(rendered)
    if (got.scheme, got.netloc) != (expected.scheme, expected.netloc):
        raise PermanentFailure(
            f"{option}: rendered URL changes the scheme or host "
            f"({got.scheme}://{got.netloc} instead of {expected.scheme}://{expected.netloc})"
        )


def static_prefix(template: str) -> str:
    """The part of a template before its first Jinja tag."""
    cut = min((i for i in (template.find(m) for m in TEMPLATE_MARKERS) if i >= 0), default=-1)
    return template if cut < 0 else template[:cut]


def split_values(values: Iterable[str] | str | None) -> list[str]:
    """Keys, tags or URLs from one string or a list; whitespace separates several in one string.

    A template can then produce several values with a loop. Order is kept; duplicates dropped.
    """
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    seen: dict[str, None] = {}
    for value in values:
        for part in str(value).split():
            seen.setdefault(part, None)
    return list(seen)


def merged(per_item: Iterable[Iterable[str] | str | None]) -> list[str]:
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
            check_url_template(value, option=name)


def api_endpoint(call: Call[Any], path: str) -> str:
    """`path` on the options' `api_url`, once the send-time origin check has passed."""
    check_templated_origins(call, "api_url")
    api_url: str = call.options.api_url
    return api_url.rstrip("/") + path
