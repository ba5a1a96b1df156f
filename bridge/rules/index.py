"""The rule index: evaluating an event costs in proportion to the rules that could match it.

Each rule whose `when` requires equality (a scalar or a list) on an indexed field goes into that
field's buckets, one per value; the most selective such field is chosen. A rule with no such
equality but a glob with a literal prefix (`blog_*`) goes into prefix buckets, looked up with
every prefix of the event's value. Rules with neither (regexes, negations, `any:` groups, only
`where:`) are scanned for every event. Candidates of an event are one bucket per indexed field,
the prefix buckets that apply, and the scan list, merged back into rule order; the full
conditions are then evaluated on the candidates only.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bridge.config.conditions import AllOf, Equals, FieldTest, Glob, OneOf, Scalar, When
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


def required_prefixes(when: When) -> dict[str, frozenset[str]]:
    """Fields this condition requires to start with one of some literal prefixes (globs)."""
    if isinstance(when, FieldTest) and isinstance(when.condition, Glob):
        literal = [_literal_prefix(p) for p in when.condition.patterns]
        return {when.field: frozenset(literal)} if all(literal) else {}
    if isinstance(when, AllOf):
        found: dict[str, frozenset[str]] = {}
        for item in when.items:
            for name, prefixes in required_prefixes(item).items():
                found.setdefault(name, prefixes)
        return found
    return {}


def _literal_prefix(pattern: str) -> str:
    for position, char in enumerate(pattern):
        if char in "*?[":
            return pattern[:position]
    return pattern


@dataclass
class RuleIndex:
    """Rule positions by (field, value), plus positions that must always be scanned."""

    buckets: dict[str, dict[Scalar, list[int]]] = field(default_factory=dict)
    prefixes: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    longest_prefix: dict[str, int] = field(default_factory=dict)
    scan: list[int] = field(default_factory=list)

    @classmethod
    def build(cls, rules: Sequence[Rule]) -> RuleIndex:
        index = cls()
        for position, rule in enumerate(rules):
            pinned = required_values(rule.when)
            key = next((name for name in INDEXED_FIELDS if name in pinned), None)
            if key is not None:
                by_value = index.buckets.setdefault(key, {})
                for value in pinned[key]:
                    by_value.setdefault(value, []).append(position)
                continue
            starts = required_prefixes(rule.when)
            field_name = next((name for name in INDEXED_FIELDS if name in starts), None)
            if field_name is not None:
                by_prefix = index.prefixes.setdefault(field_name, {})
                for prefix in starts[field_name]:
                    by_prefix.setdefault(prefix, []).append(position)
                longest = max(
                    index.longest_prefix.get(field_name, 0), *map(len, starts[field_name])
                )
                index.longest_prefix[field_name] = longest
                continue
            index.scan.append(position)
        return index

    def candidates(self, event: Event) -> Iterable[int]:
        """Positions of the rules that could match `event`, in rule order.

        A rule reached through two prefixes of one value (or two of an event's `actions`)
        appears twice, adjacent; callers skip repeats (cheaper than building a set per event).
        """
        lists = [self.scan] if self.scan else []
        for name, by_value in self.buckets.items():
            if name == "action" and len(event.actions) > 1:
                # Every one of the event's actions: a rule on any of them may match.
                lists.extend(b for a in event.actions if (b := by_value.get(a)))
                continue
            bucket = by_value.get(getattr(event, name))
            if bucket:
                lists.append(bucket)
        for name, by_prefix in self.prefixes.items():
            values = event.actions if name == "action" else (getattr(event, name),)
            for value in values:
                if not value:
                    continue
                for end in range(1, min(len(value), self.longest_prefix[name]) + 1):
                    bucket = by_prefix.get(value[:end])
                    if bucket:
                        lists.append(bucket)
        if len(lists) == 1:
            return lists[0]
        return heapq.merge(*lists)
