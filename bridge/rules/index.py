"""The rule index: evaluating an event costs in proportion to the rules that could match it.

Each rule whose `when` requires equality (a scalar or a list) on an indexed field goes into that
field's buckets, one per value; the most selective such field is chosen. Rules with no such
condition (only globs, regexes, negations, `any:` groups or `where:`) are scanned for every
event. Candidates of an event are one bucket per indexed field plus the scan list, merged back
into rule order; the full conditions are then evaluated on the candidates only.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bridge.config.conditions import AllOf, Equals, FieldTest, OneOf, Scalar, When
from bridge.config.model import Rule
from bridge.events import Event

# Most selective first: a codename names one item, an object_type a fifth of all traffic.
INDEXED_FIELDS = (
    "codename",
    "id",
    "name",
    "type",
    "taxonomy_group",
    "collection",
    "workflow_step",
    "previous_workflow_step",
    "language",
    "workflow",
    "environment_id",
    "action",
    "object_type",
    "delivery_slot",
    "webhook",
)


def required_values(when: When) -> dict[str, frozenset[Scalar]]:
    """Fields this condition pins to a set of values: the conjuncts that are equalities."""
    if isinstance(when, FieldTest):
        if isinstance(when.condition, Equals):
            return {when.field: frozenset([when.condition.value])}
        if isinstance(when.condition, OneOf):
            return {when.field: frozenset(when.condition.values)}
        return {}
    if isinstance(when, AllOf):
        pinned: dict[str, frozenset[Scalar]] = {}
        for item in when.items:
            for name, values in required_values(item).items():
                pinned[name] = pinned[name] & values if name in pinned else values
        return pinned
    return {}  # any:/not: groups pin nothing for sure


@dataclass
class RuleIndex:
    """Rule positions by (field, value), plus positions that must always be scanned."""

    buckets: dict[str, dict[Scalar, list[int]]] = field(default_factory=dict)
    scan: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, rules: Sequence[Rule]) -> RuleIndex:
        index = cls()
        for position, rule in enumerate(rules):
            pinned = required_values(rule.when)
            key = next((name for name in INDEXED_FIELDS if name in pinned), None)
            if key is None:
                index.scan.append(position)
                continue
            by_value = index.buckets.setdefault(key, {})
            for value in pinned[key]:
                by_value.setdefault(value, []).append(position)
        return index

    def candidates(self, event: Event) -> Iterable[int]:
        """Positions of the rules that could match `event`, in rule order."""
        lists = [self.scan] if self.scan else []
        for name, by_value in self.buckets.items():
            bucket = by_value.get(getattr(event, name))
            if bucket:
                lists.append(bucket)
        if len(lists) == 1:
            return lists[0]
        return heapq.merge(*lists)
