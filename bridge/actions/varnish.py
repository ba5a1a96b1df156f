"""`varnish`: invalidate a Varnish cache by URL (PURGE), ban expression (BAN) or xkey tag.

Requests go to the cache's own address (`url`), never to a host taken from a template: a full
URL in `purge_urls` only supplies the path and the `Host` header. Your VCL decides what the
methods do; docs/actions.md has a VCL that matches these requests (vmod xkey for tags). A URL,
ban or tag that renders empty (or None) is dropped; when none is left nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import Field

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.httputil import (
    UrlTemplate,
    Values,
    check_templated_origins,
    chunks,
    merged,
    request,
)
from bridge.actions.used_in import Expand, expand_call

XKEYS_PER_REQUEST = 100  # keeps the header well under Varnish's 8 KB default limit
NOTHING_TO_PURGE = "nothing to purge: every URL, ban and xkey rendered empty"


class VarnishOptions(ActionOptions):
    url: UrlTemplate
    purge_urls: Values = None
    ban: Values = None
    xkey: Values = None
    xkey_header: str = "xkey-purge"
    ban_header: str = "X-Ban"
    host: str | None = Field(default=None, description="Host header for path-only purge_urls")
    expand: Expand = None


class VarnishAction(Action[VarnishOptions]):
    Options = VarnishOptions
    # `host` is only the Host header of path-only purge_urls; requests always go to `url`.
    endpoint_options = {"url": "url"}
    per_event_options = frozenset(("purge_urls", "ban", "xkey", "expand"))
    summary = "Invalidate Varnish by URL (PURGE), ban expression (BAN) or xkey tags."

    async def send(self, call: Call[VarnishOptions]) -> Success:
        check_templated_origins(call, "url")
        options = call.options
        cache = options.url.rstrip("/")
        expanded = await expand_call(call, self.resources.kontent)
        items = expanded.all_items
        urls = merged(item.options.purge_urls for item in items)
        bans = _unique(item.options.ban for item in items)
        keys = merged(item.options.xkey for item in items)
        fanout = f"; {expanded.summary()}" if expanded.summary() else ""
        if not (urls or bans or keys):
            return Success(response=NOTHING_TO_PURGE + fanout)
        for target in urls:
            path, host = _path_and_host(target, options.host)
            headers = {"Host": host} if host else {}
            await self._call("PURGE", cache + path, headers)
        for expression in bans:
            await self._call("BAN", cache + "/", {options.ban_header: expression})
        for batch in chunks(keys, XKEYS_PER_REQUEST):
            await self._call("PURGE", cache + "/", {options.xkey_header: " ".join(batch)})
        done = [f"{len(urls)} URL(s)", f"{len(bans)} ban(s)", f"{len(keys)} xkey(s)"]
        return Success(status=200, response="purged " + ", ".join(done) + fanout)

    async def _call(self, method: str, url: str, headers: dict[str, str]) -> None:
        await request(
            self.resources.http, method, url, what=f"{self.name} (Varnish)", headers=headers
        )


def _path_and_host(target: str, default_host: str | None) -> tuple[str, str | None]:
    parts = urlsplit(target)
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if parts.query:
        path += "?" + parts.query
    return path, parts.netloc or default_host


def _unique(values: Iterable[Values]) -> list[str]:
    """Ban expressions contain spaces: each string is one expression, kept whole."""
    seen: dict[str, None] = {}
    for value in values:
        for expression in [value] if isinstance(value, str) else value or []:
            if expression and expression.strip():
                seen.setdefault(expression.strip(), None)
    return list(seen)
