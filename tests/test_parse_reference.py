"""The current-format parser's one-pass fast path gives what the field-by-field parser gave:
the same events and keys for good payloads, the same PayloadError message for bad ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.events import (
    ACTION_CONTEXT_FIELDS,
    CURRENT_OBJECT_TYPES,
    SYSTEM_FIELDS,
    Event,
    Notification,
    PayloadError,
    _require_object,
    _text,
    content_key,
)
from bridge.payloads import parse_payload

pytestmark = pytest.mark.timeout(120)


def reference(notifications: Any, webhook: str | None) -> Iterator[Notification]:
    """bridge.events._parse_current as it was at 852a27f, before the fast path."""
    if not isinstance(notifications, list):
        raise PayloadError("'notifications' must be an array")  # not compared: unchanged code
    for index, raw in enumerate(notifications):
        where = f"notifications[{index}]"
        _require_object(raw, where)
        data = _require_object(raw.get("data"), f"{where}.data")
        in_system, in_message = f"{where}.data.system", f"{where}.message"
        system = _require_object(data.get("system", {}), in_system)
        message = _require_object(raw.get("message"), in_message)
        values: dict[str, Any] = {name: _text(system, name, in_system) for name in SYSTEM_FIELDS}
        if message.get("action_context") is not None:
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
        yield Notification(content_key(webhook, raw), webhook, "current", raw, (event,))


def outcome(parse: Any) -> Any:
    try:
        found = parse()
    except PayloadError as exc:
        return ("error", str(exc))
    return [(n.key, n.events, [e.raw for e in n.events]) for n in found]


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> Any:
    """`common` 15 times in 16 (st.one_of would pick each branch evenly)."""
    return st.integers(0, 15).flatmap(lambda i: common if i else rare)


# Mostly strings, sometimes what the parser converts (numbers) or refuses (the rest), in
# mostly well-formed notifications.
odd = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
value = mostly(st.one_of(st.text(max_size=5), st.none()), odd)
system = st.dictionaries(st.sampled_from([*SYSTEM_FIELDS, "other"]), value, max_size=8)
context = st.one_of(st.none(), odd, st.dictionaries(st.sampled_from(ACTION_CONTEXT_FIELDS), value))
message = st.fixed_dictionaries(
    {},
    optional={
        "object_type": st.one_of(value, st.sampled_from(["content_item_variant", "asset"])),
        "action": value,
        "delivery_slot": value,
        "environment_id": value,
        "action_context": context,
    },
)
good = st.fixed_dictionaries(
    {
        "data": mostly(st.fixed_dictionaries({}, optional={"system": mostly(system, odd)}), odd),
        "message": mostly(message, odd),
    }
)
notification = mostly(good, st.one_of(odd, st.fixed_dictionaries({})))


@settings(
    max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(notification, min_size=1, max_size=2), st.sampled_from(["production", None]))
def test_fast_path_matches_the_reference_parser(
    notifications: list[Any], webhook: str | None
) -> None:
    payload = {"notifications": notifications}
    assert outcome(lambda: parse_payload(payload, webhook)) == outcome(
        lambda: list(reference(notifications, webhook))
    )
