"""The `rules` and `alerts` sections: conditions parsed and compiled, references checked later."""

from __future__ import annotations

import re
from typing import Any

from jsonpath_ng.parser import parse as parse_jsonpath

from bridge.config import checks
from bridge.config.conditions import (
    WHERE_OPERATORS,
    AllOf,
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
    Scalar,
    ValueCondition,
    When,
    WhereTest,
)
from bridge.config.document import Document
from bridge.config.errors import Path, describe_type, format_path
from bridge.config.model import DoItem, Rule
from bridge.events import MATCHABLE_FIELDS

RULE_KEYS = ("name", "when", "where", "do", "stop")
WHEN_GROUPS = ("any", "all", "not")
VALUE_OPERATORS = ("not", "in", "glob", "regex", "exists")


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
        return _one_of(doc, value, path)
    if not isinstance(value, dict):
        scalar = _scalar(doc, value, path)
        return None if scalar is _FAILED else Equals(scalar)  # type: ignore[arg-type]
    spec = checks.mapping(doc, value, path, allowed=VALUE_OPERATORS, what="operator")
    if not spec:
        if spec == {}:
            doc.error(path, f"needs an operator: one of {', '.join(VALUE_OPERATORS)}")
        return None
    parsed = [_operator(doc, op, arg, (*path, op)) for op, arg in spec.items()]
    if None in parsed or len(parsed) != len(spec):
        return None
    return parsed[0] if len(parsed) == 1 else Both(tuple(parsed))  # type: ignore[arg-type]


def _operator(doc: Document, op: str, arg: Any, path: Path) -> ValueCondition | None:
    if op == "not":
        inner = value_condition(doc, arg, path)
        return Negated(inner) if inner else None
    if op == "in":
        items = checks.sequence(doc, arg, path)
        return None if items is None else _one_of(doc, items, path)
    if op == "glob":
        if not isinstance(arg, list):
            pattern = checks.string(doc, arg, path)
            return None if pattern is None else Glob((pattern,))
        if not arg:
            doc.error(path, "an empty list matches nothing")
        texts = [checks.string(doc, p, (*path, i)) for i, p in enumerate(arg)]
        patterns = tuple(t for t in texts if t is not None)
        return Glob(patterns) if arg and len(patterns) == len(arg) else None
    if op == "regex":
        compiled = compile_regex(doc, arg, path)
        return Regex(compiled) if compiled else None
    if op == "exists":
        present = checks.boolean(doc, arg, path)
        return None if present is None else Exists(present)
    return None


_FAILED = object()


def _one_of(doc: Document, items: list[Any], path: Path) -> OneOf | None:
    if not items:
        doc.error(path, "an empty list matches nothing")
        return None
    values = [_scalar(doc, v, (*path, i)) for i, v in enumerate(items)]
    return None if _FAILED in values else OneOf(tuple(values))  # type: ignore[arg-type]


def _scalar(doc: Document, value: Any, path: Path) -> Scalar | object:
    """Event fields are text: `language: no` means the string 'no', not false."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        doc.error(path, f"expected a value, got {describe_type(value)}")
        return _FAILED
    return str(doc.text_of(path, value))


def compile_regex(doc: Document, value: Any, path: Path) -> re.Pattern[str] | None:
    text = checks.string(doc, value, path)
    if text is None:
        return None
    try:
        return re.compile(text)
    except re.error as exc:
        doc.error(path, f"invalid regex {text!r}: {exc}")
        return None


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
    ops = [op for op in WHERE_OPERATORS if op in spec]
    if not ops:
        doc.error(path, f"needs an operator: one of {', '.join(WHERE_OPERATORS)}")
    text = checks.string(doc, spec["path"], (*path, "path"))
    expression = None if text is None else _jsonpath(doc, text, (*path, "path"))
    operators: list[tuple[str, Any]] = []
    for op in ops:
        arg = _where_argument(doc, op, spec[op], (*path, op))
        if arg is None and op != "eq":
            return None
        operators.append((op, arg))
    if expression is None or not ops or text is None:
        return None
    return WhereTest(text, expression, tuple(operators), format_path(path[-2:]))


def _jsonpath(doc: Document, text: str, path: Path) -> Any:
    """The compiled expression, or None once the error is reported."""
    try:
        return parse_jsonpath(text)
    except Exception as exc:  # jsonpath-ng raises bare Exception subclasses of several kinds
        doc.error(path, f"invalid JSONPath {text!r}: {exc}")
        return None


def _where_argument(doc: Document, op: str, arg: Any, path: Path) -> Any:
    """The operator's argument, compiled where it can be; None once an error is reported
    (except for `eq`, where null is a value to compare with)."""
    if op == "regex":
        return compile_regex(doc, arg, path)
    if op == "exists":
        return checks.boolean(doc, arg, path)
    if op == "in":
        return checks.sequence(doc, arg, path)
    if op in ("gt", "lt") and (isinstance(arg, bool) or not isinstance(arg, int | float | str)):
        doc.error(path, f"expected a number or a string, got {describe_type(arg)}")
        return None
    return arg


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
