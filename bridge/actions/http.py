"""`http`: call any HTTP endpoint. Templates may fill the URL's path and query, not its host.

Without `json` or `body` it POSTs `{"events": [...]}` with every event it carries (each with
its raw notification), so a coalesced batch is one request. The `Idempotency-Key` header is the
delivery id, stable across retries, so a receiver can drop a retry of a request it already
handled. Status rules live in `httputil.classify`.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.httputil import UrlTemplate, check_templated_origins, request

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class HttpOptions(ActionOptions):
    url: UrlTemplate
    method: Method = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    payload: Any = Field(default=None, alias="json")
    body: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> HttpOptions:
        if self.payload is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self

    @model_validator(mode="after")
    def _one_authorization(self) -> HttpOptions:
        # aiohttp refuses to send both, on every attempt: say so when the config loads.
        has_header = any(name.lower() == "authorization" for name in self.headers)
        if has_header and "@" in urlsplit(self.url).netloc:
            raise ValueError(
                "an Authorization header and credentials in the url (user:password@) cannot "
                "both be sent: keep one"
            )
        return self


class HttpAction(Action[HttpOptions]):
    Options = HttpOptions
    secret_options = frozenset({"headers"})
    endpoint_options = {"url": "url"}
    summary = "Call an HTTP endpoint (any method, templated JSON or text body)."

    async def send(self, call: Call[HttpOptions]) -> Success:
        options = call.options
        check_templated_origins(call, "url")
        headers = {"Idempotency-Key": call.delivery_id, **options.headers}
        kwargs: dict[str, Any] = {}
        if options.payload is not None:
            kwargs["json"] = options.payload
        elif options.body is not None:
            kwargs["data"] = options.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        elif options.method != "GET":
            kwargs["json"] = {"events": [event.to_json() for event in call.events]}
        return await request(
            self.resources.http,
            options.method,
            options.url,
            what=self.name,
            headers=headers,
            **kwargs,
        )
