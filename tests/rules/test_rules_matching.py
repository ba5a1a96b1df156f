"""`when`, `where`, rule order and `stop`, through RuleEngine.plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bridge.events import Notification
from bridge.payloads import parse_payload
from bridge.rules import RuleEngine

EngineFactory = Callable[..., RuleEngine]
NotificationFactory = Callable[..., Notification]


def matched(engine: RuleEngine, notification: Notification) -> list[str]:
    return [job.rule for job in engine.plan([notification])]


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ("type: article", {}, True),
        ("type: blog_post", {}, False),
        ("type: [blog_post, article]", {}, True),
        ("type: [blog_post, page]", {}, False),
        ("type: {in: [blog_post, article]}", {}, True),
        ("type: {in: [blog_post]}", {}, False),
        ("collection: {not: internal}", {"collection": "default"}, True),
        ("collection: {not: internal}", {"collection": "internal"}, False),
        ("collection: {not: internal}", {}, True),  # absent is not 'internal'
        ("collection: {not: [internal, archive]}", {"collection": "archive"}, False),
        ("collection: {not: {glob: 'int*'}}", {"collection": "internal"}, False),
        ("codename: {glob: 'blog_*'}", {"codename": "blog_hello"}, True),
        ("codename: {glob: 'blog_*'}", {"codename": "news_hello"}, False),
        ("codename: {glob: ['news_*', 'blog_*']}", {"codename": "news_1"}, True),
        ("codename: {glob: 'blog_*'}", {"codename": None}, False),
        ("name: {regex: '^Break'}", {"name": "Breaking news"}, True),
        ("name: {regex: 'news$'}", {"name": "News today"}, False),
        ("name: {regex: '(?i)^break'}", {"name": "BREAKING"}, True),
        ("collection: {exists: true}", {"collection": "default"}, True),
        ("collection: {exists: true}", {}, False),
        ("collection: {exists: false}", {}, True),
        ("collection: {exists: false}", {"collection": "default"}, False),
        ("collection: null", {}, True),
        ("codename: {glob: 'blog_*', not: blog_draft}", {"codename": "blog_draft"}, False),
        ("codename: {glob: 'blog_*', not: blog_draft}", {"codename": "blog_real"}, True),
        ("workflow_step: {in: [review]}", {"workflow_step": "review"}, True),
        ("delivery_slot: preview", {}, False),
        ("object_type: content_item", {}, True),
        ("webhook: production", {}, True),
        ("format: legacy", {}, False),
    ],
)
def test_field_conditions(
    make_engine: EngineFactory,
    make_notification: NotificationFactory,
    condition: str,
    fields: dict[str, Any],
    expected: bool,
) -> None:
    engine = make_engine(f"- name: r\n  when: {{{condition}}}\n  do: [a]\n")
    assert matched(engine, make_notification(**fields)) == (["r"] if expected else [])


@pytest.mark.parametrize(
    ("when", "fields", "expected"),
    [
        ("{any: [{type: page}, {codename: hello}]}", {}, True),
        ("{any: [{type: page}, {codename: other}]}", {}, False),
        ("{all: [{type: article}, {codename: hello}]}", {}, True),
        ("{all: [{type: article}, {codename: other}]}", {}, False),
        ("{not: {type: article}}", {}, False),
        ("{not: {type: page}}", {}, True),
        ("{not: {type: article, codename: other}}", {}, True),  # not (a and b)
        ("{type: article, any: [{language: de}, {not: {collection: {exists: true}}}]}", {}, True),
        ("{any: [{all: [{type: page}]}, {not: {any: [{language: de}]}}]}", {}, True),
        ("{any: [{all: [{type: page}]}, {not: {any: [{language: en}]}}]}", {}, False),
    ],
)
def test_nested_groups(
    make_engine: EngineFactory,
    make_notification: NotificationFactory,
    when: str,
    fields: dict[str, Any],
    expected: bool,
) -> None:
    engine = make_engine(f"- name: r\n  when: {when}\n  do: [a]\n")
    assert matched(engine, make_notification(**fields)) == (["r"] if expected else [])


EXTRA = {
    "data": {
        "system": {"name": "Breaking: all", "codename": "c", "type": "article"},
        "elements": {"tags": {"value": ["sport", "news"]}, "rank": {"value": 7}},
        "updated": "2024-05-01T10:00:00Z",
    }
}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('{path: "$.data.system.name", regex: "^Breaking"}', True),
        ('{path: "$.data.system.name", regex: "^Slow"}', False),
        ('{path: "$.data.system.type", eq: article}', True),
        ('{path: "$.data.system.type", eq: page}', False),
        ('{path: "$.data.system.type", in: [page, article]}', True),
        ('{path: "$.data.elements.tags.value[*]", eq: news}', True),  # any of several values
        ('{path: "$.data.elements.tags.value[*]", eq: weather}', False),
        ('{path: "$.data.elements.rank.value", gt: 5}', True),
        ('{path: "$.data.elements.rank.value", lt: 5}', False),
        ('{path: "$.data.elements.rank.value", gt: 5, lt: 10}', True),
        ('{path: "$.data.elements.rank.value", gt: "5"}', False),  # text never compares to numbers
        ('{path: "$.data.updated", gt: "2024-01-01"}', True),
        ('{path: "$.data.updated", lt: "2024-01-01"}', False),
        ('{path: "$.data.elements.tags", exists: true}', True),
        ('{path: "$.data.elements.missing", exists: true}', False),
        ('{path: "$.data.elements.missing", exists: false}', True),
        ('{path: "$.message.action", eq: published}', True),
        ('{path: "$.data.elements.missing", eq: x}', False),
    ],
)
def test_where_conditions(
    make_engine: EngineFactory,
    make_notification: NotificationFactory,
    where: str,
    expected: bool,
) -> None:
    engine = make_engine(f"- name: r\n  where: [{where}]\n  do: [a]\n")
    notification = make_notification(raw_extra=EXTRA)
    assert matched(engine, notification) == (["r"] if expected else [])


def test_when_and_where_must_both_hold(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine(
        '- name: r\n  when: {type: page}\n  where: [{path: "$.data.system.type", eq: article}]\n'
        "  do: [a]\n"
    )
    assert matched(engine, make_notification()) == []


RULES = """\
- {name: first, when: {type: article}, do: [a, b]}
- {name: second, when: {codename: hello}, do: [c]}
- {name: third, do: [a]}
"""


def test_every_matching_rule_runs_in_rule_order(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    jobs = make_engine(RULES).plan([make_notification()])
    assert [(job.rule, job.action) for job in jobs] == [
        ("first", "a"),
        ("first", "b"),
        ("second", "c"),
        ("third", "a"),
    ]


def test_stop_skips_later_rules_only_when_its_rule_matches(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    rules = RULES.replace("do: [c]}", "do: [c], stop: true}")
    engine = make_engine(rules)
    assert matched(engine, make_notification()) == ["first", "first", "second"]
    assert matched(engine, make_notification(codename="other")) == ["first", "first", "third"]


def test_planned_jobs_carry_the_notification_and_unrendered_inputs(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine(
        '- name: r\n  do:\n    - {action: a, with: {text: "Hi {{ event.name }}"}}\n    - b\n'
    )
    notification = make_notification(name="Launch")
    first, second = engine.plan([notification])
    assert (first.action, first.rule, first.notification_key) == ("a", "r", notification.key)
    assert first.event == notification.events[0]
    assert first.event.name == "Launch"
    assert dict(first.inputs) == {"text": "Hi {{ event.name }}"}
    assert dict(second.inputs) == {}


def test_disabled_actions_are_still_planned(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine("- {name: r, do: [a]}\n", actions="a: {type: notify, enabled: false}")
    assert [job.action for job in engine.plan([make_notification()])] == ["a"]


def test_every_event_of_every_notification_is_planned(make_engine: EngineFactory) -> None:
    legacy = {
        "data": {
            "items": [
                {"id": "1", "codename": "one", "language": "en", "type": "article"},
                {"id": "2", "codename": "two", "language": "en", "type": "page"},
            ]
        },
        "message": {
            "id": "m1",
            "project_id": "p",
            "type": "content_item_variant",
            "operation": "publish",
            "api_name": "delivery_production",
        },
    }
    notifications = parse_payload(legacy, "production")
    engine = make_engine(
        "- {name: pages, when: {type: page, format: legacy, action: published}, do: [a]}\n"
        "- {name: all, do: [b]}\n"
    )
    jobs = engine.plan(notifications)
    assert [(job.event.codename, job.rule) for job in jobs] == [
        ("one", "all"),
        ("two", "pages"),
        ("two", "all"),
    ]
    assert jobs[0].notification_key != jobs[1].notification_key


def test_no_rules_plan_nothing(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine("[]\n", actions="a: {type: notify}")
    assert engine.plan([make_notification()]) == []
