"""The normalised Event, and parsing of Kontent.ai's current and legacy webhook payloads.

Both formats become `Notification`s (the unit Kontent.ai delivers, retries and we dedupe) holding
one `Event` per affected object. Unknown object types and actions pass through as strings so that
rules can still match what Kontent.ai adds after this was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from bridge import jsonsafe

Format = Literal["current", "legacy"]

# Legacy `type` -> current `object_type`, and (type, operation) -> the current actions, from
# Kontent.ai's migration table ("Migration guidelines for legacy webhooks"). Where the table
# names several actions, the first is the event's primary `action` (for a variant upsert that is
# `changed`, the common case) and all of them are its `actions`: a rule on `action` matches any.
# `project`, `project_settings` and `workflow` have no counterpart there and pass through.
LEGACY_OBJECT_TYPES: Mapping[str, str] = {
    "content_item_variant": "content_item",
    "content_item": "content_item",
    "asset": "asset",
    "content_type": "content_type",
    "language_settings": "language",
    "taxonomy": "taxonomy",
}
LEGACY_ACTIONS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("asset", "upsert"): ("changed", "metadata_changed"),
    ("content_item", "upsert"): ("metadata_changed",),
    ("content_item_variant", "archive"): ("deleted",),
    ("content_item_variant", "change_workflow_step"): ("workflow_step_changed",),
    ("content_item_variant", "restore"): ("created",),
    ("content_item_variant", "publish"): ("published",),
    ("content_item_variant", "upsert"): ("changed", "created"),
    ("content_item_variant", "unpublish"): ("unpublished",),
    ("content_type", "upsert"): ("changed",),
    ("language_settings", "upsert"): ("changed",),
    ("taxonomy", "archive"): ("deleted",),
    ("taxonomy", "restore"): ("created",),
    ("taxonomy", "upsert"): ("metadata_changed", "term_changed", "term_deleted"),
}
LEGACY_SLOTS: Mapping[str, str] = {
    "delivery_production": "published",
    "delivery_preview": "preview",
    "content_management": "preview",
}
# Legacy types whose messages also list the content items that depend on the changed object
# (all items of a content type, the items tagged with a taxonomy group, ...).
LEGACY_PARENT_TYPES = frozenset({"content_type", "taxonomy", "asset", "language_settings"})
# Kontent.ai's id of the default language (and workflow); never a codename.
DEFAULT_LANGUAGE_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_LANGUAGE = "default"
# Current-format object types that older senders still use: the same objects under a new name.
CURRENT_OBJECT_TYPES: Mapping[str, str] = {"content_item_variant": "content_item"}

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
# `message.action_context` (sent with workflow_step_changed) -> Event fields.
ACTION_CONTEXT_FIELDS = ("previous_workflow", "previous_workflow_step")


class PayloadError(ValueError):
    """The body is not a Kontent.ai webhook payload; the message says why, for a 400 answer."""


@dataclass(frozen=True, slots=True)
class Event:
    """One affected object. Absent fields are None; `raw` is the object's own notification.

    `actions` holds every action the event stands for (a legacy asset upsert is both `changed`
    and `metadata_changed`); `action` is the first of them. `dependent_of` marks a content item
    that a legacy message lists because something it depends on changed:
    `content_type:<codename>`, `taxonomy:<codename>`, `asset:<codename>`, `language:<codename>`.
    """

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
    dependent_of: str | None = None
    format: Format = "current"
    webhook: str | None = None
    actions: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # One place keeps `action` and `actions` consistent, however the Event was built.
        if not self.actions:
            if self.action is not None:
                object.__setattr__(self, "actions", (self.action,))
        elif not isinstance(self.actions, tuple):
            object.__setattr__(self, "actions", tuple(self.actions))
        if self.action is None and self.actions:
            object.__setattr__(self, "action", self.actions[0])

    def fields(self) -> dict[str, Any]:
        """Matchable fields and `actions`, without the raw notification (what templates see)."""
        values = {name: getattr(self, name) for name in MATCHABLE_FIELDS}
        values["actions"] = list(self.actions)
        return values

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"raw": dict(self.raw), "actions": list(self.actions)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(**{k: v for k, v in data.items() if k in EVENT_FIELDS})

    def action_text(self) -> str:
        """`changed | metadata_changed`: every action, as explanations show them."""
        return " | ".join(self.actions) if self.actions else "?"

    def summary(self) -> str:
        """One human line: `content_item published article 'Hello' (en) [published]`."""
        parts = [self.object_type or "?", self.action_text()]
        if self.type:
            parts.append(self.type)
        parts.append(repr(self.name or self.codename or self.id or ""))
        if self.language:
            parts.append(f"({self.language})")
        if self.delivery_slot:
            parts.append(f"[{self.delivery_slot}]")
        if self.dependent_of:
            parts.append(f"dependent of {self.dependent_of}")
        return " ".join(parts)


EVENT_FIELDS = frozenset(f.name for f in fields(Event))
# What a rule's `when:` can name: one string (or null) each. `actions` is not among them: a
# condition on `action` is tested against every one of the event's actions.
MATCHABLE_FIELDS = tuple(f.name for f in fields(Event) if f.name not in ("raw", "actions"))


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification as Kontent.ai delivers and retries it; `key` recognises redeliveries."""

    key: str
    webhook: str | None
    format: Format
    raw: Mapping[str, Any]
    events: tuple[Event, ...]


