"""Kontent.ai's legacy webhook format: the migration table, dependents, one slice per object.

A legacy body is one message about many objects (`{"data": {"items", "taxonomies"}, "message"}`).
Each object becomes its own Notification holding only its own slice of the body, its `type` and
`operation` are mapped by Kontent.ai's migration table, and content items listed because
something they depend on changed are marked with `dependent_of` (docs/kontent.md).

Dedupe keys are `legacy:<webhook>:<message id>:...`: like a current-format key (a hash of the
webhook and the content), one names the webhook it came to, so the same message to two
webhooks is two notifications, not a redelivery (before, a derived event or an item without an
id, deduped by its key alone, was taken for one when a second webhook received the message).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from bridge.events import (
    Event,
    Notification,
    PayloadError,
    _json_type,
    _require_object,
    _text,
    content_key,
)

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


def key_webhook(webhook: str | None) -> str:
    """The webhook's part of a legacy dedupe key: `%` and `:` percent-encoded, so that the key's
    parts stay apart whatever the name (migration 0009 writes the same with SQL `replace`)."""
    return (webhook or "").replace("%", "%25").replace(":", "%3A")


def parse_legacy(payload: dict[str, Any], webhook: str | None) -> Iterator[Notification]:
    """One notification per listed object, each holding only its own slice of the body.

    A legacy body lists every affected object in one message (tens of thousands of items when a
    content type changes); giving each object's notification the whole body made storage and
    `where:` evaluation grow with the square of its size. Each raw is therefore
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
    message_id = _text(message, "id", "message") or content_key(webhook, payload)
    prefix = f"legacy:{key_webhook(webhook)}:{message_id}"
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
