"""Conditions as predicates over Events (fast, for planning) and as explanations (for people).

`compile_rule` builds closures once per rule; `why_not` walks the same conditions slowly and says
which one failed first, in words: `when.type: 'article' is not one of ['blog_post']`.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections.abc import Callable
from typing import Any

from jsonpath_ng.jsonpath import Child, Fields, Index, Root

from bridge.config.conditions import (
    AnyOf,
    Both,
    Equals,
    Exists,
    FieldTest,
    Glob,
    Negated,
    NotWhen,
    OneOf,
    Regex,
    ValueCondition,
    When,
    WhereTest,
)
from bridge.config.model import Rule
from bridge.events import Event

Predicate = Callable[[Event], bool]
ValuePredicate = Callable[[Any], bool]
Found = dict[str, list[Any]]  # JSONPath text -> values found in the event's raw notification
RulePredicate = Callable[[Event, Found], bool]


def compile_rule(rule: Rule) -> RulePredicate:
    """`predicate(event, found)`: `found` caches JSONPath results per event across rules."""
    when = compile_when(rule.when)
    wheres = [compile_where(test) for test in rule.where]
    if not wheres:
        return lambda event, found: when(event)
    if len(wheres) == 1:
        where = wheres[0]
        return lambda event, found: when(event) and where(event.raw, found)

    def predicate(event: Event, found: Found) -> bool:
        if not when(event):
            return False
        return all(where(event.raw, found) for where in wheres)

    return predicate


def compile_when(when: When) -> Predicate:
    """Closures specialised for the common shapes: these run once per candidate rule."""
    if isinstance(when, FieldTest):
        if when.field == "action":
            return _compile_action(when.condition)
        getter = operator.attrgetter(when.field)
        condition = when.condition
        if isinstance(condition, Equals):
            expected = condition.value
            return lambda event: getter(event) == expected
        if isinstance(condition, OneOf):
            choices = frozenset(condition.values)
            return lambda event: getter(event) in choices
        test = compile_value(condition)
        return lambda event: test(getter(event))
    if isinstance(when, NotWhen):
        inner = compile_when(when.item)
        return lambda event: not inner(event)
    parts = [compile_when(item) for item in when.items]
    if len(parts) == 1:
        return parts[0]
    if isinstance(when, AnyOf):
        return lambda event: any(part(event) for part in parts)
    if len(parts) == 2:
        first, second = parts
        return lambda event: first(event) and second(event)
    if len(parts) == 3:
        first, second, third = parts
        return lambda event: first(event) and second(event) and third(event)

    def every(event: Event) -> bool:
        for part in parts:  # noqa: SIM110 - a loop beats all() over a generator here
            if not part(event):
                return False
        return True

    return every


def _compile_action(condition: ValueCondition) -> Predicate:
    """`action` holds when the condition holds for any of the event's actions (a legacy asset
    upsert is `changed` and `metadata_changed`); an event without one is tested as null."""
    if isinstance(condition, Equals):
        expected = condition.value
        if expected is None:
            return lambda event: not event.actions
        return lambda event: expected in event.actions
    if isinstance(condition, OneOf):
        choices = frozenset(condition.values)
        return lambda event: any(value in choices for value in event.actions or (None,))
    test = compile_value(condition)
    return lambda event: any(test(value) for value in event.actions or (None,))


def compile_value(condition: ValueCondition) -> ValuePredicate:
    if isinstance(condition, Equals):
        expected = condition.value
        return lambda value: value == expected
    if isinstance(condition, OneOf):
        choices = frozenset(condition.values)
        return lambda value: value in choices
    if isinstance(condition, Glob):
        glob = re.compile("|".join(fnmatch.translate(p) for p in condition.patterns))
        return lambda value: value is not None and glob.match(value) is not None
    if isinstance(condition, Regex):
        pattern = condition.pattern
        return lambda value: value is not None and pattern.search(value) is not None
    if isinstance(condition, Exists):
        present = condition.present
        return lambda value: (value is not None) == present
    if isinstance(condition, Negated):
        inner = compile_value(condition.condition)
        return lambda value: not inner(value)
    parts = [compile_value(c) for c in condition.conditions]
    return lambda value: all(part(value) for part in parts)


def compile_where(test: WhereTest) -> Callable[[Any, Found], bool]:
    checks = [_where_operator(op, arg) for op, arg in test.operators if op != "exists"]
    exists = dict(test.operators).get("exists")
    find = finder(test.expression)
    key = test.jsonpath

    def matches(raw: Any, found: Found) -> bool:
        values = found.get(key)
        if values is None:
            values = found[key] = find(raw)
        if exists is not None and bool(values) != exists:
            return False
        if not checks:
            return True
        for value in values:
            for check in checks:
                if not check(value):
                    break
            else:
                return True
        return False

    return matches


def finder(expression: Any) -> Callable[[Any], list[Any]]:
    """The values a JSONPath finds; plain paths like `$.data.system.name` skip jsonpath-ng's
    general machinery (ten times slower) and walk the dicts directly."""
    steps = _plain_steps(expression)
    if steps is None:
        return lambda raw: [match.value for match in expression.find(raw)]

    def walk(raw: Any) -> list[Any]:
        value = raw
        for step in steps:
            if isinstance(step, str):
                if not isinstance(value, dict) or step not in value:
                    return []
            elif not isinstance(value, list) or not 0 <= step < len(value):
                return []
            value = value[step]
        return [value]

    return walk


def _plain_steps(expression: Any) -> list[str | int] | None:
    """`Child(Child(Root(), Fields('data')), Index(0))` -> ['data', 0]; None if not plain."""
    if isinstance(expression, Root):
        return []
    if isinstance(expression, Child):
        left = _plain_steps(expression.left)
        right = _plain_steps(expression.right)
        return None if left is None or right is None else left + right
    if isinstance(expression, Fields) and len(expression.fields) == 1:
        name = expression.fields[0]
        return None if name == "*" else [name]
    if isinstance(expression, Index) and len(expression.indices) == 1:
        index = expression.indices[0]
        return [index] if isinstance(index, int) and index >= 0 else None
    return None


def _where_operator(op: str, arg: Any) -> ValuePredicate:
    if op == "eq":
        return lambda value: value == arg
    if op == "in":
        return lambda value: value in arg
    if op == "regex":
        return lambda value: isinstance(value, str) and arg.search(value) is not None
    compare = operator.gt if op == "gt" else operator.lt
    return lambda value: _comparable(value, arg) and compare(value, arg)


def _comparable(value: Any, arg: Any) -> bool:
    """Numbers with numbers, text with text (ISO dates compare as text); never across."""
    if isinstance(value, bool) or isinstance(arg, bool):
        return False
    if isinstance(arg, int | float):
        return isinstance(value, int | float)
    return isinstance(value, str)


# Explanations: the same conditions, walked slowly, saying which failed first.


def why_not(rule: Rule, event: Event) -> str | None:
    """None when the rule matches the event, else the first condition that failed, in words."""
    failure = _why_not_when(rule.when, event)
    if failure is not None:
        return failure
    for test in rule.where:
        failure = _why_not_where(test, event.raw)
        if failure is not None:
            return failure
    return None


def _why_not_when(when: When, event: Event) -> str | None:
    if isinstance(when, FieldTest):
        if compile_when(when)(event):
            return None
        condition = when.condition
        if when.field == "action" and len(event.actions) > 1:
            shown = " | ".join(map(repr, event.actions))  # every action failed the condition
            return f"{when.path}: {shown} {describe(condition, negate=True)}"
        value = getattr(event, when.field)
        if isinstance(condition, Both):  # name the operator that failed, not all of them
            condition = next(c for c in condition.conditions if not compile_value(c)(value))
        return f"{when.path}: {_show(value)} {describe(condition, negate=True)}"
    if isinstance(when, NotWhen):
        if compile_when(when.item)(event):
            return f"{when.path}: the negated conditions all matched"
        return None
    if isinstance(when, AnyOf):
        failures = [_why_not_when(item, event) for item in when.items]
        if any(f is None for f in failures):
            return None
        reasons = "; ".join(str(f) for f in failures)
        return f"{when.path}: none of {len(failures)} alternatives matched ({reasons})"
    for item in when.items:
        failure = _why_not_when(item, event)
        if failure is not None:
            return failure
    return None


def _why_not_where(test: WhereTest, raw: Any) -> str | None:
    if compile_where(test)(raw, {}):
        return None
    values = [match.value for match in test.expression.find(raw)]
    wanted = " and ".join(
        f"{op} {arg.pattern if op == 'regex' else arg!r}" for op, arg in test.operators
    )
    if not values:
        return f"{test.path}: {test.jsonpath} matched nothing (wanted {wanted})"
    shown = ", ".join(_show(v) for v in values[:5])
    return f"{test.path}: no value of {test.jsonpath} satisfies {wanted} (found {shown})"


def describe(condition: ValueCondition, *, negate: bool = False) -> str:
    """`is 'x'` / `is not 'x'`: the requirement, or (negate) the failed form of it."""
    if isinstance(condition, Negated):
        return describe(condition.condition, negate=not negate)
    if isinstance(condition, Both):
        return " and ".join(describe(c, negate=negate) for c in condition.conditions)
    no = " not" if negate else ""
    if isinstance(condition, Equals):
        return f"is{no} {_show(condition.value)}"
    if isinstance(condition, OneOf):
        return f"is{no} one of {list(condition.values)!r}"
    if isinstance(condition, Glob):
        return f"does{no} match glob {' or '.join(map(repr, condition.patterns))}"
    if isinstance(condition, Regex):
        return f"does{no} match regex {condition.pattern.pattern!r}"
    present = condition.present != negate
    return "is set" if present else "is not set"


def _show(value: Any) -> str:
    return "null" if value is None else repr(value)
