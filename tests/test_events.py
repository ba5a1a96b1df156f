"""Parsing of every seed-001 payload, the legacy format and its mapping table, dedupe keys."""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.actions.log import LogAction
from bridge.config import parse_config
from bridge.events import Event, Notification, PayloadError
from bridge.payloads import parse_body, parse_payload
from bridge.rules import RuleEngine

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
        "workflow": "default",
        "workflow_step": "archived",
        # From message.action_context, which Kontent.ai sends with this event.
        "previous_workflow": "default",
        "previous_workflow_step": "published",
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
        (b"\xff{}", "body is not valid UTF-8"),
        (b"\xff\xfe{}", "body is UTF-16, not UTF-8"),  # a UTF-16 byte order mark
        (b"[]", "payload must be a JSON object, not an array"),
        (b'{"hello": 1}', "payload has neither 'notifications'"),
        (
            b'{"notifications": [], "data": {"items": [{"id": "x"}]}, "message": {}}',
            "payload has both 'notifications' (current format) and 'data' and 'message' "
            "(legacy format): send one format",
        ),
        (b'{"notifications": [], "message": {}}', "payload has both 'notifications' (current"),
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


# Kontent.ai's migration table ("Migration guidelines for legacy webhooks"), every row:
# (legacy type, operation) -> (object_type, actions); the first action is the primary `action`.
LEGACY_TABLE = [
    ("asset", "upsert", "asset", ("changed", "metadata_changed")),
    ("content_item", "upsert", "content_item", ("metadata_changed",)),
    ("content_item_variant", "archive", "content_item", ("deleted",)),
    ("content_item_variant", "change_workflow_step", "content_item", ("workflow_step_changed",)),
    ("content_item_variant", "restore", "content_item", ("created",)),
    ("content_item_variant", "publish", "content_item", ("published",)),
    ("content_item_variant", "upsert", "content_item", ("changed", "created")),
    ("content_item_variant", "unpublish", "content_item", ("unpublished",)),
    ("content_type", "upsert", "content_type", ("changed",)),
    ("language_settings", "upsert", "language", ("changed",)),
    # "Not applicable" in the table: no current counterpart, so they pass through as sent.
    ("project", "archive", "project", ("archive",)),
    ("project", "restore", "project", ("restore",)),
    ("project_settings", "upsert", "project_settings", ("upsert",)),
    ("taxonomy", "archive", "taxonomy", ("deleted",)),
    ("taxonomy", "restore", "taxonomy", ("created",)),
    ("taxonomy", "upsert", "taxonomy", ("metadata_changed", "term_changed", "term_deleted")),
    ("workflow", "upsert", "workflow", ("upsert",)),
]
# The object each legacy type lists: content items carry a language and a type; the objects of
# the other types do not (a content type message lists the type's items: see the dependents).
LEGACY_OBJECTS: dict[str, dict[str, Any]] = {
    "content_item_variant": {"id": "obj-1", "codename": "thing", "language": "en-US"},
    "content_item": {"id": "obj-1", "codename": "thing", "language": "en-US", "type": "article"},
    "content_type": {"id": "obj-1", "codename": "thing", "language": "en-US", "type": "article"},
}


def _legacy(
    legacy_type: str,
    operation: str,
    api_name: str = "delivery_production",
    entries: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    section = "taxonomies" if legacy_type == "taxonomy" else "items"
    default = LEGACY_OBJECTS.get(legacy_type, {"id": "obj-1", "codename": "thing"})
    return {
        "data": {section: entries if entries is not None else [default]},
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


@pytest.mark.parametrize(("legacy_type", "operation", "object_type", "actions"), LEGACY_TABLE)
def test_legacy_mapping_table(
    legacy_type: str, operation: str, object_type: str, actions: tuple[str, ...]
) -> None:
    event = parse_payload(_legacy(legacy_type, operation), "production")[0].events[0]
    assert (event.object_type, event.action, event.actions) == (object_type, actions[0], actions)
    assert event.format == "legacy"
    assert event.environment_id == "project-1"
    assert event.dependent_of is None


def _engine(rules: str) -> RuleEngine:
    text = f"version: 1\nactions:\n  a: {{type: log}}\nrules:\n{rules}"
    return RuleEngine(parse_config(text, "rules.yaml", {}, types={"log": LogAction}))


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "scan"])
@pytest.mark.parametrize(
    ("legacy_type", "operation", "object_type", "action"),
    [(t, o, ot, a) for t, o, ot, actions in LEGACY_TABLE for a in actions if len(actions) > 1],
)
def test_a_rule_on_any_of_a_rows_actions_matches(
    legacy_type: str, operation: str, object_type: str, action: str, indexed: bool
) -> None:
    rules = (
        f"  - {{name: on-it, when: {{object_type: {object_type}, action: {action}}}, do: [a]}}\n"
        f"  - {{name: listed, when: {{action: [nothing, {action}]}}, do: [a]}}\n"
        f"  - {{name: glob, when: {{action: {{glob: '{action[:4]}*'}}}}, do: [a]}}\n"
        "  - {name: other, when: {action: published}, do: [a]}\n"
    )
    engine = _engine(rules)
    engine = RuleEngine(engine.config, indexed=indexed)
    event = parse_payload(_legacy(legacy_type, operation))[0].events[0]
    assert [rule.name for rule in engine.matching(event)] == ["on-it", "listed", "glob"]
    explained = engine.explain(parse_payload(_legacy(legacy_type, operation))[0])[0]
    assert explained.to_text().splitlines()[1] == "  action: " + " | ".join(event.actions)
    other = next(r for r in explained.rules if r.rule == "other")
    shown = " | ".join(repr(a) for a in event.actions)
    assert other.reason == f"when.action: {shown} is not 'published'"


