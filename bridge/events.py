"""The normalised Event, and parsing of Kontent.ai's current and legacy webhook payloads.

Both formats become `Notification`s (the unit Kontent.ai delivers, retries and we dedupe) holding
one `Event` per affected object. Unknown object types and actions pass through as strings so that
rules can still match what Kontent.ai adds after this was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Format = Literal["current", "legacy"]

# Kontent.ai's own migration table from legacy (type, operation) to the current action.
LEGACY_OBJECT_TYPES: Mapping[str, str] = {
    "content_item_variant": "content_item",
    "content_item": "content_item",
    "asset": "asset",
    "content_type": "content_type",
    "language_settings": "language",
    "taxonomy": "taxonomy",
}
LEGACY_ACTIONS: Mapping[tuple[str, str], str] = {
    ("content_item_variant", "publish"): "published",
    ("content_item_variant", "unpublish"): "unpublished",
    ("content_item_variant", "archive"): "deleted",
    ("content_item_variant", "restore"): "created",
    ("content_item_variant", "upsert"): "changed",
    ("content_item_variant", "change_workflow_step"): "workflow_step_changed",
    ("content_item", "upsert"): "metadata_changed",
    ("asset", "upsert"): "changed",
    ("content_type", "upsert"): "changed",
    ("language_settings", "upsert"): "changed",
    ("taxonomy", "archive"): "deleted",
    ("taxonomy", "restore"): "created",
    ("taxonomy", "upsert"): "metadata_changed",
}
LEGACY_SLOTS: Mapping[str, str] = {
    "delivery_production": "published",
    "delivery_preview": "preview",
    "content_management": "preview",
}

# The fields of `data.system` (current format) that map one to one onto Event fields.
SYSTEM_FIELDS = (
    "id",
    "name",
    "codename",
    "collection",
    "workflow",
    "workflow_step",
    "previous_workflow",
    "previous_workflow_step",
    "language",
    "type",
    "taxonomy_group",
    "last_modified",
)


class PayloadError(ValueError):
    """The body is not a Kontent.ai webhook payload; the message says why, for a 400 answer."""


@dataclass(frozen=True, slots=True)
class Event:
    """One affected object. Absent fields are None; `raw` is the whole notification."""

    object_type: str | None = None
    action: str | None = None
    delivery_slot: str | None = None
    environment_id: str | None = None
    id: str | None = None
    name: str | None = None
    codename: str | None = None
    collection: str | None = None
    workflow: str | None = None
    workflow_step: str | None = None
    previous_workflow: str | None = None
    previous_workflow_step: str | None = None
    language: str | None = None
    type: str | None = None
    taxonomy_group: str | None = None
    last_modified: str | None = None
    format: Format = "current"
    webhook: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def fields(self) -> dict[str, Any]:
        """The matchable fields, without the raw notification (what rules and templates see)."""
        return {name: getattr(self, name) for name in MATCHABLE_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"raw": dict(self.raw)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(**{k: v for k, v in data.items() if k in EVENT_FIELDS})

    def summary(self) -> str:
        """One human line: `content_item published article 'Hello' (en) [published]`."""
        parts = [self.object_type or "?", self.action or "?"]
        if self.type:
            parts.append(self.type)
        parts.append(repr(self.name or self.codename or self.id or ""))
        if self.language:
            parts.append(f"({self.language})")
        if self.delivery_slot:
            parts.append(f"[{self.delivery_slot}]")
        return " ".join(parts)


EVENT_FIELDS = frozenset(f.name for f in fields(Event))
MATCHABLE_FIELDS = tuple(f.name for f in fields(Event) if f.name != "raw")


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification as Kontent.ai delivers and retries it; `key` recognises redeliveries."""

    key: str
    webhook: str | None
    format: Format
    raw: Mapping[str, Any]
    events: tuple[Event, ...]


