"""`netlify`, `vercel`, `cloudflare_pages`: POST a deploy/build hook URL.

The three services take the same request: an empty POST to a secret URL. Builds are slow and
a publishing session fires many events, so these debounce by default: one build 60 s after the
last event, and at least one every 10 minutes while events keep coming.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.httputil import UrlTemplate, check_templated_origins, request

BUILD_DEFAULTS: Mapping[str, Any] = {"debounce": "60s", "max_wait": "10m"}


class HookOptions(ActionOptions):
    url: UrlTemplate


class BuildHookAction(Action[HookOptions]):
    Options = HookOptions
    defaults = BUILD_DEFAULTS
    secret_options = frozenset({"url"})  # the hook URL is the credential
    endpoint_options = {"url": "url"}
    service: ClassVar[str] = "build hook"

    async def send(self, call: Call[HookOptions]) -> Success:
        check_templated_origins(call, "url")
        return await request(
            self.resources.http, "POST", call.options.url, what=f"{self.name} ({self.service})"
        )


class NetlifyAction(BuildHookAction):
    summary = "Trigger a Netlify build hook (debounced: 60s, max_wait 10m)."
    service = "Netlify"


class VercelAction(BuildHookAction):
    summary = "Trigger a Vercel deploy hook (debounced: 60s, max_wait 10m)."
    service = "Vercel"


class CloudflarePagesAction(BuildHookAction):
    summary = "Trigger a Cloudflare Pages deploy hook (debounced: 60s, max_wait 10m)."
    service = "Cloudflare Pages"