def test_a_negated_action_group_holds_only_when_no_action_matches() -> None:
    engine = _engine(
        "  - {name: not-changed, when: {not: {action: changed}}, do: [a]}\n"
        "  - {name: not-published, when: {not: {action: published}}, do: [a]}\n"
    )
    event = parse_payload(_legacy("asset", "upsert"))[0].events[0]
    assert [rule.name for rule in engine.matching(event)] == ["not-published"]


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
        # legacy:<webhook>:<message id>:<item id>:<language>
        "legacy:production:e5e29f8a-4b62-4fba-9b6e-4e3e2d9d7c6a"
        ":e113e464-bba0-4aa4-a84f-41a46ce8e8ad:en-US",
        "legacy:production:e5e29f8a-4b62-4fba-9b6e-4e3e2d9d7c6a"
        ":e113e464-bba0-4aa4-a84f-41a46ce8e8ad:es-ES",
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
    # Without a Management API key the steps stay ids; the all-zero language id is `default`.
    assert event.language == "default"


def test_legacy_taxonomy(payload_bytes: Callable[[str], bytes]) -> None:
    event = _one_event(parse_body(payload_bytes("legacy/taxonomy_upsert.json"), "production"))
    assert (event.object_type, event.action, event.codename) == (
        "taxonomy",
        "metadata_changed",
        "product_category",
    )


def test_legacy_asset(payload_bytes: Callable[[str], bytes]) -> None:
    # A legacy asset message lists the content items that use the asset, not the asset: the
    # asset still gets its event (unnamed), and each item is a dependent of it.
    notifications = parse_body(payload_bytes("legacy/asset_upsert.json"), "production")
    event = notifications[0].events[0]
    assert (event.object_type, event.action, event.delivery_slot) == ("asset", "changed", "preview")
    assert event.actions == ("changed", "metadata_changed")
    assert (event.id, event.codename, event.dependent_of) == (None, None, None)
    items = [n.events[0] for n in notifications[1:]]
    assert [(e.object_type, e.codename, e.dependent_of) for e in items] == [
        ("content_item", "solutions_imaging", "asset"),
        ("content_item", "this_changes_everything", "asset"),
    ]
    assert items[0].actions == ("changed", "metadata_changed")
    assert [n.key for n in notifications] == [
        "legacy:production:c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c:asset:",
        "legacy:production:c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c"
        ":ad2db98c-f4fe-5ce7-bd99-488b6b61d280:default",
        "legacy:production:c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c"
        ":32022d85-ee58-4655-9016-e130c375820a:default",
    ]


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


# --- Kontent.ai's v4 webhook helper (kontent-ai/webhook-helper-js, lib/models/webhook-schemas.ts)
# ported: a notification is "known" when one of its object schemas accepts it (extra keys are
# allowed, as zod objects allow them). Every current fixture must be one the helper knows.

_SLOTS = {"published", "preview"}
_OBJECT_FIELDS = ("id", "name", "codename", "last_modified")
_ITEM_FIELDS = (*_OBJECT_FIELDS, "collection", "workflow", "workflow_step", "language", "type")
_HELPER_ACTIONS = {
    "asset": {"created", "deleted", "metadata_changed"},
    "content_type": {"created", "deleted", "changed"},
    "language": {"created", "deleted", "changed"},
    "taxonomy": {
        "created",
        "deleted",
        "metadata_changed",
        "term_created",
        "term_changed",
        "term_deleted",
        "terms_moved",
    },
}


