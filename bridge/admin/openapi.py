"""The OpenAPI 3.1 description of the admin API, served at /admin/api/openapi.json.

It states what the routes really take and answer, so that a fuzzer driven by it (the tests run
schemathesis over it) exercises the handlers rather than only their 404s: job ids are 64-bit
integers, names are bounded strings, every call may answer 401, 429 and 503, and the bodies
of the 200s are described field by field (fields may be added; `null` where a stored value
cannot be shown, see bridge/admin/safejson.py).
"""

from __future__ import annotations

from typing import Any

from bridge.admin.params import MAX_ID, MAX_NAME_CHARS

_TIME = {"type": ["string", "null"], "description": "ISO 8601 UTC; null: never, or unreadable"}
_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": ["string", "null"]}
_INT = {"type": ["integer", "null"]}
_ANY: dict[str, Any] = {}


def _object(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


def _list(item: Any) -> dict[str, Any]:
    return {"type": "array", "items": item}


_ERROR = _object(("error",), error={"type": "string"})
_DELIVERY = _object(
    ("job_id", "action", "rule", "state", "attempts", "created_at"),
    job_id={"type": "integer"},
    action={"type": "string"},
    rule={"type": "string"},
    state={"type": "string"},
    attempts={"type": "integer"},
    created_at=_TIME,
    last_attempt_at=_TIME,
    last_status=_INT,
    last_response=_TEXT,
    summary=_TEXT,
    delivery_id=_TEXT,
    next_attempt_at=_TIME,
    last_error=_TEXT,
    failures={"type": "integer"},
)
_PAGE = {"items": _list(_ANY), "limit": {"type": "integer"}, "offset": {"type": "integer"}}
_BODIES: dict[str, Any] = {
    "actions": _object(
        ("actions",),
        actions=_list(
            _object(
                ("name", "health", "enabled", "in_config"),
                name={"type": "string"},
                health={"enum": ["ready", "working", "failing", "dead"]},
                enabled={"type": "boolean"},
                pending=_COUNT,
                running=_COUNT,
                failing_since=_TIME,
                last_attempt_at=_TIME,
                succeeded=_COUNT,
                failed_attempts=_COUNT,
                dead=_COUNT,
                oldest_pending_age_s={"type": ["number", "null"]},
                in_config={"type": "boolean"},
                type=_TEXT,
                options={"type": "object"},
                latest_error={
                    "oneOf": [
                        {"type": "null"},
                        _object(
                            ("job_id", "state"),
                            job_id={"type": "integer"},
                            state={"type": "string"},
                            status=_INT,
                            error=_TEXT,
                            cause=_TEXT,
                            at=_TIME,
                        ),
                    ]
                },
            )
        ),
    ),
    "deliveries": _object(
        ("filter", "items", "limit", "offset"),
        filter={"type": "string"},
        action=_TEXT,
        complete={"type": "boolean"},
        **(_PAGE | {"items": _list(_DELIVERY)}),
    ),
    "job": _object(
        ("job_id", "action", "inputs", "events", "attempt_log", "latest_response"),
        **_DELIVERY["properties"],
        notification_key=_TEXT,
        request_id=_TEXT,
        inputs={"type": "object"},
        events=_list({"type": "object"}),
        attempt_log=_list(
            _object(
                ("number", "outcome"),
                number={"type": "integer"},
                started_at=_TIME,
                finished_at=_TIME,
                outcome={"type": "string"},
                status=_INT,
                response=_TEXT,
                error=_TEXT,
                delivery_id=_TEXT,
            )
        ),
        latest_response=_object(status=_INT, response=_TEXT, error=_TEXT, at=_TIME),
        rendered_inputs=_object(
            ("note",), inputs={"type": ["object", "null"]}, error=_TEXT, note={"type": "string"}
        ),
        requests=_list(
            _object(
                ("number", "request"),
                number={"type": "integer"},
                request={
                    "oneOf": [
                        {"type": "null"},
                        _object(
                            ("method", "url", "headers"),
                            method={"type": "string"},
                            url={"type": "string"},
                            headers={"type": "object"},
                            body=_TEXT,
                            requests_sent=_COUNT,
                        ),
                    ]
                },
            )
        ),
        call=_list(
            _object(
                ("job_id", "state", "events"),
                job_id={"type": "integer"},
                state={"type": "string"},
                rule={"type": "string"},
                events=_list({"type": "string"}),
            )
        ),
        call_size=_COUNT,
    ),
    "bulk_retry": _object(
        ("action", "state", "dry_run", "jobs", "count"),
        action={"type": "string"},
        state={"enum": ["dead", "failing", "all"]},
        dry_run={"type": "boolean"},
        jobs=_list({"type": "integer"}),
        count=_COUNT,
        unchanged=_list({"type": "integer"}),
        message={"type": "string"},
    ),
    "replay": _object(
        ("dry_run", "notifications", "count", "per_action", "jobs", "request_id"),
        dry_run={"type": "boolean"},
        since=_TIME,
        until=_TIME,
        notifications=_COUNT,
        count=_COUNT,
        per_action={"type": "object", "additionalProperties": _COUNT},
        jobs=_list(
            _object(
                ("action", "rule", "notification_key", "event"),
                action={"type": "string"},
                rule={"type": "string"},
                notification_key={"type": "string"},
                event={"type": "string"},
            )
        ),
        request_id=_TEXT,
    ),
    "activity": _object(
        ("window", "bucket_s", "actions", "rejections"),
        window={"enum": ["1h", "6h", "24h", "3d"]},
        since=_TIME,
        until=_TIME,
        bucket_s={"type": "integer"},
        complete={"type": "boolean"},
        actions={
            "type": "object",
            "additionalProperties": _list(
                _object(
                    ("start", "delivered", "failed", "queued"),
                    start=_TIME,
                    delivered=_COUNT,
                    failed=_COUNT,
                    queued=_COUNT,
                )
            ),
        },
        rejections=_list(
            _object(
                ("webhook", "counts", "latest"),
                webhook={"type": "string"},
                counts={"type": "object", "additionalProperties": _COUNT},
                latest=_list(
                    _object(
                        ("status", "reason"),
                        at=_TIME,
                        status={"type": "integer"},
                        reason=_TEXT,
                        request_id=_TEXT,
                    )
                ),
            )
        ),
    ),
    "reload": _object(
        ("loaded", "last_reload_ok", "errors"),
        loaded={"type": "boolean"},
        source=_TEXT,
        last_reload_ok={"type": ["boolean", "null"]},
        last_attempt_at=_TIME,
        last_success_at=_TIME,
        errors=_list(_TEXT),
    ),
    "retried": _object(
        ("job_id", "retried"), job_id={"type": "integer"}, retried={"type": "boolean"}
    ),
    "reset": _object(("action", "reset"), action={"type": "string"}, reset={"type": "boolean"}),
    "enabled": _object(
        ("action", "enabled"), action={"type": "string"}, enabled={"type": "boolean"}
    ),
    "rules": _object(
        ("rules",),
        rules=_list(
            _object(
                ("name", "actions", "matched"),
                name={"type": "string"},
                actions=_list({"type": "string"}),
                matched=_COUNT,
                last_matched_at=_TIME,
                stop={"type": "boolean"},
            )
        ),
    ),
    "rule": _object(
        ("name", "actions", "matched", "matches"),
        name={"type": "string"},
        actions=_list({"type": "string"}),
        matched=_COUNT,
        last_matched_at=_TIME,
        matches=_list(_DELIVERY),
    ),
    "notifications": _object(
        ("items", "limit", "offset"),
        **(
            _PAGE
            | {
                "items": _list(
                    _object(
                        ("key", "received_at", "rules", "raw"),
                        key={"type": "string"},
                        webhook=_TEXT,
                        received_at=_TIME,
                        request_id=_TEXT,
                        summary=_TEXT,
                        rules={"type": ["array", "string", "number", "object", "null"]},
                        raw=_ANY,
                    )
                )
            }
        ),
    ),
    "openapi": {"type": "object"},
}

_WHEN = "2026-12-02T01:30 (UTC unless it names a zone) or a duration back from now (2h)"
_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_NAME_CHARS,
    "pattern": "^[^\\x00-\\x1f\\x7f]+$",
}
_PATH: dict[str, Any] = {
    "job_id": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
    "name": _NAME,
}
_QUERY: dict[str, Any] = {
    "filter": {"type": "string", "enum": ["all", "failures", "active_failures"]},
    "action": _NAME,
    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    "offset": {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
    "q": {
        "type": "string",
        "maxLength": 200,
        "description": "any of name, codename, item id, request id, summary (case-insensitive)",
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
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _json(_BODIES[body])}}
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
        "schemas": {"Error": _ERROR},
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
                "Recent notifications with the rules they matched",
                "notifications",
                params=("limit", "offset"),
            )
        },
    },
}
