"""`discord`: post a message to a Discord channel webhook (an example kontent-bridge plugin).

Everything a plugin needs is here: a typed `Options` model (unknown keys are errors), the
secret options to redact, and `send()` turning Discord's answers into Success, Retry or
PermanentFailure. The host renders templates, retries, debounces and applies timeouts.
"""

from __future__ import annotations

import aiohttp
from pydantic import Field, field_validator

from bridge.actions.base import (
    Action,
    ActionOptions,
    Call,
    PermanentFailure,
    Retry,
    Success,
)
from bridge.actions.httputil import retry_after_s

MAX_CONTENT = 2000  # Discord's limit for `content`


class DiscordOptions(ActionOptions):
    webhook_url: str
    content: str | None = None
    username: str | None = Field(default=None, max_length=80)

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be the webhook's https:// URL")
        return value


class DiscordAction(Action[DiscordOptions]):
    Options = DiscordOptions
    secret_options = frozenset({"webhook_url"})  # the URL is the credential
    endpoint_options = {"webhook_url": "url"}  # content never chooses where it posts
    summary = "Post a message to a Discord webhook (example plugin)."

    async def send(self, call: Call[DiscordOptions]) -> Success:
        options = call.options
        content = options.content
        if content is None:  # a coalesced batch: one line per event
            content = "\n".join(event.summary() for event in call.events)
        body: dict[str, str] = {"content": content[:MAX_CONTENT]}
        if options.username:
            body["username"] = options.username
        try:
            async with self.resources.http.post(
                options.webhook_url, json=body, params={"wait": "true"}
            ) as resp:
                text = (await resp.text())[:500]
                status = resp.status
                retry_after = retry_after_s(resp.headers)  # seconds or an HTTP date
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise Retry(f"Discord unreachable: {exc}") from exc
        if 200 <= status < 300:
            return Success(status=status, response=text)
        if status == 429 or status >= 500:
            raise Retry(
                f"Discord answered {status}", delay_s=retry_after, status=status, response=text
            )
        raise PermanentFailure(f"Discord answered {status}", status=status, response=text)
