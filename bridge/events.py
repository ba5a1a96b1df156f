"""The normalised Event, and parsing of Kontent.ai's current webhook format (the legacy one is in
bridge/legacy.py, and bridge/payloads.py tells the two apart).

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
    """One notification as Kontent.ai delivers and retries it; `key` recognises redeliveries.

    `sent_language` is the event's language as the payload named it, once the receiver has
    resolved it to a codename (legacy workflow payloads name it by id: bridge/kontent/
    management.py); None while the event's own language is the one sent. Redeliveries are
    recognised by what was sent, whether or not the Management API answered this time.
    """

    key: str
    webhook: str | None
    format: Format
    raw: Mapping[str, Any]
    events: tuple[Event, ...]
    sent_language: str | None = None


def parse_current(notifications: Any, webhook: str | None) -> Iterator[Notification]:
    """The current format's `notifications` array: one Notification (one Event) per entry."""
    if not isinstance(notifications, list):
        raise PayloadError(f"'notifications' must be an array, not {_json_type(notifications)}")
    for index, raw in enumerate(notifications):
        system, message = _parts(raw, index)
        values = _texts(system, SYSTEM_FIELDS, f"notifications[{index}].data.system")
        if message.get("action_context") is not None:
            # workflow_step_changed says where the item came from here, not in data.system.
            in_context = f"notifications[{index}].message.action_context"
            context = _require_object(message["action_context"], in_context)
            for name, value in _texts(context, ACTION_CONTEXT_FIELDS, in_context).items():
                if value is not None:
                    values[name] = value
        head = _texts(message, _MESSAGE_FIELDS, f"notifications[{index}].message")
        object_type = head["object_type"]
        event = Event(
            object_type=CURRENT_OBJECT_TYPES.get(object_type or "", object_type),
            action=head["action"],
            delivery_slot=head["delivery_slot"],
            environment_id=head["environment_id"],
            format="current",
            webhook=webhook,
            raw=raw,
            **values,
        )
        yield Notification(content_key(webhook, raw), webhook, "current", raw, (event,))


_MESSAGE_FIELDS = ("object_type", "action", "delivery_slot", "environment_id")


def _parts(raw: Any, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """`data.system` and `message` of one notification (the paths are built only for errors)."""
    where = f"notifications[{index}]"
    if type(raw) is not dict:
        _require_object(raw, where)
    data = raw.get("data")
    if type(data) is not dict:
        data = _require_object(data, f"{where}.data")
    system = data.get("system", {})
    if type(system) is not dict:
        system = _require_object(system, f"{where}.data.system")
    message = raw.get("message")
    if type(message) is not dict:
        message = _require_object(message, f"{where}.message")
    return system, message


def _texts(obj: Mapping[str, Any], names: tuple[str, ...], where: str) -> dict[str, Any]:
    """`_text` of each name; one pass over the usual case (every value a string or absent)."""
    values = {name: obj.get(name) for name in names}
    for value in values.values():
        if value is not None and type(value) is not str:
            return {name: _text(obj, name, where) for name in names}
    return values


# Built once (json.dumps with these arguments builds an encoder per call). Stored dedupe keys
# are hashes of this text, so it must never change: orjson, faster, writes other bytes for
# non-ASCII text, DEL, and floats such as 1e-05 and 1e+16.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def content_key(webhook: str | None, raw: Any) -> str:
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