def parse_body(body: bytes, webhook: str | None = None) -> list[Notification]:
    """Decode and parse a raw request body; every failure is a PayloadError with a reason.

    The decoder (bridge/jsonsafe.py) refuses what could not be stored or re-encoded later."""
    try:
        payload = jsonsafe.loads(body)
    except jsonsafe.UnsafeJSON as exc:
        raise PayloadError(str(exc)) from None
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
        values: dict[str, Any] = {name: _text(system, name, in_system) for name in SYSTEM_FIELDS}
        if message.get("action_context") is not None:
            # workflow_step_changed says where the item came from here, not in data.system.
            in_context = f"{in_message}.action_context"
            context = _require_object(message["action_context"], in_context)
            for name in ACTION_CONTEXT_FIELDS:
                value = _text(context, name, in_context)
                if value is not None:
                    values[name] = value
        object_type = _text(message, "object_type", in_message)
        event = Event(
            object_type=CURRENT_OBJECT_TYPES.get(object_type or "", object_type),
            action=_text(message, "action", in_message),
            delivery_slot=_text(message, "delivery_slot", in_message),
            environment_id=_text(message, "environment_id", in_message),
            format="current",
            webhook=webhook,
            raw=raw,
            **values,
        )
        yield Notification(_content_key(webhook, raw), webhook, "current", raw, (event,))


def _parse_legacy(payload: dict[str, Any], webhook: str | None) -> Iterator[Notification]:
    """One notification per listed object, each holding only its own slice of the body.

    A legacy body lists every affected object in one message (tens of thousands of items when a
    content type changes); giving each object's notification the whole body made parsing, storage
    and `where:` evaluation grow with the square of its size. Each raw is therefore
    `{"data": {"items": [the item]}, "message": message}` (`taxonomies` likewise).
    """
    message = _require_object(payload["message"], "message")
    data = _require_object(payload["data"], "data")
    legacy_type = _text(message, "type", "message") or ""
    operation = _text(message, "operation", "message") or ""
    actions = LEGACY_ACTIONS.get((legacy_type, operation)) or ((operation,) if operation else ())
    base = Event(
        object_type=LEGACY_OBJECT_TYPES.get(legacy_type, legacy_type or None),
        actions=actions,
        delivery_slot=LEGACY_SLOTS.get(_text(message, "api_name", "message") or ""),
        environment_id=_text(message, "project_id", "message"),
        format="legacy",
        webhook=webhook,
    )
    message_id = _text(message, "id", "message") or _content_key(webhook, payload)
    prefix = f"legacy:{message_id}"
    parents, dependents = _legacy_objects(data, legacy_type)
    if not parents and not dependents:
        # A message about no object still happened (language settings, say): keep it.
        event = replace(base, raw=payload)
        yield Notification(prefix, webhook, "legacy", payload, (event,))
        return
    parent_events: list[Event] = []
    for section, index, obj in parents:
        raw = {"data": {section: [obj]}, "message": message}
        event = _legacy_event(base, obj, f"data.{section}[{index}]", raw)
        parent_events.append(event)
        key = f"{prefix}:{event.id or f'{section}[{index}]'}:{event.language or ''}"
        yield Notification(key, webhook, "legacy", raw, (event,))
    if not parents:  # only dependents: the changed object itself still gets its event
        yield from _parent_events(legacy_type, base, dependents, message, prefix)
    parent_codename = _parent_codename(legacy_type, parent_events)
    parent = base.object_type or legacy_type
    for index, obj in dependents:
        raw = {"data": {"items": [obj]}, "message": message}
        where = f"data.items[{index}]"
        codename = _reference(obj, "type", where) if legacy_type == "content_type" else None
        codename = codename or parent_codename
        dependent_of = f"{parent}:{codename}" if codename else parent
        event = _legacy_event(base, obj, where, raw, "content_item", dependent_of)
        key = f"{prefix}:{event.id or f'items[{index}]'}:{event.language or ''}"
        yield Notification(key, webhook, "legacy", raw, (event,))