def _strings(obj: Any, names: tuple[str, ...]) -> bool:
    return isinstance(obj, dict) and all(isinstance(obj.get(n), str) for n in names)


def _helper_knows(notification: Any) -> bool:
    system = notification.get("data", {}).get("system")
    message = notification.get("message")
    if not _strings(message, ("environment_id", "object_type", "action", "delivery_slot")):
        return False
    if message["delivery_slot"] not in _SLOTS:
        return False
    object_type, action, slot = message["object_type"], message["action"], message["delivery_slot"]
    if object_type != "content_item":
        return _strings(system, _OBJECT_FIELDS) and action in _HELPER_ACTIONS.get(object_type, ())
    if not _strings(system, _ITEM_FIELDS):
        return False
    if action == "workflow_step_changed":
        context = message.get("action_context")
        fields = ("previous_workflow", "previous_workflow_step")
        return slot == "preview" and _strings(context, fields)
    if slot == "preview":
        return action in {"created", "deleted", "metadata_changed"}
    return action in {"published", "unpublished", "metadata_changed"}


@pytest.mark.parametrize("path", CURRENT_PAYLOADS, ids=lambda p: p.stem)
def test_current_fixtures_are_what_kontents_own_helper_accepts(path: Path) -> None:
    for notification in json.loads(path.read_bytes())["notifications"]:
        assert _helper_knows(notification), path.name


def test_the_helper_port_rejects_a_workflow_change_without_action_context() -> None:
    path = PAYLOADS / "current/content_item_workflow_step_changed_preview.json"
    notification = json.loads(path.read_bytes())["notifications"][0]
    del notification["message"]["action_context"]
    assert not _helper_knows(notification)


def test_workflow_step_changed_is_matched_on_its_previous_step(
    payload_bytes: Callable[[str], bytes],
) -> None:
    engine = _engine(
        "  - name: left-published\n"
        "    when: {action: workflow_step_changed, previous_workflow_step: published}\n"
        "    do: [a]\n"
        "  - name: left-draft\n"
        "    when: {action: workflow_step_changed, previous_workflow_step: draft}\n"
        "    do: [a]\n"
    )
    body = payload_bytes("current/content_item_workflow_step_changed_preview.json")
    event = _one_event(parse_body(body, "production"))
    assert [rule.name for rule in engine.matching(event)] == ["left-published"]
    assert (event.previous_workflow, event.previous_workflow_step) == ("default", "published")


def test_action_context_must_be_an_object() -> None:
    raw = {
        "data": {"system": {"id": "x"}},
        "message": {"object_type": "content_item", "action": "x", "action_context": "draft"},
    }
    with pytest.raises(PayloadError, match=r"^'notifications\[0\].message.action_context' must"):
        parse_payload({"notifications": [raw]})
    raw["message"]["action_context"] = None  # null is no context, as the helper reads it
    assert _one_event(parse_payload({"notifications": [raw]})).previous_workflow_step is None


def test_content_item_variant_object_type_is_a_content_item() -> None:
    raw = {
        "data": {"system": {"id": "x", "codename": "thing"}},
        "message": {"object_type": "content_item_variant", "action": "published"},
    }
    event = _one_event(parse_payload({"notifications": [raw]}))
    assert event.object_type == "content_item"
    legacy = _one_event(parse_payload(_legacy("content_item_variant", "publish")))
    assert legacy.object_type == "content_item"


# --- Legacy dependents: a content type or taxonomy message lists the items that depend on it.


def test_content_type_change_lists_its_items_as_dependents(
    payload_bytes: Callable[[str], bytes],
) -> None:
    notifications = parse_body(payload_bytes("legacy/content_type_upsert.json"), "production")
    events = [n.events[0] for n in notifications]
    assert [(e.object_type, e.action, e.codename, e.dependent_of) for e in events] == [
        ("content_type", "changed", "article", None),
        ("content_item", "changed", "article_1", "content_type:article"),
        ("content_item", "changed", "article_2", "content_type:article"),
        ("content_item", "changed", "article_3", "content_type:article"),
    ]
    assert events[1].id == "f1e95fb5-6501-5cd3-b183-f330804d3aa6"
    assert (events[1].type, events[1].language, events[1].collection) == (
        "article",
        "default",
        "default",
    )
    assert len({n.key for n in notifications}) == 4
    assert events[1].summary().endswith("dependent of content_type:article")