def parse_body(body: bytes, webhook: str | None = None) -> list[Notification]:
    """Decode and parse a raw request body; every failure is a PayloadError with a reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    return parse_payload(payload, webhook)


def parse_payload(payload: Any, webhook: str | None = None) -> list[Notification]:
    if not isinstance(payload, dict):
        raise PayloadError(f"payload must be a JSON object, not {_json_type(payload)}")
    if "notifications" in payload:
        return list(_parse_current(payload["notifications"], webhook))
    if "message" in payload and "data" in payload:
        return list(_parse_legacy(payload, webhook))
    raise PayloadError(
        "payload has neither 'notifications' (current format) "
        "nor 'data' and 'message' (legacy format)"
    )


def _parse_current(notifications: Any, webhook: str | None) -> Iterator[Notification]:
    if not isinstance(notifications, list):
        raise PayloadError(f"'notifications' must be an array, not {_json_type(notifications)}")
    for index, raw in enumerate(notifications):
        where = f"notifications[{index}]"
        _require_object(raw, where)
        data = _require_object(raw.get("data"), f"{where}.data")
        in_system, in_message = f"{where}.data.system", f"{where}.message"
        system = _require_object(data.get("system", {}), in_system)
        message = _require_object(raw.get("message"), in_message)
        event = Event(
            object_type=_text(message, "object_type", in_message),
            action=_text(message, "action", in_message),
            delivery_slot=_text(message, "delivery_slot", in_message),
            environment_id=_text(message, "environment_id", in_message),
            format="current",
            webhook=webhook,
            raw=raw,
            **{name: _text(system, name, in_system) for name in SYSTEM_FIELDS},
        )
        yield Notification(_content_key(webhook, raw), webhook, "current", raw, (event,))


def _parse_legacy(payload: dict[str, Any], webhook: str | None) -> Iterator[Notification]:
    message = _require_object(payload["message"], "message")
    data = _require_object(payload["data"], "data")
    legacy_type = _text(message, "type", "message") or ""
    operation = _text(message, "operation", "message") or ""
    base = Event(
        object_type=LEGACY_OBJECT_TYPES.get(legacy_type, legacy_type or None),
        action=LEGACY_ACTIONS.get((legacy_type, operation), operation or None),
        delivery_slot=LEGACY_SLOTS.get(_text(message, "api_name", "message") or ""),
        environment_id=_text(message, "project_id", "message"),
        format="legacy",
        webhook=webhook,
        raw=payload,
    )
    objects = _legacy_objects(data, legacy_type)
    message_id = _text(message, "id", "message") or _content_key(webhook, payload)
    if not objects:
        # A message about no object still happened (language settings, say): keep it.
        yield Notification(f"legacy:{message_id}", webhook, "legacy", payload, (base,))
        return
    for index, (where, obj) in enumerate(objects):
        event = _legacy_event(base, obj, where)
        item = f"{event.id or index}:{event.language or ''}"
        yield Notification(f"legacy:{message_id}:{item}", webhook, "legacy", payload, (event,))


def _legacy_objects(data: dict[str, Any], legacy_type: str) -> list[tuple[str, dict[str, Any]]]:
    # Taxonomy messages list their groups under `taxonomies`; every other type under `items`.
    sections = ("taxonomies", "items") if legacy_type == "taxonomy" else ("items",)
    found: list[tuple[str, dict[str, Any]]] = []
    for section in sections:
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise PayloadError(f"'data.{section}' must be an array, not {_json_type(entries)}")
        for index, entry in enumerate(entries):
            where = f"data.{section}[{index}]"
            found.append((where, _require_object(entry, where)))
    return found


def _legacy_event(base: Event, obj: dict[str, Any], where: str) -> Event:
    # Management-API (workflow) payloads name objects by reference: {"item": {"id": ..},
    # "language": {"id": ..}, "transition_from": {"id": ..}}; delivery payloads use plain strings.
    item_ref = obj.get("item")
    return Event(
        object_type=base.object_type,
        action=base.action,
        delivery_slot=base.delivery_slot,
        environment_id=base.environment_id,
        id=_reference(obj, "id", where) or _reference_value(item_ref),
        name=_text(obj, "name", where),
        codename=_reference(obj, "codename", where),
        collection=_reference(obj, "collection", where),
        workflow=_reference(obj, "workflow", where),
        workflow_step=_reference(obj, "workflow_step", where)
        or _reference_value(obj.get("transition_to")),
        previous_workflow=_reference_value(
            _nested(obj.get("transition_from"), "workflow_identifier")
        ),
        previous_workflow_step=_reference_value(obj.get("transition_from")),
        language=_reference(obj, "language", where),
        type=_reference(obj, "type", where),
        taxonomy_group=_reference(obj, "taxonomy_group", where),
        last_modified=_text(obj, "last_modified", where),
        format="legacy",
        webhook=base.webhook,
        raw=base.raw,
    )


def _nested(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _reference_value(value: Any) -> str | None:
    """A codename or id from a plain string or a reference object ({"codename"} / {"id"})."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "step_identifier" in value:
            return _reference_value(value["step_identifier"])
        for key in ("codename", "id"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def _reference(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if isinstance(value, dict):
        return _reference_value(value)
    return _text(obj, key, where)


# Exactly what json.dumps(value, sort_keys=True, separators=(",", ":")) builds on every call,
# built once: stored dedupe keys depend on this encoding, so it must not change.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _content_key(webhook: str | None, raw: Any) -> str:
    """Same content to the same webhook gives the same key, however the JSON was formatted."""
    return hashlib.sha256(_canonical([webhook, raw]).encode()).hexdigest()


def _require_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PayloadError(f"'{where}' must be an object, not {_json_type(value)}")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise PayloadError(f"'{where}.{key}' must be a string, not {_json_type(value)}")


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
