"""The OpenAPI 3.1 description of the admin API, served at /admin/api/openapi.json."""

from __future__ import annotations

from typing import Any

_JSON = {"application/json": {"schema": {"type": "object"}}}


def _op(summary: str, *, params: tuple[str, ...] = (), path: tuple[str, ...] = ()) -> Any:
    parameters: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path
    ]
    parameters += [{"name": p, "in": "query", "schema": _QUERY[p]} for p in params]
    return {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": _JSON},
            "400": {"description": "A query parameter is invalid"},
            "401": {"description": "Missing or wrong admin token"},
            "404": {"description": "No such action, job or rule (or the admin is off)"},
        },
    }


_QUERY: dict[str, Any] = {
    "filter": {"type": "string", "enum": ["all", "failures", "active_failures"]},
    "action": {"type": "string"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "default": 0},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "kontent-bridge admin API", "version": "1"},
    "servers": [{"url": "/admin/api"}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/actions": {"get": _op("Actions with health and counts")},
        "/actions/{name}/reset": {
            "post": _op("Retry the oldest failed job now; restart the schedule", path=("name",))
        },
        "/actions/{name}/disable": {"post": _op("Park the action's jobs", path=("name",))},
        "/actions/{name}/enable": {"post": _op("Resume the action's jobs", path=("name",))},
        "/deliveries": {
            "get": _op("Delivery log, newest first", params=("filter", "action", "limit", "offset"))
        },
        "/jobs/{job_id}": {"get": _op("A job with all its attempts", path=("job_id",))},
        "/jobs/{job_id}/retry": {"post": _op("Run a job again now", path=("job_id",))},
        "/rules": {"get": _op("Rules with their match counts")},
        "/rules/{name}": {"get": _op("A rule and what it matched recently", path=("name",))},
        "/notifications": {
            "get": _op(
                "Recent notifications with the rules they matched", params=("limit", "offset")
            )
        },
    },
}
