"""The index must give exactly what a linear scan gives, and look at fewer rules."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from bridge.events import Event, Notification
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


# Where conditions, random: plain paths (indexed) and paths that find several values (not), on
# values that trip naive indexes: a trailing newline (`^x$` matches 'x\n'), numbers that equal
# booleans, objects, absent keys.
WHERE_VALUES: list[Any] = ["x", "x\n", "xy", "Breaking", "B", "", 1, 1.0, True, None, {"a": 1}]
WHERE_PATHS = ["$.data.extra.a", "$.data.extra.b", "$.data.list[0]", "$.data.list[*]"]


def _where(rng: random.Random) -> str:
    path = rng.choice(WHERE_PATHS)
    kind = rng.choice(["eq", "in", "regex", "regex", "regex", "exists", "gt", "two"])
    if kind == "eq":
        operator = "eq: " + rng.choice(["x", "1", "true", "null", "''"])
    elif kind == "in":
        operator = f"in: [{rng.choice(['x', 'xy', '1'])}, {rng.choice(['B', 'null', '2'])}]"
    elif kind == "regex":
        pattern = rng.choice(
            ["^x$", "^(x|xy)$", "^(?:B|Breaking)$", "^B", "^x.", "^xy?", "(?i)^b", "x$", "^x|B"]
        )
        operator = f"regex: '{pattern}'"
    elif kind == "exists":
        operator = f"exists: {rng.choice(['true', 'false'])}"
    elif kind == "gt":
        operator = "gt: 0"
    else:
        operator = "regex: '^x', in: [x, xy]"
    return f'{{path: "{path}", {operator}}}'


def random_mixed_rules(rng: random.Random, count: int) -> str:
    lines = []
    for i in range(count):
        stop = ", stop: true" if rng.random() < 0.02 else ""
        when = f"when: {{{_when(rng)}}}, " if rng.random() < 0.7 else ""
        wheres = ", ".join(_where(rng) for _ in range(rng.choice([0, 1, 1, 2])))
        where = f"where: [{wheres}], " if wheres else ""
        lines.append(f"- {{name: r{i}, {when}{where}do: [a]{stop}}}")
    return "\n".join(lines) + "\n"


def random_events(rng: random.Random, count: int) -> list[Notification]:
    notifications = []
    for n in range(count):
        extra = {key: rng.choice(WHERE_VALUES) for key in ("a", "b") if rng.random() < 0.8}
        items = rng.sample(WHERE_VALUES, rng.randint(0, 3))
        raw = {"data": {"extra": extra, "list": items}}
        actions = tuple(rng.sample(ACTIONS, rng.choice([0, 1, 1, 1, 2])))
        event = Event(
            object_type=rng.choice(OBJECT_TYPES),
            actions=actions,
            codename=rng.choice(CODENAMES),
            type=rng.choice(TYPES),
            collection=rng.choice(COLLECTIONS),
            language=rng.choice(LANGUAGES),
            raw=raw,
        )
        notifications.append(Notification(f"k{n}", "production", "current", raw, (event,)))
    return notifications


def test_index_with_where_conditions_plans_what_a_linear_scan_plans(
    make_engine: EngineFactory,
) -> None:
    rng = random.Random(20261202)
    indexed_some = exact_some = 0
    for _ in range(4):
        rules = random_mixed_rules(rng, 300)
        indexed, linear = make_engine(rules), make_engine(rules, indexed=False)
        notifications = random_events(rng, 200)
        assert indexed.plan(notifications) == linear.plan(notifications)
        index = RuleIndex.build(indexed.rules)
        indexed_some += len(indexed.rules) - len(index.scan)
        exact_some += len(index.exact)
    assert indexed_some > 600 and exact_some > 50  # the comparison covered the index


def test_two_conditions_on_action_may_hold_for_different_actions(
    make_engine: EngineFactory,
) -> None:
    """A legacy asset upsert is `changed` and `metadata_changed`: each condition holds."""
    rules = "- {name: both, when: {action: changed, all: [{action: metadata_changed}]}, do: [a]}\n"
    event = Event(object_type="asset", actions=("changed", "metadata_changed"))
    notification = Notification("k", "production", "legacy", {}, (event,))
    assert [job.rule for job in make_engine(rules).plan([notification])] == ["both"]
    assert make_engine(rules, indexed=False).plan([notification]) == make_engine(rules).plan(
        [notification]
    )


def test_where_values_index_like_when_equalities(make_engine: EngineFactory) -> None:
    engine = make_engine(
        '- {name: eq, where: [{path: "$.data.system.name", eq: Launch}], do: [a]}\n'
        '- {name: two, where: [{path: "$.data.system.name", regex: "^(Launch|Land)$"}], do: [a]}\n'
        '- {name: prefix, where: [{path: "$.data.system.name", regex: "^Lau"}], do: [a]}\n'
        '- {name: flags, where: [{path: "$.data.system.name", regex: "(?i)^launch$"}], do: [a]}\n'
        '- {name: many, where: [{path: "$.data.tags[*]", eq: Launch}], do: [a]}\n'
    )
    index = RuleIndex.build(engine.rules)
    name = ("path", "$.data.system.name")
    assert index.buckets == {
        (name,): {"Launch": [0, 1], "Land": [1], "Launch\n": [1], "Land\n": [1]}
    }
    assert index.prefixes == {name: {"Lau": [2]}}
    assert index.scan == [3, 4]  # a flag, and a path that finds several values
    assert index.exact == {0}  # a regex's `$` also matches before a trailing newline: re-checked
