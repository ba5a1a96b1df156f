"""The OpenAPI 3.1 description of the admin API, served at /admin/api/openapi.json.

It states what the routes really take and answer, so that a fuzzer driven by it (the tests run
schemathesis over it) exercises the handlers rather than only their 404s: job ids are 64-bit
integers (or `kb-<id>`, the delivery id), names are bounded strings, every call may answer 401,
429 and 503, and the bodies of the 200s are described field by field (in openapi_bodies.py).
"""

from __future__ import annotations

from typing import Any

from bridge.admin.openapi_bodies import BODIES, ERROR
from bridge.admin.params import MAX_ID, MAX_NAME_CHARS

_WHEN = "2026-12-02T01:30 (UTC unless it names a zone) or a duration back from now (2h)"
_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_CHARS,
    "pattern": "^[^\\x00-\\x1f\\x7f]+$",
}
_PATH: dict[str, Any] = {
    # A job id, or the delivery id logs and the dashboard name its call by (`kb-42`: params.job_id).
    "job_id": {
        "anyOf": [
            {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
            {"type": "string", "pattern": "^[kK][bB]-[0-9]{1,19}$"},
        ]
    },
    "name": _NAME,
    # A stored notification's key (a hash, `legacy:...`, or either with `:<seq>`).
    "key": {"type": "string", "minLength": 1, "maxLength": 4096},
}
_QUERY: dict[str, Any] = {
    "filter": {"type": "string", "enum": ["all", "failures", "active_failures"]},
    "action": _NAME,
    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
    "q": {
        "type": "string",
        "maxLength": 200,
        "description": (
            "any of name, codename, item id, request id, summary (case-insensitive); a "
            "delivery id (kb-42): the jobs of that call"
        ),
    },
    "codename": {"type": "string", "maxLength": 200},
    "name": {"type": "string", "maxLength": 200, "description": "part of the item's name"},
    "item_id": {"type": "string", "maxLength": 200},
    "request_id": {"type": "string", "maxLength": 200},
    "rule": _NAME,
    "state": {"type": "string", "enum": ["pending", "running", "retrying", "succeeded", "dead"]},
    "since": {"type": "string", "description": _WHEN},
    "until": {"type": "string", "description": _WHEN},
    "retry_state": {"type": "string", "enum": ["dead", "failing", "all"], "default": "all"},
    "dry_run": {"type": "boolean", "default": False},
    "replay_action": {"type": "array", "items": _NAME, "description": "repeatable"},
    "replay_rule": {"type": "array", "items": _NAME, "description": "repeatable"},
    "notification": _NAME,
    "window": {"type": "string", "enum": ["1h", "6h", "24h", "3d"], "default": "24h"},
}
# Query parameters whose name in the URL differs from their key above.
_QUERY_NAMES = {"retry_state": "state", "replay_action": "action", "replay_rule": "rule"}


def _json(schema: Any) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_ERROR_JSON = _json({"$ref": "#/components/schemas/Error"})


def _query(key: str) -> dict[str, Any]:
    schema = _QUERY[key]
    found: dict[str, Any] = {"name": _QUERY_NAMES.get(key, key), "in": "query", "schema": schema}
    if schema.get("type") == "array":
        found |= {"style": "form", "explode": True}
    return found


def _op(
    summary: str, body: str, *, params: tuple[str, ...] = (), path: tuple[str, ...] = ()
) -> Any:
    parameters: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": _PATH[p]} for p in path
    ]
    parameters += [_query(p) for p in params]
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _json(BODIES[body])}}
    if params:
        responses["400"] = {"description": "A query parameter is invalid", "content": _ERROR_JSON}
    responses["401"] = {
        "description": "Missing or wrong admin token",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        "content": _ERROR_JSON,
    }
    responses["404"] = {
        "description": "No such action, job or rule (or the admin is off)",
        "content": _ERROR_JSON,
    }
    responses["429"] = {
        "description": "Too many wrong admin tokens from this client (or from all clients)",
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        "content": _ERROR_JSON,
    }
    responses["503"] = {
        "description": "The store is not open or unavailable",
        "content": _ERROR_JSON,
    }
    return {"summary": summary, "parameters": parameters, "responses": responses}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "kontent-bridge admin API", "version": "1"},
    "servers": [{"url": "/admin/api"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": ERROR},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/openapi.json": {"get": _op("This document", "openapi")},
        "/actions": {"get": _op("Actions with health and counts", "actions")},
        "/actions/{name}/reset": {
            "post": _op(
                "Retry the oldest failed job now; restart the schedule", "reset", path=("name",)
            )
        },
        "/actions/{name}/disable": {
            "post": _op("Park the action's jobs", "enabled", path=("name",))
        },
        "/actions/{name}/enable": {
            "post": _op("Resume the action's jobs", "enabled", path=("name",))
        },
        "/deliveries": {
            "get": _op(
                "Delivery log, newest first",
                "deliveries",
                params=(
                    "filter",
                    "action",
                    "limit",
                    "offset",
                    "q",
                    "codename",
                    "name",
                    "item_id",
                    "request_id",
                    "rule",
                    "state",
                    "since",
                    "until",
                ),
            )
        },
        "/actions/{name}/retry": {
            "post": _op(
                "Retry every dead and/or retrying job of the action now (dry_run: list them)",
                "bulk_retry",
                params=("retry_state", "dry_run"),
                path=("name",),
            )
        },
        "/replay": {
            "post": _op(
                "Re-evaluate stored notifications against the current rules, keeping only the "
                "chosen actions and rules (dry_run: list the jobs it would create)",
                "replay",
                params=(
                    "since",
                    "until",
                    "replay_action",
                    "replay_rule",
                    "notification",
                    "dry_run",
                ),
            )
        },
        "/activity": {
            "get": _op(
                "Deliveries, failed attempts and queue depth per action per time bucket; "
                "rejected webhook requests (per process)",
                "activity",
                params=("window",),
            )
        },
        "/reload": {"get": _op("The last config reload and its errors", "reload")},
        "/sources": {
            "get": _op(
                "Each configured Sync API source as this process sees it (per process): lease, "
                "last success, last failure and its cause, failures in a row, deltas",
                "sources",
            )
        },
        "/jobs/{job_id}": {"get": _op("A job with all its attempts", "job", path=("job_id",))},
        "/jobs/{job_id}/retry": {"post": _op("Run a job again now", "retried", path=("job_id",))},
        "/rules": {"get": _op("Rules with their match counts", "rules")},
        "/rules/{name}": {
            "get": _op(
                "A rule and what it matched recently", "rule", params=("limit",), path=("name",)
            )
        },
        "/notifications": {
            "get": _op(
                "Recent notifications with the rules they matched (a payload over 64,000 "
                "characters is left out: raw null, raw_chars its length)",
                "notifications",
                params=("limit", "offset"),
            )
        },
        "/notifications/{key}": {
            "get": _op("One stored notification, its payload whole", "notification", path=("key",))
        },
    },
}
