"""A fake Azure AI Search service: the documents index operation, as the official SDK calls it.

`POST /indexes('{index}')/docs/search.index?api-version=...` with `{"value": [{"@search.action":
"mergeOrUpload" | "upload" | "delete", ...}]}`. Like the service it checks the `api-key` header
(or a bearer token its managed-identity endpoint issued), answers 404 for an unknown index, 413
over `max_request_bytes`, 400 for the whole request over 1,000 actions or for a field name that
is not a valid Azure field name, and per document (207) for an invalid key or a term longer
than 32,766 UTF-8 bytes in a `filterable` field. `busy_keys` answer 503 per document once.
With `fields` (an index definition's `fields`, as Azure's REST API takes them), the index is
typed as the service's are: a property it does not declare, at any depth of a complex field, or
a value of another type than declared, is a 400 for the whole request, with the service's text.
`fail_next()` (429/503 with Retry-After) comes from FakeServer. With `ssl_context`, it serves
HTTPS (bearer tokens are only sent over TLS).

The token endpoint speaks the App Service managed identity protocol (`IDENTITY_ENDPOINT`,
`IDENTITY_HEADER`): `GET /msi/token?api-version=2019-08-01&resource=...`.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from typing import Any, Self

from aiohttp import web

from tests.fakes.server import FakeServer

KEY = re.compile(r"[A-Za-z0-9=-][A-Za-z0-9_=-]{0,1023}")
FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
MAX_TERM_BYTES = 32_766


class FakeAzureSearch(FakeServer):
    def __init__(
        self,
        *,
        api_key: str = "admin-key",
        key_field: str = "key",
        indexes: tuple[str, ...] = ("articles",),
        filterable: tuple[str, ...] = (),
        max_request_bytes: int = 16_000_000,
        ssl_context: ssl.SSLContext | None = None,
        identity_header: str = "identity-header-secret",
        fields: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.key_field = key_field
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in indexes}
        self.filterable = set(filterable)
        self.max_request_bytes = max_request_bytes
        self.ssl_context = ssl_context
        self.identity_header = identity_header
        self.fields = fields
        self.tokens: set[str] = set()
        self.busy_keys: set[str] = set()
        self.batches: list[list[dict[str, Any]]] = []  # accepted requests' actions

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/indexes('{index}')/docs/search.index", self._index)
        app.router.add_get("/msi/token", self._token)

    async def __aenter__(self) -> Self:
        if self.ssl_context is None:
            return await super().__aenter__()
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"https://127.0.0.1:{port}"
        return self

    def _authorised(self, request: web.Request) -> bool:
        if request.headers.get("api-key") == self.api_key:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme == "Bearer" and token in self.tokens

    async def _index(self, request: web.Request) -> web.Response:
        if "api-version" not in request.query:
            return _error(400, "The api-version query parameter (api-version) is required.")
        if not self._authorised(request):
            return web.Response(status=403, text="")  # the service answers 403 with no body
        name = request.match_info["index"]
        if name not in self.indexes:
            return _error(404, f"The index '{name}' for service 'fake' was not found.")
        body = await request.read()
        if len(body) > self.max_request_bytes:
            return _error(413, "The request is too large.")
        actions = json.loads(body)["value"]
        if len(actions) > 1000:
            return _error(400, "The request is invalid. Details: too many actions in one batch.")
        for action in actions:
            for field in action:
                if field != "@search.action" and not _valid_field(field):
                    return _error(
                        400,
                        f"The request is invalid. Details: The property '{field}' does not "
                        "exist on type 'search.documentFields'. Make sure to only use property "
                        "names that are defined by the type.",
                    )
        for action in actions:
            document = {k: v for k, v in action.items() if k != "@search.action"}
            problem = self.fields is not None and _typed(document, self.fields, "documentFields")
            if problem:
                return _error(400, f"The request is invalid. Details: {problem}")
        index = self.indexes[name]
        results = [self._apply(index, action) for action in actions]
        self.batches.append(actions)
        failed = any(not result["status"] for result in results)
        return web.json_response({"value": results}, status=207 if failed else 200)

    def _apply(self, index: dict[str, dict[str, Any]], action: dict[str, Any]) -> dict[str, Any]:
        kind = action.get("@search.action", "upload")
        key = action.get(self.key_field)
        document = {k: v for k, v in action.items() if k != "@search.action"}
        if not isinstance(key, str) or not KEY.fullmatch(key):
            message = (
                f"Invalid document key: '{key}'. Keys can only contain letters, digits, "
                "underscore (_), dash (-), or equal sign (=)."
            )
            return _result(key, 400, message)
        if key in self.busy_keys:
            self.busy_keys.discard(key)
            return _result(key, 503, "Service too busy, try again.")
        for field in self.filterable:
            value = document.get(field)
            if isinstance(value, str) and len(value.encode()) > MAX_TERM_BYTES:
                message = (
                    f"Field '{field}' contains a term that is too large to process. The max "
                    f"length for UTF-8 encoded terms is {MAX_TERM_BYTES} bytes."
                )
                return _result(key, 400, message)
        if kind == "delete":
            index.pop(key, None)
            return _result(key, 200)
        existed = key in index
        if kind == "mergeOrUpload" and existed:
            index[key] = {**index[key], **document}
        elif kind in ("mergeOrUpload", "upload"):
            index[key] = document
        else:
            return _result(key, 400, f"Unsupported action {kind!r}")
        return _result(key, 200 if existed else 201)

    async def _token(self, request: web.Request) -> web.Response:
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return _error(401, "missing or wrong X-IDENTITY-HEADER")
        token = f"fake-token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        return web.json_response(
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": request.query.get("resource"),
                "token_type": "Bearer",
            }
        )


_EDM = {
    "Edm.String": (str,),
    "Edm.Int32": (int,),
    "Edm.Int64": (int,),
    "Edm.Double": (int, float),
    "Edm.Boolean": (bool,),
    "Edm.DateTimeOffset": (str,),
    "Edm.ComplexType": (dict,),
}


def _typed(document: dict[str, Any], fields: list[dict[str, Any]], type_name: str) -> str | None:
    """What the service says of the first property `fields` does not declare or type, or None."""
    declared = {field["name"]: field for field in fields}
    for name, value in document.items():
        field = declared.get(name)
        if field is None:
            return (
                f"The property '{name}' does not exist on type 'search.{type_name}'. Make sure "
                "to only use property names that are defined by the type."
            )
        kind: str = field["type"]
        collection = kind.startswith("Collection(")
        element = kind.removeprefix("Collection(").removesuffix(")")
        values = value if collection and isinstance(value, list) else [value]
        if collection and not isinstance(value, list | None):
            return f"Cannot convert a value to target type '{kind}' because of conflict"
        for one in values:
            if one is None:
                continue
            if not isinstance(one, _EDM[element]) or (
                isinstance(one, bool) and element != "Edm.Boolean"
            ):
                return f"Cannot convert the literal '{one}' to the expected type '{element}'."
            if element == "Edm.ComplexType":
                problem = _typed(one, field["fields"], f"complex.{name}")
                if problem:
                    return problem
    return None


def _valid_field(name: str) -> bool:
    return bool(FIELD.fullmatch(name)) and not name.startswith("azureSearch")


def _result(key: Any, status: int, message: str | None = None) -> dict[str, Any]:
    return {"key": key, "status": status < 300, "errorMessage": message, "statusCode": status}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": "", "message": message}}, status=status)