def test_taxonomy_change_lists_its_items_as_dependents(
    payload_bytes: Callable[[str], bytes],
) -> None:
    body = payload_bytes("legacy/taxonomy_upsert_with_items.json")
    events = [n.events[0] for n in parse_body(body, "production")]
    assert [(e.object_type, e.codename, e.dependent_of) for e in events] == [
        ("taxonomy", "product_category", None),
        ("content_item", "on_roasts", "taxonomy:product_category"),
        ("content_item", "coffee_beverages_explained", "taxonomy:product_category"),
    ]
    assert events[1].actions == ("metadata_changed", "term_changed", "term_deleted")


def test_rules_match_dependents(payload_bytes: Callable[[str], bytes]) -> None:
    engine = _engine(
        "  - {name: of-article-type, when: {dependent_of: 'content_type:article'}, do: [a]}\n"
        "  - {name: any-dependent, when: {dependent_of: {glob: '*:*'}}, do: [a]}\n"
        "  - name: direct-items\n"
        "    when: {object_type: content_item, dependent_of: {exists: false}}\n"
        "    do: [a]\n"
        "  - {name: the-type, when: {object_type: content_type, codename: article}, do: [a]}\n"
    )
    notifications = parse_body(payload_bytes("legacy/content_type_upsert.json"), "production")
    matched = [[r.name for r in engine.matching(n.events[0])] for n in notifications]
    assert matched == [["the-type"]] + [["of-article-type", "any-dependent"]] * 3
    publish = parse_body(payload_bytes("legacy/content_item_variant_publish.json"), "production")
    assert [r.name for r in engine.matching(publish[0].events[0])] == ["direct-items"]
    rendered = RuleEngine(
        parse_config(
            "version: 1\nactions:\n  a: {type: log}\nrules:\n"
            "  - name: r\n    when: {dependent_of: {exists: true}}\n"
            "    do: [{action: a, with: {message: '{{ event.dependent_of }} {{ event.actions }}'}}]"
            "\n",
            "rules.yaml",
            {},
            types={"log": LogAction},
        )
    ).explain(notifications[1])[0]
    assert rendered.rules[0].do[0].inputs["message"] == "content_type:article ['changed']"


def test_an_asset_message_keeps_the_asset_and_marks_items_using_it() -> None:
    entries = [
        {"id": "asset-1", "codename": "sofia_patel_jpg"},
        {"id": "item-1", "codename": "about_us", "language": "en-US", "type": "page"},
    ]
    events = [n.events[0] for n in parse_payload(_legacy("asset", "upsert", entries=entries))]
    assert [(e.object_type, e.codename, e.dependent_of) for e in events] == [
        ("asset", "sofia_patel_jpg", None),
        ("content_item", "about_us", "asset:sofia_patel_jpg"),
    ]


# --- Linear legacy bodies: each notification carries its own slice, not the whole body.


def _big_legacy(count: int) -> bytes:
    items = [
        {"id": f"item-{i:06d}", "codename": f"article_{i:06d}", "language": "en-US", "type": "a"}
        for i in range(count)
    ]
    payload = _legacy("content_item_variant", "publish", entries=items)
    return json.dumps(payload).encode()


def test_each_legacy_notification_holds_only_its_own_item() -> None:
    sizes: dict[int, set[int]] = {}
    for count in (1_000, 5_000):
        notifications = parse_body(_big_legacy(count), "production")
        assert len(notifications) == count
        sizes[count] = {len(json.dumps(n.raw)) for n in notifications}
        for notification in notifications[:3]:
            item = notification.raw["data"]["items"]
            assert item == [{**item[0], "codename": notification.events[0].codename}]
            assert notification.events[0].raw is notification.raw
    # Every raw is the same size whatever the body's item count: one item and the message.
    assert sizes[1_000] == sizes[5_000]
    assert len(sizes[1_000]) == 1
    assert max(sizes[5_000]) < 500


def test_parsing_and_encoding_a_legacy_body_is_linear() -> None:
    def cost(count: int) -> float:
        body = _big_legacy(count)
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            total = sum(len(json.dumps(n.raw)) for n in parse_body(body, "production"))
            best = min(best, time.process_time() - started)
            assert total < 500 * count
        return best

    small, large = cost(1_000), cost(5_000)
    # Linear work is 5x (quadratic would be 25x); CPU time, best of 3, and the margin absorb a
    # busy shared machine.
    assert large / small < 12, (small, large)


