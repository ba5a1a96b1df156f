"""`RuleEngine.explain`: for each rule, matched with rendered inputs, or the first failure."""

from __future__ import annotations

import json
from collections.abc import Callable

from bridge.events import Notification
from bridge.rules import RuleEngine

EngineFactory = Callable[..., RuleEngine]
NotificationFactory = Callable[..., Notification]

ACTIONS = """\
team: {type: notify, token: "xoxb-secret", channel: "#content", text: "{{ event.name }}"}
hook: {type: notify, headers: {Authorization: "Bearer abc"}, enabled: false}
broken: {type: notify, text: "{{ event.raw.nope }}"}
"""

RULES = """\
- name: blog-only
  when: {type: [blog_post]}
  do: [team]
- name: breaking
  when: {type: article, collection: {not: internal}}
  where: [{path: "$.data.system.name", regex: "^Breaking"}]
  do: [team]
- name: articles
  when: {type: article, any: [{language: de}, {codename: hello}]}
  do:
    - action: team
      with:
        text: "Published {{ event.name }} ({{ event.language }})"
        keys: "{{ [event.codename] }}"
    - hook
  stop: true
- name: after-stop
  do: [team]
"""


def test_explain_says_what_matched_and_why_the_others_did_not(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine(RULES, actions=ACTIONS)
    (explanation,) = engine.explain(make_notification(name="Launch"))
    outcomes = [(r.rule, r.outcome, r.reason) for r in explanation.rules]
    assert outcomes == [
        ("blog-only", "failed", "when.type: 'article' is not one of ['blog_post']"),
        (
            "breaking",
            "failed",
            "where[0]: no value of $.data.system.name satisfies regex '^Breaking' (found 'Launch')",
        ),
        ("articles", "matched", None),
        ("after-stop", "skipped", "skipped: rule 'articles' matched and says stop: true"),
    ]
    team, hook = explanation.rules[2].do
    assert (team.action, team.type, team.enabled, team.error) == ("team", "notify", True, None)
    assert dict(team.inputs) == {
        "token": "***",
        "channel": "***",  # the action type declares channel a secret option
        "text": "Published Launch (en)",
        "keys": ["hello"],
    }
    assert (hook.enabled, dict(hook.inputs)) == (False, {"headers": {"Authorization": "***"}})
    assert explanation.jobs == 2


def test_explain_agrees_with_plan(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine(RULES, actions=ACTIONS)
    for fields in ({}, {"type": "blog_post"}, {"name": "Breaking", "codename": "x"}):
        notification = make_notification(**fields)
        (explanation,) = engine.explain(notification)
        explained = [(r.rule, d.action) for r in explanation.rules if r.matched for d in r.do]
        assert explained == [(j.rule, j.action) for j in engine.plan([notification])]


def test_failures_inside_groups_and_negations_are_named(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine(
        "- {name: g, when: {any: [{language: de}, {codename: {glob: 'x*'}}]}, do: [a]}\n"
        "- {name: n, when: {not: {type: article}}, do: [a]}\n"
        "- {name: c, when: {collection: {not: internal}}, do: [a]}\n"
        "- {name: e, when: {collection: {exists: true}}, do: [a]}\n"
        "- {name: m, where: [{path: '$.data.nothing', eq: 1}], do: [a]}\n"
    )
    (explanation,) = engine.explain(make_notification(collection="internal"))
    assert [r.reason for r in explanation.rules] == [
        "when.any: none of 2 alternatives matched (when.any[0].language: 'en' is not 'de'; "
        "when.any[1].codename: 'hello' does not match glob 'x*')",
        "when.not: the negated conditions all matched",
        "when.collection: 'internal' is 'internal'",
        None,
        "where[0]: $.data.nothing matched nothing (wanted eq 1)",
    ]
    (absent,) = engine.explain(make_notification())
    assert absent.rules[3].reason == "when.collection: null is not set"


def test_a_template_error_is_reported_not_raised(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine("- {name: r, do: [broken]}\n", actions=ACTIONS)
    (explanation,) = engine.explain(make_notification())
    (item,) = explanation.rules[0].do
    assert item.error == "option 'text': 'dict object' has no attribute 'nope'"


def test_json_and_text_forms(
    make_engine: EngineFactory, make_notification: NotificationFactory
) -> None:
    engine = make_engine(RULES, actions=ACTIONS)
    (explanation,) = engine.explain(make_notification(name="Launch"))
    data = json.loads(json.dumps(explanation.to_json()))
    assert data["summary"] == "content_item published article 'Launch' (en) [published]"
    assert data["event"]["codename"] == "hello"
    assert [r["outcome"] for r in data["rules"]] == ["failed", "failed", "matched", "skipped"]
    assert data["rules"][2]["do"][0]["inputs"]["token"] == "***"
    text = explanation.to_text()
    assert text.splitlines()[:5] == [
        "event: content_item published article 'Launch' (en) [published]",
        "  [failed] blog-only: when.type: 'article' is not one of ['blog_post']",
        "  [failed] breaking: where[0]: no value of $.data.system.name satisfies regex "
        "'^Breaking' (found 'Launch')",
        "  [matched] articles  (stop)",
        "      -> team (notify)",
    ]
    assert "xoxb-secret" not in text and "Bearer abc" not in text
    assert "      -> hook (notify) (disabled: jobs are parked)" in text
