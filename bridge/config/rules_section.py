"""The `rules` and `alerts` sections: conditions parsed and compiled, references checked later."""

from __future__ import annotations

from typing import Any

from jsonpath_ng.parser import parse as parse_jsonpath

from bridge.config import checks, operators
from bridge.config.conditions import AllOf, AnyOf, FieldTest, NotWhen, When, WhereTest
from bridge.config.document import Document
from bridge.config.errors import Path, describe_type, format_path
from bridge.config.model import DoItem, Rule
from bridge.config.operators import FAILED, Both, Operation, Operator, Syntax, ValueCondition
from bridge.events import MATCHABLE_FIELDS

RULE_KEYS = ("name", "when", "where", "do", "stop")
WHEN_GROUPS = ("any", "all", "not")
WHEN_OPERATORS = operators.written_in("when")
WHERE_OPERATORS = operators.written_in("where")


def rules(
    doc: Document, value: Any, path: Path
) -> tuple[tuple[Rule, ...], list[tuple[DoItem, Path]]]:
    """The rules, and every `do:` item with its path (also those of rules that failed, so that
    their references are still checked)."""
    items = checks.sequence(doc, value, path) or []
    uses: list[tuple[DoItem, Path]] = []
    result: list[Rule] = []
    for i, item in enumerate(items):
        errors_before = len(doc.errors)
        parsed = _rule(doc, item, (*path, i), i, uses)
        if parsed is not None:
            result.append(parsed)
        elif len(doc.errors) == errors_before:  # never drop a rule silently
            doc.error((*path, i), "this rule could not be read")
    names = [
        (n, (*path, i, "name"))
        for i, item in enumerate(items)
        if isinstance(item, dict) and isinstance(n := item.get("name"), str)
    ]
    checks.unique(doc, names, "rule")
    return tuple(result), uses


def _rule(
    doc: Document, value: Any, path: Path, position: int, uses: list[tuple[DoItem, Path]]
) -> Rule | None:
    spec = checks.mapping(doc, value, path, allowed=RULE_KEYS, required=("name", "do"))
    if spec is None:
        return None
    name = (
        checks.string(doc, spec["name"], (*path, "name"), nonempty=True) if "name" in spec else None
    )
    when_spec = spec.get("when") or {}
    when = when_mapping(doc, when_spec, (*path, "when"))
    where = _where(doc, spec.get("where") or [], (*path, "where"))
    do = _do(doc, spec.get("do"), (*path, "do")) if "do" in spec else None
    uses.extend((item, (*path, "do", i)) for i, item in enumerate(do or ()))
    stop = checks.boolean(doc, spec.get("stop", False), (*path, "stop"))
    if name is None or when is None or where is None or do is None or stop is None:
        return None
    return Rule(name, when, where, do, stop, position, doc.mark(path).line)


def when_mapping(doc: Document, value: Any, path: Path) -> When | None:
    """A `when:` mapping is the conjunction of its keys: Event fields and any/all/not groups."""
    spec = checks.mapping(
        doc, value, path, allowed=(*MATCHABLE_FIELDS, *WHEN_GROUPS), what="event field"
    )
    if spec is None:
        return None
    items: list[When | None] = []
    for key, condition in spec.items():
        child = (*path, key)
        if key in ("any", "all"):
            entries = checks.sequence(doc, condition, child)
            if entries == []:
                doc.error(child, f"'{key}' needs at least one condition")
            parsed = [when_mapping(doc, e, (*child, i)) for i, e in enumerate(entries or [])]
            group = AnyOf if key == "any" else AllOf
            valid = entries and None not in parsed
            items.append(group(tuple(parsed), _text(path, key)) if valid else None)  # type: ignore[arg-type]
        elif key == "not":
            inner = when_mapping(doc, condition, child)
            items.append(NotWhen(inner, _text(path, key)) if inner else None)
        elif key in MATCHABLE_FIELDS:
            parsed_condition = value_condition(doc, condition, child)
            items.append(
                FieldTest(key, parsed_condition, _text(path, key)) if parsed_condition else None
            )
        else:
            items.append(None)  # unknown field: reported by checks.mapping
    if None in items:
        return None
    return AllOf(tuple(i for i in items if i is not None), format_path(path))


def _text(path: Path, key: str) -> str:
    """Explanation paths start at `when`: `when.any[0].type`, not `rules[3].when.any[0].type`."""
    start = path.index("when") if "when" in path else 0
    return format_path((*path[start:], key))


