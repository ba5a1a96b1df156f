"""Parsed `when` and `where` conditions: plain data, compiled at load (regex, JSONPath).

The rules engine turns these into fast predicates and human explanations; keeping them as data
here lets the config layer reject bad patterns before the first event arrives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

# Values a `when` field condition compares: Event fields are strings or None.
Scalar: TypeAlias = str | None


@dataclass(frozen=True, slots=True)
class Equals:
    value: Scalar


@dataclass(frozen=True, slots=True)
class OneOf:
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Glob:
    patterns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Regex:
    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class Exists:
    present: bool


@dataclass(frozen=True, slots=True)
class Negated:
    condition: ValueCondition


@dataclass(frozen=True, slots=True)
class Both:
    """Several operators in one mapping (`{glob: "blog_*", not: blog_draft}`): all must hold."""

    conditions: tuple[ValueCondition, ...]


ValueCondition: TypeAlias = Equals | OneOf | Glob | Regex | Exists | Negated | Both


@dataclass(frozen=True, slots=True)
class FieldTest:
    field: str
    condition: ValueCondition
    path: str  # `when.type`, for explanations


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[When, ...]
    path: str


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[When, ...]
    path: str


@dataclass(frozen=True, slots=True)
class NotWhen:
    item: When
    path: str


When: TypeAlias = FieldTest | AllOf | AnyOf | NotWhen

WHERE_OPERATORS = ("eq", "in", "regex", "exists", "gt", "lt")


@dataclass(frozen=True, slots=True)
class WhereTest:
    """`{path: "$.data.system.name", regex: "^Breaking"}`: any matched value may satisfy it."""

    jsonpath: str
    expression: Any  # a compiled jsonpath_ng expression
    operators: tuple[tuple[str, Any], ...]  # ("regex", re.Pattern) or ("eq", value) ...
    path: str  # `where[0]`, for explanations
