"""The index must give exactly what a linear scan gives, and look at fewer rules."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from bridge.events import Notification
from bridge.payloads import parse_payload
from bridge.rules import RuleEngine
from bridge.rules.index import RuleIndex

EngineFactory = Callable[..., RuleEngine]

TYPES = ["article", "blog_post", "page", "author", None]
CODENAMES = ["hello", "blog_one", "blog_two", "news_1", "about", None]
OBJECT_TYPES = ["content_item", "asset", "taxonomy"]
ACTIONS = ["published", "unpublished", "changed", "deleted"]
COLLECTIONS = ["default", "internal", "marketing", None]
LANGUAGES = ["en", "de", None]


def _value(rng: random.Random, choices: Sequence[str | None]) -> str:
    value = rng.choice(choices)
    return "null" if value is None else value


def _condition(rng: random.Random, field: str, choices: Sequence[str | None]) -> str:
    kind = rng.choice(["eq", "eq", "list", "in", "not", "glob", "regex", "exists"])
    if kind == "eq":
        return f"{field}: {_value(rng, choices)}"
    if kind == "list":
        return f"{field}: [{_value(rng, choices)}, {_value(rng, choices)}]"
    if kind == "in":
        return f"{field}: {{in: [{_value(rng, choices)}]}}"
    if kind == "not":
        return f"{field}: {{not: {_value(rng, choices)}}}"
    if kind == "glob":
        return f"{field}: {{glob: '{rng.choice(['blog_*', '*o*', 'a*'])}'}}"
    if kind == "regex":
        return f"{field}: {{regex: '{rng.choice(['^b', 'e', '_[0-9]$'])}'}}"
    return f"{field}: {{exists: {rng.choice(['true', 'false'])}}}"


FIELDS: dict[str, Sequence[str | None]] = {
    "type": TYPES,
    "codename": CODENAMES,
    "object_type": OBJECT_TYPES,
    "action": ACTIONS,
    "collection": COLLECTIONS,
    "language": LANGUAGES,
}


def _when(rng: random.Random, depth: int = 0) -> str:
    parts = [
        _condition(rng, field, FIELDS[field])
        for field in rng.sample(sorted(FIELDS), rng.randint(0, 3))
    ]
    if depth < 2 and rng.random() < 0.25:
        group = rng.choice(["any", "all"])
        parts.append(f"{group}: [{{{_when(rng, depth + 1)}}}, {{{_when(rng, depth + 1)}}}]")
    if depth < 2 and rng.random() < 0.1:
        parts.append(f"not: {{{_when(rng, depth + 1)}}}")
    return ", ".join(parts)


def random_rules(rng: random.Random, count: int, stop_rate: float) -> str:
    lines = []
    for i in range(count):
        stop = ", stop: true" if rng.random() < stop_rate else ""
        where = ""
        if rng.random() < 0.1:
            where = ', where: [{path: "$.data.system.name", regex: "^B"}]'
        lines.append(f"- {{name: r{i}, when: {{{_when(rng)}}}{where}, do: [a]{stop}}}")
    return "\n".join(lines) + "\n"


def random_notifications(rng: random.Random, count: int) -> list[Notification]:
    raws = []
    for _ in range(count):
        system = {
            "name": rng.choice(["Breaking", "Hello", "B-side"]),
            "codename": rng.choice(CODENAMES),
            "type": rng.choice(TYPES),
            "collection": rng.choice(COLLECTIONS),
            "language": rng.choice(LANGUAGES),
        }
        message = {"object_type": rng.choice(OBJECT_TYPES), "action": rng.choice(ACTIONS)}
        raws.append({"data": {"system": system}, "message": message})
    return parse_payload({"notifications": raws}, "production")


def test_index_plans_exactly_what_a_linear_scan_plans(make_engine: EngineFactory) -> None:
    rng = random.Random(20261123)
    for stop_rate in (0.0, 0.0, 0.0, 0.02, 0.1):
        rules = random_rules(rng, 300, stop_rate)
        indexed = make_engine(rules)
        linear = make_engine(rules, indexed=False)
        notifications = random_notifications(rng, 200)
        expected = linear.plan(notifications)
        assert indexed.plan(notifications) == expected
        if not stop_rate:
            assert len({job.rule for job in expected}) > 100  # the comparison covered many rules


def test_index_looks_only_at_rules_that_could_match(make_engine: EngineFactory) -> None:
    rules = "".join(
        f"- {{name: c{i}, when: {{codename: item_{i}}}, do: [a]}}\n" for i in range(500)
    )
    rules += "- {name: prefix, when: {codename: {glob: ['item_4*', 'item_*2']}}, do: [a]}\n"
    rules += "- {name: types, when: {type: [article, page], action: published}, do: [a]}\n"
    rules += "- {name: starts, when: {name: {regex: '^B'}}, do: [a]}\n"
    rules += "- {name: anywhere, when: {codename: {glob: '*_42'}}, do: [a]}\n"
    engine = make_engine(rules)
    index = RuleIndex.build(engine.rules)
    assert index.scan == [503]
    assert set(index.buckets) == {
        (("field", "codename"),),
        (("field", "type"), ("field", "action")),  # one key for both: (article, published)
    }
    assert index.buckets[(("field", "type"), ("field", "action"))] == {
        ("article", "published"): [501],
        ("page", "published"): [501],
    }
    assert index.prefixes == {
        ("field", "codename"): {"item_4": [500], "item_": [500]},
        ("field", "name"): {"B": [502]},
    }
    (notification,) = parse_payload(
        {
            "notifications": [
                {
                    "data": {"system": {"codename": "item_42", "type": "article", "name": "B"}},
                    "message": {"action": "published"},
                }
            ]
        }
    )
    event = notification.events[0]
    # The prefix rule is reached through 'item_' and 'item_4': a candidate once.
    assert index.candidates(event) == [42, 500, 501, 502, 503]
    planned = [job.rule for job in engine.plan([notification])]
    assert planned == ["c42", "prefix", "types", "starts", "anywhere"]


def test_contradictory_equalities_are_never_candidates(make_engine: EngineFactory) -> None:
    engine = make_engine("- {name: never, when: {type: article, all: [{type: page}]}, do: [a]}\n")
    index = RuleIndex.build(engine.rules)
    assert index.scan == []
    assert index.buckets == {(("field", "type"),): {}}
