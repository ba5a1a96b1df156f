"""`cloudflare`: purge Cloudflare's cache by tags, files (URLs), prefixes or hosts.

Cloudflare takes one kind per request and at most 100 values per request on every plan
(Enterprise: 500, set `chunk_size`), so values are merged over the batch, de-duplicated, and
sent kind by kind in chunks. A 200 whose body says `"success": false` is a failure too. A value
that renders empty (or None) is dropped; when none is left nothing is sent and the job succeeds.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from bridge import jsonsafe
from bridge.actions.base import Action, ActionOptions, Call, PermanentFailure, Success
from bridge.actions.httputil import (
    ApiUrlTemplate,
    Body,
    Values,
    answered,
    api_endpoint,
    chunks,
    merged,
)
from bridge.actions.used_in import Expand, expand_call

KINDS = ("tags", "files", "prefixes", "hosts")
NOTHING_TO_PURGE = "nothing to purge: every tag, file, prefix and host rendered empty"


class CloudflareOptions(ActionOptions):
    zone_id: str = Field(pattern=r"^[A-Za-z0-9]+$")
    token: str
    tags: Values = None
    files: Values = None
    prefixes: Values = None
    hosts: Values = None
    chunk_size: int = Field(default=100, ge=1, le=500)
    api_url: ApiUrlTemplate = "https://api.cloudflare.com/client/v4"
    expand: Expand = None

    @model_validator(mode="after")
    def _something_to_purge(self) -> CloudflareOptions:
        # Given, not non-null: `tags: "{{ event.codename }}"` renders None for an event without
        # a codename, which is nothing to purge (a success), not an invalid configuration.
        if not self.model_fields_set & set(KINDS):
            raise ValueError("give at least one of tags, files, prefixes, hosts")
        return self


class CloudflareAction(Action[CloudflareOptions]):
    Options = CloudflareOptions
    secret_options = frozenset({"token"})
    # `hosts` here are the host names to purge, not where the bridge connects.
    endpoint_options = {"api_url": "url"}
    per_event_options = frozenset(("tags", "files", "prefixes", "hosts", "expand"))
    summary = "Purge Cloudflare's cache by tags, files, prefixes or hosts (chunked)."

    async def send(self, call: Call[CloudflareOptions]) -> Success:
        options = call.options
        url = api_endpoint(call, f"/zones/{options.zone_id}/purge_cache")
        headers = {"Authorization": f"Bearer {options.token}"}
        done: list[str] = []
        expanded = await expand_call(call, self.resources.kontent)
        for kind in KINDS:
            values = merged(getattr(item.options, kind) for item in expanded.all_items)
            for batch in chunks(values, options.chunk_size):
                result, body = await answered(
                    self.resources.http,
                    "POST",
                    url,
                    what=f"{self.name} (Cloudflare)",
                    headers=headers,
                    json={kind: batch},
                )
                _check_success(result, body)
            if values:
                done.append(f"{len(values)} {kind}")
        fanout = f"; {expanded.summary()}" if expanded.summary() else ""
        if not done:
            return Success(response=NOTHING_TO_PURGE + fanout)
        return Success(status=200, response="purged " + ", ".join(done) + fanout)


def _check_success(result: Success, answer: Body) -> None:
    """Cloudflare says `"success": false` in a 2xx too. Read from the body itself: the excerpt
    (result.response) is cut at 500 characters, and a cut one did not parse, so a long refusal
    read as a purge done."""
    try:
        body = jsonsafe.loads(answer.text.encode())
    except ValueError:
        return
    if isinstance(body, dict) and body.get("success") is False:
        listed = body.get("errors")
        found = listed if isinstance(listed, list) else [listed] if listed else []
        errors = "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in found
        )
        raise PermanentFailure(
            f"Cloudflare refused the purge: {errors or 'success: false'}",
            status=result.status,
            response=result.response,
        )