Entry = tuple[int, dict[str, Any]]


def _legacy_objects(
    data: dict[str, Any], legacy_type: str
) -> tuple[list[tuple[str, int, dict[str, Any]]], list[Entry]]:
    """(the changed objects, the content items listed because they depend on them)."""
    parents: list[tuple[str, int, dict[str, Any]]] = []
    if legacy_type == "taxonomy":  # groups under `taxonomies`; every other type uses `items`
        parents.extend(("taxonomies", i, obj) for i, obj in _entries(data, "taxonomies"))
    dependents: list[Entry] = []
    for index, obj in _entries(data, "items"):
        if legacy_type in LEGACY_PARENT_TYPES and (
            legacy_type in ("content_type", "taxonomy") or "type" in obj or "language" in obj
        ):
            dependents.append((index, obj))  # a content item variant: it has a type, a language
        else:
            parents.append(("items", index, obj))
    return parents, dependents


def _entries(data: dict[str, Any], section: str) -> list[Entry]:
    entries = data.get(section) or []
    if not isinstance(entries, list):
        raise PayloadError(f"'data.{section}' must be an array, not {_json_type(entries)}")
    return [
        (index, _require_object(entry, f"data.{section}[{index}]"))
        for index, entry in enumerate(entries)
    ]


def _parent_events(
    legacy_type: str, base: Event, dependents: list[Entry], message: dict[str, Any], prefix: str
) -> Iterator[Notification]:
    """A message that lists only the items depending on a change (a content type's items, the
    items using an asset) still reports the change: one event for the changed object, named by
    codename where the items name it (a content type: one event per type the items have)."""
    codenames: list[str | None] = [None]
    if legacy_type == "content_type":
        named = (t for _, obj in dependents if isinstance(t := obj.get("type"), str))
        codenames = list(dict.fromkeys(named)) or [None]
    raw: dict[str, Any] = {"data": {"items": []}, "message": message}
    for codename in codenames:
        event = replace(base, codename=codename, raw=raw)
        key = f"{prefix}:{base.object_type or legacy_type}:{codename or ''}"
        yield Notification(key, base.webhook, "legacy", raw, (event,))


def _parent_codename(legacy_type: str, parents: list[Event]) -> str | None:
    """Which object the dependents depend on, when the message names exactly one."""
    if legacy_type == "taxonomy" and parents:
        return parents[0].codename
    return parents[0].codename if len(parents) == 1 else None


def _legacy_event(
    base: Event,
    obj: dict[str, Any],
    where: str,
    raw: dict[str, Any],
    object_type: str | None = None,
    dependent_of: str | None = None,
) -> Event:
    # Management-API (workflow) payloads name objects by reference: {"item": {"id": ..},
    # "language": {"id": ..}, "transition_from": {"id": ..}}; delivery payloads use plain strings.
    # Built field by field, not with dataclasses.replace: this runs once per listed item, and a
    # legacy body may list tens of thousands.
    return Event(
        object_type=object_type or base.object_type,
        action=base.action,
        actions=base.actions,
        delivery_slot=base.delivery_slot,
        environment_id=base.environment_id,
        id=_reference(obj, "id", where) or _reference_value(obj.get("item")),
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
        language=_language(_reference(obj, "language", where)),
        type=_reference(obj, "type", where),
        taxonomy_group=_reference(obj, "taxonomy_group", where),
        last_modified=_text(obj, "last_modified", where),
        dependent_of=dependent_of,
        format="legacy",
        webhook=base.webhook,
        raw=raw,
    )


def _language(value: str | None) -> str | None:
    """The all-zero id is the default language: never index or match under a GUID for it."""
    return DEFAULT_LANGUAGE if value == DEFAULT_LANGUAGE_ID else value


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
