"""Turning store rows and config objects into JSON-ready dicts, with secrets redacted.

The store's value types are dataclasses (or pydantic models); this module reads them by field
so that a field the store adds later shows up in the API without a change here. Times are epoch
seconds in the store and ISO 8601 UTC strings in the API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bridge.logformat import REDACTED, looks_secret

HEALTH_LABELS: Mapping[str, str] = {
    "ready": "Ready",
    "working": "Working",
    "failing": "Failing",
    "dead": "Dead",
}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def absolute(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(ts: float | None, now: float) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago' (or 'in 4 min' for the future)."""
    if ts is None:
        return "never"
    delta = now - ts
    ahead = delta < 0
    delta = abs(delta)
    if delta < 10:
        return "just now"
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if delta < limit:
            amount = f"{int(delta // size)} {unit}"
            return f"in {amount}" if ahead else f"{amount} ago"
    amount = f"{int(delta // 86400)} d"
    return f"in {amount}" if ahead else f"{amount} ago"


def plain(value: Any) -> Any:
    """A dataclass, pydantic model, Event or container as JSON-ready data; `*_at` as ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_json"):
            return plain(value.to_json())
        return {f.name: _field(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump"):
        return plain(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): _field(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _field(name: str, value: Any) -> Any:
    if (name.endswith("_at") or name == "failing_since") and isinstance(value, int | float):
        return iso(float(value))
    return plain(value)


def redact_options(options: Mapping[str, Any], secret_names: frozenset[str]) -> dict[str, Any]:
    """Action options with secret values (declared or token-like by name) replaced by ***."""
    shown: dict[str, Any] = {}
    for key, value in options.items():
        if key in secret_names or looks_secret(key):
            shown[key] = REDACTED if value not in (None, "") else value
        elif isinstance(value, Mapping):
            shown[key] = redact_options(value, frozenset())
        else:
            shown[key] = plain(value)
    return shown


def action_options(action_config: Any) -> dict[str, Any]:
    names = frozenset(getattr(action_config.action_class, "secret_options", frozenset()))
    return redact_options(action_config.options, names)


def rule_actions(rule: Any) -> list[str]:
    """The action names a rule's `do:` runs, whatever shape the config model gives steps."""
    names: list[str] = []
    for step in getattr(rule, "do", ()) or ():
        if isinstance(step, str):
            names.append(step)
        elif isinstance(step, Mapping):
            names.append(str(step.get("action", "")))
        else:
            names.append(str(getattr(step, "action", step)))
    return names


def job_json(detail: Any) -> dict[str, Any]:
    """A JobDetail flattened: the log row's fields, then events, inputs and every attempt."""
    data: dict[str, Any] = plain(detail.row)
    data.update(
        notification_key=detail.notification_key,
        request_id=detail.request_id,
        inputs=redact_options(detail.inputs, frozenset()),
        events=[plain(e) for e in detail.events],
        attempt_log=[plain(a) for a in detail.attempts],
        latest_response={
            "status": detail.row.last_status,
            "response": detail.row.last_response,
            "error": getattr(detail.row, "last_error", None),
            "at": iso(detail.row.last_attempt_at),
        },
    )
    return data


def page(items: Sequence[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"items": [plain(i) for i in items], "limit": limit, "offset": offset}