def value_condition(doc: Document, value: Any, path: Path) -> ValueCondition | None:
    """A scalar (equality), a list (any of) or an operator mapping."""
    if isinstance(value, list):
        return _operation(doc, operators.IN, value, path, WHEN)
    if not isinstance(value, dict):
        return _operation(doc, operators.EQ, value, path, WHEN)
    spec = checks.mapping(doc, value, path, allowed=WHEN_OPERATORS, what="operator")
    if not spec:
        if spec == {}:
            doc.error(path, f"needs an operator: one of {', '.join(WHEN_OPERATORS)}")
        return None
    parsed = [
        _operation(doc, WHEN_OPERATORS[name], arg, (*path, name), WHEN)
        for name, arg in spec.items()
        if name in WHEN_OPERATORS
    ]
    if None in parsed or len(parsed) != len(spec):
        return None
    return parsed[0] if len(parsed) == 1 else Both(tuple(parsed))  # type: ignore[arg-type]


def _operation(
    doc: Document, op: Operator, arg: Any, path: Path, syntax: Syntax
) -> Operation | None:
    argument = op.parse(doc, arg, path, syntax)
    return None if argument is FAILED else Operation(op, argument)


def _field_value(doc: Document, value: Any, path: Path) -> Any:
    """Event fields are text: `language: no` means the string 'no', not false."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        doc.error(path, f"expected a value, got {describe_type(value)}")
        return FAILED
    return str(doc.text_of(path, value))


def _json(doc: Document, value: Any, path: Path) -> Any:
    """`where` compares JSON values: `eq: 7` does not equal "7"."""
    return value


WHEN = Syntax("when", _field_value, value_condition)
WHERE = Syntax("where", _json, value_condition)


def _where(doc: Document, value: Any, path: Path) -> tuple[WhereTest, ...] | None:
    items = checks.sequence(doc, value, path)
    if items is None:
        return None
    tests = [_where_test(doc, item, (*path, i)) for i, item in enumerate(items)]
    return None if None in tests else tuple(t for t in tests if t is not None)


def _where_test(doc: Document, value: Any, path: Path) -> WhereTest | None:
    spec = checks.mapping(
        doc, value, path, allowed=("path", *WHERE_OPERATORS), required=("path",), what="operator"
    )
    if spec is None or "path" not in spec:
        return None
    names = [name for name in WHERE_OPERATORS if name in spec]
    if not names:
        doc.error(path, f"needs an operator: one of {', '.join(WHERE_OPERATORS)}")
    text = checks.string(doc, spec["path"], (*path, "path"))
    expression = None if text is None else _jsonpath(doc, text, (*path, "path"))
    operations = [
        _operation(doc, WHERE_OPERATORS[name], spec[name], (*path, name), WHERE) for name in names
    ]
    if expression is None or not names or text is None or None in operations:
        return None
    return WhereTest(text, expression, tuple(operations), format_path(path[-2:]))  # type: ignore[arg-type]


def _jsonpath(doc: Document, text: str, path: Path) -> Any:
    """The compiled expression, or None once the error is reported."""
    try:
        return parse_jsonpath(text)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses of several kinds
        doc.error(path, f"invalid JSONPath {text!r}: {exc}")
        return None


def _do(doc: Document, value: Any, path: Path) -> tuple[DoItem, ...] | None:
    items = checks.sequence(doc, value, path)
    if items == []:
        doc.error(path, "needs at least one action")
    if not items:
        return None
    parsed = [_do_item(doc, item, (*path, i)) for i, item in enumerate(items)]
    return None if None in parsed else tuple(p for p in parsed if p is not None)


def _do_item(doc: Document, value: Any, path: Path) -> DoItem | None:
    if isinstance(value, str):
        return DoItem(value)
    spec = checks.mapping(doc, value, path, allowed=("action", "with"), required=("action",))
    if spec is None or "action" not in spec:
        return None
    action = checks.string(doc, spec["action"], (*path, "action"), nonempty=True)
    inputs = checks.mapping(doc, spec.get("with") or {}, (*path, "with"))
    if action is None or inputs is None:
        return None
    return DoItem(action, inputs)


def alert_section(
    doc: Document, value: Any, path: Path
) -> tuple[list[tuple[str, Path]], float | None]:
    """`alerts: [a, b]` or `{actions: [a, b], failing_for: 1h}`: (names with paths, failing_for)."""
    failing_for = None
    names_path = path
    if isinstance(value, dict):
        spec = (
            checks.mapping(
                doc, value, path, allowed=("actions", "failing_for"), required=("actions",)
            )
            or {}
        )
        if "failing_for" in spec:
            failing_for = checks.duration(doc, spec["failing_for"], (*path, "failing_for"))
        value = spec.get("actions", [])
        names_path = (*path, "actions")
    names = checks.sequence(doc, value, names_path) or []
    found = [
        (checks.string(doc, n, (*names_path, i)), (*names_path, i)) for i, n in enumerate(names)
    ]
    return [(n, p) for n, p in found if n is not None], failing_for
