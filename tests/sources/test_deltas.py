"""Deltas as events: the action mapping, and timestamps compared as instants."""

from __future__ import annotations

import pytest

from bridge.sources.deltas import is_newer, notifications, parse_timestamp


@pytest.mark.parametrize(
    ("kind", "slot", "change", "object_type", "action"),
    [
        ("items", "published", "changed", "content_item", "published"),
        ("items", "published", "deleted", "content_item", "unpublished"),
        ("items", "preview", "changed", "content_item", "changed"),
        ("items", "preview", "deleted", "content_item", "deleted"),
        ("types", "published", "changed", "content_type", "changed"),
        ("languages", "preview", "deleted", "language", "deleted"),
        ("taxonomies", "published", "changed", "taxonomy", "changed"),
    ],
)
def test_each_kind_and_slot_maps_to_the_webhook_action(
    kind: str, slot: str, change: str, object_type: str, action: str
) -> None:
    delta = {"change_type": change, "timestamp": "2026-01-08T13:55:00Z", "data": {"system": {}}}
    (note,) = notifications({kind: [delta]}, webhook="sync:s", environment_id="e", slot=slot)
    (event,) = note.events
    assert (event.object_type, event.action, event.delivery_slot) == (object_type, action, slot)
    assert note.raw["message"]["action"] == action and note.webhook == "sync:s"


def test_the_same_delta_twice_has_the_same_key_and_another_delta_another() -> None:
    def key(step: str) -> str:
        system = {"id": "a", "language": "en", "workflow_step": step}
        delta = {"change_type": "changed", "timestamp": "t", "data": {"system": system}}
        (note,) = notifications(
            {"items": [delta]}, webhook="sync:s", environment_id="e", slot="preview"
        )
        return note.key

    assert key("draft") == key("draft") != key("review")


@pytest.mark.parametrize(
    ("candidate", "stored", "newer"),
    [
        ("2019-03-27T13:21:11.3801Z", "2019-03-27T13:21:11.38Z", True),  # string order says no
        ("2019-03-27T13:21:11.38Z", "2019-03-27T13:21:11.3801Z", False),
        ("2024-01-08T13:54:54.3153717Z", "2024-01-08T13:54:54.3153716Z", True),  # the 7th digit
        ("2024-01-08T13:54:54.3153716Z", "2024-01-08T13:54:54.3153716Z", False),  # equal: seen
        ("2024-01-08T14:54:54+01:00", "2024-01-08T13:54:54.1Z", False),  # same instant, earlier
        ("2024-01-08T13:54:55Z", None, True),
        (None, "2024-01-08T13:54:55Z", True),  # nothing to compare: deliver
        ("not a time", "2024-01-08T13:54:55Z", True),
    ],
)
def test_is_newer_compares_instants(candidate: str | None, stored: str | None, newer: bool) -> None:
    assert is_newer(candidate, stored) is newer


def test_parse_timestamp_keeps_nanoseconds() -> None:
    parsed = parse_timestamp("2024-01-08T13:54:54.3153716Z")
    assert parsed is not None and parsed[1] == 315_371_600
    assert parse_timestamp("2024-01-08T13:54:54.Z") is None
