"""Conditions as predicates over Events (fast, for planning) and as explanations (for people).

`compile_rule` builds closures once per rule from the operator table (bridge/config/operators);
`why_not` walks the same conditions slowly and says which one failed first, in words:
`when.type: 'article' is not one of ['blog_post']`. A regex whose match is given up
(bridge/config/timed_regex.py) raises RegexTimeout out of the predicates: a rule whose evaluation
reaches it does not run for that event, whatever `not` or `any:` surround it (its answer is not
known), and `gave_up` says where it is written.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from bridge.config.conditions import AnyOf, FieldTest, NotWhen, When, WhereTest
from bridge.config.model import Rule
from bridge.config.operators import (
    Both,
    Operation,
    ValueCondition,
    compile_value,
    describe,
    exact_values,
    show,
)
from bridge.config.timed_regex import RegexTimeout, RuleRegex
from bridge.events import Event
from bridge.rules.paths import Found, reader

Predicate = Callable[[Event], bool]
WherePredicate = Callable[[Any, Found], bool]
FieldCheck = tuple[Callable[[Event], Any], Callable[[Any], bool]]  # what to read, how to test it
_NO_ACTION = (None,)


def compile_wheres(rule: Rule) -> WherePredicate | None:
    """`predicate(raw, found)` for all of a rule's `where` items; None when it has none."""
    wheres = [compile_where(test) for test in rule.where]
    if not wheres:
        return None
    if len(wheres) == 1:
        return wheres[0]
    return lambda raw, found: all(where(raw, found) for where in wheres)


def compile_when(when: When) -> Predicate:
    """One closure per conjunction: these run once per candidate rule, so each field test of a
    conjunction is a (getter, check) pair called inline, and an exact set of values is checked
    by the set's own C method rather than a Python function."""
    if isinstance(when, FieldTest):
        return _one_field(_field_check(when))
    if isinstance(when, NotWhen):
        inner = compile_when(when.item)
        return lambda event: not inner(event)
    if isinstance(when, AnyOf):
        alternatives = [compile_when(item) for item in when.items]
        return lambda event: any(part(event) for part in alternatives)
    checks = [_field_check(item) for item in when.items if isinstance(item, FieldTest)]
    groups = [compile_when(item) for item in when.items if not isinstance(item, FieldTest)]
    return _all(([_all_fields(checks)] if checks else []) + groups)


def _field_check(when: FieldTest) -> FieldCheck:
    """What to read from the event, and the test of what was read."""
    values = exact_values(when.condition)
    if when.field == "action":
        # The condition holds for any of the event's actions (a legacy asset upsert is
        # `changed` and `metadata_changed`); an event without one is tested as null.
        if values is not None:
            return _ACTIONS, lambda actions: not values.isdisjoint(actions or _NO_ACTION)
        test = compile_value(when.condition)
        return _ACTIONS, lambda actions: any(test(value) for value in actions or _NO_ACTION)
    check = values.__contains__ if values is not None else compile_value(when.condition)
    return operator.attrgetter(when.field), check


_ACTIONS = operator.attrgetter("actions")


def _all_fields(checks: list[FieldCheck]) -> Predicate:
    if len(checks) == 1:
        return _one_field(checks[0])
    if len(checks) == 2:
        (get1, check1), (get2, check2) = checks
        return lambda event: check1(get1(event)) and check2(get2(event))
    if len(checks) == 3:
        (get1, check1), (get2, check2), (get3, check3) = checks
        return lambda event: check1(get1(event)) and check2(get2(event)) and check3(get3(event))
    return _all([_one_field(item) for item in checks])


def _one_field(item: FieldCheck) -> Predicate:
    get, check = item
    return lambda event: check(get(event))


def _all(parts: list[Predicate]) -> Predicate:
    if not parts:
        return lambda event: True
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda event: first(event) and second(event)

    def every(event: Event) -> bool:
        for part in parts:  # noqa: SIM110 - a loop beats all() over a generator here
            if not part(event):
                return False
        return True

    return every


