"""Parsing of every seed-001 payload, the legacy format and its mapping table, dedupe keys."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.events import Event, Notification, PayloadError, parse_body, parse_payload

PAYLOADS = Path(__file__).parent / "payloads"
CURRENT_PAYLOADS = sorted((PAYLOADS / "current").glob("*.json"))
LEGACY_PAYLOADS = sorted((PAYLOADS / "legacy").glob("*.json"))

# file -> the message fields of its one event, straight from seed 001's examples.
CURRENT_EXPECTED: dict[str, dict[str, Any]] = {
    "content_item_published_published.json": {
        "object_type": "content_item",
        "action": "published",
        "delivery_slot": "published",
        "environment_id": "5f313984-9216-0158-9068-1d194f578bce",
        "id": "32022d85-ee58-4655-9016-e130c375820a",
        "name": "This changes everything!",
        "codename": "this_changes_everything",
        "collection": "marketing",
        "workflow": "default",
        "workflow_step": "published",
        "language": "english",
        "type": "product_update",
        "last_modified": "2024-01-08T13:54:54.3153716Z",
    },
    "asset_metadata_changed_preview.json": {
        "object_type": "asset",
        "action": "metadata_changed",
        "delivery_slot": "preview",
        "codename": "sofia_patel_jpg",
        "name": "sofia-patel.jpg",
        "collection": "default",
        "language": None,
        "type": None,
    },
    "content_item_unpublished_published.json": {
        "object_type": "content_item",
        "action": "unpublished",
        "delivery_slot": "published",
        "type": "navigation_item",
        "collection": "ficto_imaging",
    },
    "content_item_workflow_step_changed_preview.json": {
        "object_type": "content_item",
        "action": "workflow_step_changed",
        "delivery_slot": "preview",
        "workflow_step": "archived",
    },
    "content_type_changed_preview.json": {
        "object_type": "content_type",
        "action": "changed",
        "name": "💡 Page",
        "codename": "page",
    },
    "language_deleted_published.json": {
        "object_type": "language",
        "action": "deleted",
        "codename": "es-ES",
        "name": "Spanish",
    },
    "taxonomy_term_created_published.json": {
        "object_type": "taxonomy",
        "action": "term_created",
        "codename": "handheld",
        "taxonomy_group": "product_category",
    },
}


def _one_event(notifications: list[Notification]) -> Event:
    assert len(notifications) == 1
    assert len(notifications[0].events) == 1
    return notifications[0].events[0]


def test_every_seed_payload_is_covered() -> None:
    assert sorted(p.name for p in CURRENT_PAYLOADS) == sorted(CURRENT_EXPECTED)


@pytest.mark.parametrize("path", CURRENT_PAYLOADS, ids=lambda p: p.stem)
def test_current_payload_fields(path: Path) -> None:
    event = _one_event(parse_body(path.read_bytes(), "production"))
    for name, value in CURRENT_EXPECTED[path.name].items():
        assert getattr(event, name) == value, name
    assert event.format == "current"
    assert event.webhook == "production"
    assert event.raw == json.loads(path.read_bytes())["notifications"][0]


@pytest.mark.parametrize("path", CURRENT_PAYLOADS, ids=lambda p: p.stem)
def test_current_key_is_stable_under_reformatting(path: Path) -> None:
    original = parse_body(path.read_bytes(), "production")[0].key
    data = json.loads(path.read_bytes())
    reformatted = json.dumps(data, indent=7, sort_keys=True, ensure_ascii=True).encode()
    assert parse_body(reformatted, "production")[0].key == original
    compact = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    assert parse_body(compact, "production")[0].key == original


def test_current_keys_differ_by_content_and_webhook(payload_bytes: Callable[[str], bytes]) -> None:
    keys = {parse_body(p.read_bytes(), "production")[0].key for p in CURRENT_PAYLOADS}
    assert len(keys) == len(CURRENT_PAYLOADS)
    body = payload_bytes("current/content_item_published_published.json")
    assert parse_body(body, "production")[0].key != parse_body(body, "staging")[0].key


def test_current_batch_gives_one_notification_each(payload_bytes: Callable[[str], bytes]) -> None:
    items = [json.loads(p.read_bytes())["notifications"][0] for p in CURRENT_PAYLOADS]
    notifications = parse_payload({"notifications": items * 3}, "production")
    assert len(notifications) == 3 * len(items)
    assert [n.events[0].object_type for n in notifications[: len(items)]] == [
        i["message"]["object_type"] for i in items
    ]
    # The same notification repeated in a batch has the same key: the store dedupes it.
    assert len({n.key for n in notifications}) == len(items)


def test_unknown_object_types_and_actions_pass_through() -> None:
    raw = {
        "data": {"system": {"id": "x", "codename": "spaceship"}},
        "message": {"object_type": "spaceship", "action": "launched", "delivery_slot": "preview"},
    }
    event = _one_event(parse_payload({"notifications": [raw]}))
    assert (event.object_type, event.action, event.codename) == (
        "spaceship",
        "launched",
        "spaceship",
    )


def test_empty_notifications_array_is_no_notification() -> None:
    assert parse_body(b'{"notifications": []}') == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid UTF-8"),
        (b"[]", "payload must be a JSON object, not an array"),
        (b'{"hello": 1}', "payload has neither 'notifications'"),
        (b'{"notifications": {}}', "'notifications' must be an array, not an object"),
        (b'{"notifications": [1]}', "'notifications[0]' must be an object, not a number"),
        (b'{"notifications": [{"data": {}}]}', "'notifications[0].message' must be an object"),
    ],
)
def test_malformed_bodies_have_reasons(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match="^" + _escape(reason)):
        parse_body(body)


def _escape(text: str) -> str:
    return re.escape(text)


# DESIGN §3, Kontent.ai's migration table: (legacy type, operation) -> (object_type, action).
LEGACY_TABLE = [
    ("content_item_variant", "publish", "content_item", "published"),
    ("content_item_variant", "unpublish", "content_item", "unpublished"),
    ("content_item_variant", "archive", "content_item", "deleted"),
    ("content_item_variant", "restore", "content_item", "created"),
    ("content_item_variant", "upsert", "content_item", "changed"),
    ("content_item_variant", "change_workflow_step", "content_item", "workflow_step_changed"),
    ("content_item", "upsert", "content_item", "metadata_changed"),
    ("asset", "upsert", "asset", "changed"),
    ("content_type", "upsert", "content_type", "changed"),
    ("language_settings", "upsert", "language", "changed"),
    ("taxonomy", "archive", "taxonomy", "deleted"),
    ("taxonomy", "restore", "taxonomy", "created"),
    ("taxonomy", "upsert", "taxonomy", "metadata_changed"),
]


def _legacy(
    legacy_type: str, operation: str, api_name: str = "delivery_production"
) -> dict[str, Any]:
    section = "taxonomies" if legacy_type == "taxonomy" else "items"
    return {
        "data": {section: [{"id": "obj-1", "codename": "thing", "language": "en-US"}]},
        "message": {
            "id": "msg-1",
            "project_id": "project-1",
            "type": legacy_type,
            "operation": operation,
            "api_name": api_name,
            "created_timestamp": "2024-02-15T13:27:01Z",
            "webhook_url": "https://example.com/hook",
        },
    }


@pytest.mark.parametrize(("legacy_type", "operation", "object_type", "action"), LEGACY_TABLE)
def test_legacy_mapping_table(
    legacy_type: str, operation: str, object_type: str, action: str
) -> None:
    event = _one_event(parse_payload(_legacy(legacy_type, operation), "production"))
    assert (event.object_type, event.action) == (object_type, action)
    assert event.format == "legacy"
    assert event.environment_id == "project-1"


@pytest.mark.parametrize(
    ("api_name", "slot"),
    [
        ("delivery_production", "published"),
        ("delivery_preview", "preview"),
        ("content_management", "preview"),
    ],
)
def test_legacy_api_name_to_delivery_slot(api_name: str, slot: str) -> None:
    event = _one_event(parse_payload(_legacy("content_item_variant", "publish", api_name)))
    assert event.delivery_slot == slot


def test_legacy_unknown_type_and_operation_pass_through() -> None:
    event = _one_event(parse_payload(_legacy("webhook_test", "ping")))
    assert (event.object_type, event.action) == ("webhook_test", "ping")


def test_legacy_publish_is_one_notification_per_variant(
    payload_bytes: Callable[[str], bytes],
) -> None:
    notifications = parse_body(
        payload_bytes("legacy/content_item_variant_publish.json"), "production"
    )
    assert [n.events[0].language for n in notifications] == ["en-US", "es-ES"]
    assert [n.key for n in notifications] == [
        "legacy:e5e29f8a-4b62-4fba-9b6e-4e3e2d9d7c6a:e113e464-bba0-4aa4-a84f-41a46ce8e8ad:en-US",
        "legacy:e5e29f8a-4b62-4fba-9b6e-4e3e2d9d7c6a:e113e464-bba0-4aa4-a84f-41a46ce8e8ad:es-ES",
    ]
    event = notifications[0].events[0]
    assert (event.object_type, event.action, event.delivery_slot) == (
        "content_item",
        "published",
        "published",
    )
    assert (event.codename, event.type, event.format) == ("on_roasts", "article", "legacy")


def test_legacy_workflow_transition(payload_bytes: Callable[[str], bytes]) -> None:
    body = payload_bytes("legacy/content_item_variant_change_workflow_step.json")
    event = _one_event(parse_body(body, "production"))
    assert event.action == "workflow_step_changed"
    assert event.delivery_slot == "preview"
    assert event.id == "ad2db98c-f4fe-5ce7-bd99-488b6b61d280"
    assert event.previous_workflow_step == "eee6db3b-545a-4785-8e86-e3772c8756f9"
    assert event.workflow_step == "03b6ebd3-2f49-4621-92fd-4977b33681d1"


def test_legacy_taxonomy(payload_bytes: Callable[[str], bytes]) -> None:
    event = _one_event(parse_body(payload_bytes("legacy/taxonomy_upsert.json"), "production"))
    assert (event.object_type, event.action, event.codename) == (
        "taxonomy",
        "metadata_changed",
        "product_category",
    )


def test_legacy_asset(payload_bytes: Callable[[str], bytes]) -> None:
    event = _one_event(parse_body(payload_bytes("legacy/asset_upsert.json"), "production"))
    assert (event.object_type, event.action, event.delivery_slot) == ("asset", "changed", "preview")
    assert event.codename == "sofia_patel_jpg"


@pytest.mark.parametrize("path", LEGACY_PAYLOADS, ids=lambda p: p.stem)
def test_legacy_keys_are_stable_under_reformatting(path: Path) -> None:
    data = json.loads(path.read_bytes())
    reformatted = json.dumps(data, indent=1, sort_keys=True).encode()
    assert [n.key for n in parse_body(reformatted)] == [
        n.key for n in parse_body(path.read_bytes())
    ]


def test_event_json_round_trip(payload_bytes: Callable[[str], bytes]) -> None:
    event = _one_event(
        parse_body(payload_bytes("current/content_item_published_published.json"), "p")
    )
    assert Event.from_json(json.loads(json.dumps(event.to_json()))) == event
    assert (
        event.summary()
        == "content_item published product_update 'This changes everything!' (english) [published]"
    )
