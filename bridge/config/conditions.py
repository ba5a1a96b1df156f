"""Parsed `when` and `where` conditions: plain data, compiled at load (regex, JSONPath).

The operators themselves (eq, in, not, glob, regex, exists, gt, lt) are in
bridge/config/operators.py; these are the shapes around them. The rules engine turns them into
fast predicates and human explanations; keeping them as data here lets the config layer reject
bad patterns before the first event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from bridge.config.operators import Operation, ValueCondition


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


@dataclass(frozen=True, slots=True)
class WhereTest:
    """`{path: "$.data.system.name", regex: "^Breaking"}`: any found value may satisfy it."""

    jsonpath: str
    expression: Any  # a compiled jsonpath_ng expression
    operations: tuple[Operation, ...]  # every one must hold (for the same found value)
    path: str  # `where[0]`, for explanations