def compile_where(test: WhereTest) -> WherePredicate:
    """Everything the path found must pass the whole-path operators (`exists`), and one value
    must pass all the others."""
    read = reader(test.jsonpath, test.expression)
    wholes = [w for t in test.operations if (w := t.operator.whole(t.argument)) is not None]
    checks = [
        t.operator.predicate(t.argument)
        for t in test.operations
        if t.operator.whole(t.argument) is None
    ]
    if not wholes and len(checks) == 1:
        (check,) = checks
        return lambda raw, found: any(check(value) for value in read(raw, found))

    def matches(raw: Any, found: Found) -> bool:
        values = read(raw, found)
        if not all(whole(values) for whole in wholes):
            return False
        if not checks:
            return True
        return any(all(check(value) for check in checks) for value in values)

    return matches


# Explanations: the same conditions, walked slowly, saying which failed first.


def why_not(rule: Rule, event: Event) -> str | None:
    """None when the rule matches the event, else the first condition that failed, in words.

    The planning predicates decide, so a regex given up on fails the rule here exactly when it
    does in planning; the walk only finds the words."""
    try:
        wheres = compile_wheres(rule)
        if compile_when(rule.when)(event) and (wheres is None or wheres(event.raw, {})):
            return None
        return _first_failure(rule, event)
    except RegexTimeout as exc:
        return f"{gave_up(rule, exc)}; a rule does not run when its regex is given up"


def gave_up(rule: Rule, timeout: RegexTimeout) -> str:
    """`when.name: regex '(a|aa)+$' gave up after 50 ms on a value of 41 characters`."""
    return f"{_written_at(rule, timeout.regex)}: {timeout.words()}"


def has_regex(rule: Rule) -> bool:
    """Whether any condition of `rule` is a regex (its evaluation can time out)."""
    conditions = [c for _path, found in _value_conditions(rule.when) for c in found]
    conditions += [operation for test in rule.where for operation in test.operations]
    return any(_holds(condition, None) for condition in conditions)


def _written_at(rule: Rule, target: RuleRegex) -> str:
    """Where the condition holding `target` is written: `when.name`, `where[0] ($.a.b)`."""
    for path, conditions in _value_conditions(rule.when):
        if any(_holds(condition, target) for condition in conditions):
            return path
    for test in rule.where:
        if any(_holds(operation, target) for operation in test.operations):
            return f"{test.path} ({test.jsonpath})"
    return "when"


def _value_conditions(when: When) -> list[tuple[str, list[ValueCondition]]]:
    if isinstance(when, FieldTest):
        return [(when.path, [when.condition])]
    if isinstance(when, NotWhen):
        return _value_conditions(when.item)
    return [found for item in when.items for found in _value_conditions(item)]


def _holds(condition: ValueCondition, target: RuleRegex | None) -> bool:
    """Whether `condition` holds `target`, or (None) any regex at all."""
    if isinstance(condition, Operation):
        argument = condition.argument
        if isinstance(argument, Operation | Both):  # `not:` holds a condition
            return _holds(argument, target)
        return argument is target if target is not None else isinstance(argument, RuleRegex)
    return any(_holds(c, target) for c in condition.conditions)


def _first_failure(rule: Rule, event: Event) -> str | None:
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
        return f"{when.path}: {show(value)} {describe(condition, negate=True)}"
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
    found: Found = {}
    if compile_where(test)(raw, found):
        return None
    values = found[test.jsonpath]
    wanted = " and ".join(t.operator.written(t.argument) for t in test.operations)
    if not values:
        return f"{test.path}: {test.jsonpath} matched nothing (wanted {wanted})"
    shown = ", ".join(show(v) for v in values[:5])
    return f"{test.path}: no value of {test.jsonpath} satisfies {wanted} (found {shown})"
