"""The bodies of the admin API's answers, field by field, for bridge/admin/openapi.py.

They are what schemathesis checks every answer against, so each field a route may answer is
listed with its JSON type: fields may be added, and a stored value that cannot be shown is
`null` (bridge/admin/safejson.py), hence the nullable `_TIME`, `_TEXT` and `_INT`.
"""

from __future__ import annotations

from typing import Any

_TIME = {"type": ["string", "null"], "description": "ISO 8601 UTC; null: never, or unreadable"}
_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": ["string", "null"]}
_INT = {"type": ["integer", "null"]}
_ANY: dict[str, Any] = {}


def _object(required: tuple[str, ...] = (), **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": properties}


def _list(item: Any) -> dict[str, Any]:
    return {"type": "array", "items": item}


ERROR = _object(("error",), error={"type": "string"})
_NOTIFICATION = _object(
    ("key", "received_at", "rules", "raw", "raw_chars"),
    key={"type": "string"},
    webhook=_TEXT,
    received_at=_TIME,
    request_id=_TEXT,
    summary=_TEXT,
    rules={"type": ["array", "string", "number", "object", "null"]},
    raw=_ANY,  # null on a page of them when longer than a page holds (raw_chars: its length)
    raw_chars=_COUNT,
)
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
# The body of each route's 200, by the name its operation in openapi.py gives.
BODIES: dict[str, Any] = {
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
        created=_COUNT,
        not_created={"type": "string"},
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
    "sources": _object(
        ("process", "sources"),
        process=_object(("host", "pid"), host=_TEXT, pid={"type": "integer"}),
        sources=_list(
            _object(
                ("name", "state", "lease", "consecutive_failures", "deltas", "errors"),
                name={"type": "string"},
                environment_id={"type": "string"},
                slot={"enum": ["published", "preview"]},
                interval_s={"type": "number"},
                enabled={"type": "boolean"},
                api_url=_TEXT,
                state={"enum": ["working", "failing", "starting", "idle"]},
                note={"type": "string"},
                lease=_object(
                    ("held_here",), held_here={"type": "boolean"}, owner=_TEXT, until=_TIME
                ),
                last_success_at=_TIME,
                last_failure_at=_TIME,
                last_failure={
                    "oneOf": [
                        {"type": "null"},
                        _object(("at", "reason", "message"), at=_TIME, reason=_TEXT, message=_TEXT),
                    ]
                },
                consecutive_failures=_COUNT,
                deltas=_object(("accepted", "skipped"), accepted=_COUNT, skipped=_COUNT),
                errors={"type": "object", "additionalProperties": _COUNT},
            )
        ),
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
        **(_PAGE | {"items": _list(_NOTIFICATION)}),
    ),
    "notification": _NOTIFICATION,
    "openapi": {"type": "object"},
}