def test_legacy_where_paths_see_the_items_own_slice() -> None:
    engine = _engine(
        "  - name: second\n"
        "    where: [{path: '$.data.items[0].codename', eq: article_000001}]\n"
        "    do: [a]\n"
    )
    notifications = parse_body(_big_legacy(3), "production")
    assert [bool(engine.matching(n.events[0])) for n in notifications] == [False, True, False]


def test_legacy_default_language_id_is_never_a_language() -> None:
    entry = {
        "item": {"id": "ad2db98c-f4fe-5ce7-bd99-488b6b61d280"},
        "language": {"id": "00000000-0000-0000-0000-000000000000"},
        "transition_from": {"id": "eee6db3b-545a-4785-8e86-e3772c8756f9"},
        "transition_to": {"id": "03b6ebd3-2f49-4621-92fd-4977b33681d1"},
    }
    payload = _legacy("content_item_variant", "change_workflow_step", entries=[entry])
    notification = parse_payload(payload, "production")[0]
    assert notification.events[0].language == "default"
    assert notification.key.endswith(":ad2db98c-f4fe-5ce7-bd99-488b6b61d280:default")


def test_event_json_round_trip_keeps_actions_and_dependents(
    payload_bytes: Callable[[str], bytes],
) -> None:
    body = payload_bytes("legacy/taxonomy_upsert_with_items.json")
    event = parse_body(body, "production")[1].events[0]
    stored = json.loads(json.dumps(event.fields()))
    assert stored["actions"] == ["metadata_changed", "term_changed", "term_deleted"]
    restored = Event.from_json(stored | {"raw": event.raw})
    assert restored == event
    assert restored.actions == event.actions
    # An event stored before `actions` existed gets its one action back.
    old = {k: v for k, v in stored.items() if k != "actions"}
    assert Event.from_json(old).actions == ("metadata_changed",)


def test_bridge_explain_shows_every_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.cli import main

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nwebhooks: [{name: legacy, path: /legacy, secrets: [s]}]\n"
        "actions: {audit: {type: log}}\n"
        "rules:\n"
        "  - {name: metadata, when: {object_type: asset, action: metadata_changed}, do: [audit]}\n"
        "  - {name: published, when: {action: published}, do: [audit]}\n"
    )
    payload = PAYLOADS / "legacy/asset_upsert.json"
    assert main(["explain", str(rules), str(payload)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "event: asset changed | metadata_changed '' [preview]",
        "  action: changed | metadata_changed",
        "  [matched] metadata",
    ]
    assert (
        "  [failed] published: when.action: 'changed' | 'metadata_changed' is not 'published'"
        in lines
    )
    assert main(["explain", "--json", str(rules), str(payload)]) == 0
    explained = json.loads(capsys.readouterr().out)
    event = explained["notifications"][0]["events"][0]["event"]
    assert (event["action"], event["actions"]) == ("changed", ["changed", "metadata_changed"])


def test_the_docs_list_every_event_field() -> None:
    from bridge.events import MATCHABLE_FIELDS

    docs = Path(__file__).parents[1] / "docs"
    when_keys = re.search(
        r"Keys are Event fields: `([^`]*)`", (docs / "configuration.md").read_text()
    )
    assert when_keys is not None
    assert [k.strip() for k in when_keys.group(1).split(",")] == list(MATCHABLE_FIELDS)
    listed = re.search(r"The Event fields are `([^`]*)`", (docs / "kontent.md").read_text())
    assert listed is not None
    assert {k.strip() for k in listed.group(1).split(",")} == set(Event().fields())


def test_index_and_scan_agree_on_events_with_several_actions() -> None:
    import dataclasses
    import random

    from tests.rules.test_rules_index import ACTIONS, random_notifications, random_rules

    rng = random.Random(20261202)
    rules = random_rules(rng, 300, 0.0)
    indexed = _engine(textwrap.indent(rules, "  "))
    linear = RuleEngine(indexed.config, indexed=False)
    notifications = []
    for notification in random_notifications(rng, 300):
        actions = tuple(rng.sample(ACTIONS, rng.randint(1, 3)))
        event = dataclasses.replace(notification.events[0], action=actions[0], actions=actions)
        notifications.append(dataclasses.replace(notification, events=(event,)))
    expected = linear.plan(notifications)
    assert indexed.plan(notifications) == expected
    assert len({job.rule for job in expected}) > 100
    several = [n for n in notifications if len(n.events[0].actions) > 1]
    assert len(several) > 100
