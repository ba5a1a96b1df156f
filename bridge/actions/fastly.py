"""`fastly`: purge Fastly's cache by surrogate key.

Keys come from a template over each event (`article-{{ event.codename }}`); a coalesced batch
merges them without duplicates and purges at most 256 per request (Fastly's limit for
`POST /service/{id}/purge`). `soft: true` marks content stale instead of evicting it. A key
that renders empty (or None) is dropped; when none is left nothing is sent and the job succeeds
(the keys the options render over the whole batch are not a fallback: an event whose keys are
empty has nothing to purge).
"""

from __future__ import annotations

from pydantic import Field

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.httputil import (
    ApiUrlTemplate,
    Values,
    api_endpoint,
    chunks,
    merged,
    request,
)
from bridge.actions.used_in import Expand, expand_call

KEYS_PER_REQUEST = 256
NOTHING_TO_PURGE = "nothing to purge: every key rendered empty"


class FastlyOptions(ActionOptions):
    service_id: str = Field(pattern=r"^[A-Za-z0-9]+$")
    token: str
    keys: Values
    soft: bool = False
    api_url: ApiUrlTemplate = "https://api.fastly.com"
    expand: Expand = None


class FastlyAction(Action[FastlyOptions]):
    Options = FastlyOptions
    secret_options = frozenset({"token"})
    endpoint_options = {"api_url": "url"}
    per_event_options = frozenset(("keys", "expand"))
    summary = "Purge Fastly by surrogate keys (256 per request, optional soft purge)."

    async def send(self, call: Call[FastlyOptions]) -> Success:
        options = call.options
        expanded = await expand_call(call, self.resources.kontent)
        # Each event's own keys, as cloudflare and varnish take theirs: never the keys rendered
        # over the whole batch, which were purged only when every event's keys were empty.
        keys = merged(item.options.keys for item in expanded.all_items)
        fanout = f"; {expanded.summary()}" if expanded.summary() else ""
        if not keys:
            return Success(response=NOTHING_TO_PURGE + fanout)
        headers = {"Fastly-Key": options.token, "Accept": "application/json"}
        if options.soft:
            headers["Fastly-Soft-Purge"] = "1"
        url = api_endpoint(call, f"/service/{options.service_id}/purge")
        last = Success()
        for batch in chunks(keys, KEYS_PER_REQUEST):
            last = await request(
                self.resources.http,
                "POST",
                url,
                what=f"{self.name} (Fastly)",
                headers=headers,
                json={"surrogate_keys": batch},
            )
        kind = "soft-purged" if options.soft else "purged"
        return Success(
            status=last.status, response=f"{kind} {len(keys)} key(s): {last.response}{fanout}"
        )
