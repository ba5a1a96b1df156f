"""The rule index: evaluating an event costs in proportion to the rules that could match it.

Each operator says what it knows of the values it accepts (bridge/config/operators): `eq` and
`in` name them, an anchored literal regex (`^item_12$`) names a superset, a glob or regex with
literal text at its start (`blog_*`, `^Breaking`) a prefix. A rule whose conditions that must
all hold pin some Event fields or plain `where` paths to such values goes into one bucket per
combination of them, under the key of all its pinned sources at once: `{codename: x, action:
published}` is found with one lookup of (x, published). A rule with no pinned value but a prefix
goes into prefix buckets, looked up with every prefix of the event's value. Rules with neither
(unanchored regexes, negations, `any:` groups) are scanned for every event. An event's
candidates are the buckets its values find and the scan list, in rule order; the full
conditions are then evaluated on the candidates, so the index only ever narrows the search.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from bridge.config.conditions import AllOf, FieldTest, When, WhereTest
from bridge.config.model import Rule
from bridge.config.operators import Operation, operations_of
from bridge.events import MATCHABLE_FIELDS, Event
from bridge.rules.paths import Found, plain_steps, reader

# Prefix buckets take the first of these a rule has (then the other fields, then paths); the
# order is selectivity: a codename names one item, an object_type a fifth of all traffic.
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
_ORDER = {name: i for i, name in enumerate(dict.fromkeys((*INDEXED_FIELDS, *MATCHABLE_FIELDS)))}
MAX_KEYS_PER_RULE = 64  # a key holds one value per source; a rule gets one key per combination

# An Event field or the JSONPath text of a plain `where` path: ("field", "codename").
Source = tuple[str, str]
KeyReader = Callable[[Event, Found], Sequence[Hashable]]


@dataclass
class Pins:
    """What a rule's conditions that must all hold say about the values of some sources."""

    values: dict[Source, frozenset[Hashable]] = field(default_factory=dict)
    prefixes: dict[Source, frozenset[str]] = field(default_factory=dict)
    paths: dict[str, WhereTest] = field(default_factory=dict)  # where paths, by text
    exact: bool = True  # the values say all: a rule in the bucket of the event's key matches

    def pin(self, source: Source, operation: Operation) -> None:
        op, arg = operation.operator, operation.argument
        if op.values(arg) is None:
            self.exact = False
        if (prefixes := op.prefixes(arg)) is not None:
            self.prefixes.setdefault(source, prefixes)
        values = op.candidates(arg)
        if values is None:
            return
        if source not in self.values:
            self.values[source] = values
        elif source == ("field", "action"):
            # An event has several actions and any one may satisfy each test: the first set
            # alone is what is sure.
            self.exact = False
        else:
            self.values[source] &= values  # both must hold for the one value


def pins_of(rule: Rule) -> Pins:
    pins = Pins()
    _pin_when(rule.when, pins)
    for test in rule.where:
        if plain_steps(test.expression) is None:
            pins.exact = False  # a path that finds several values: any one may satisfy it
            continue
        pins.paths[test.jsonpath] = test
        for operation in test.operations:
            pins.pin(("path", test.jsonpath), operation)
    return pins


def _pin_when(when: When, pins: Pins) -> None:
    if isinstance(when, FieldTest):
        for operation in operations_of(when.condition):
            pins.pin(("field", when.field), operation)
    elif isinstance(when, AllOf):
        for item in when.items:
            _pin_when(item, pins)
    else:
        pins.exact = False  # any:/not: groups pin nothing for sure


def _rank(source: Source) -> tuple[int, str]:
    return (_ORDER.get(source[1], len(_ORDER)) if source[0] == "field" else len(_ORDER), source[1])


def _signature(values: dict[Source, frozenset[Hashable]]) -> tuple[Source, ...]:
    """The sources a rule is keyed by: all of them while the keys stay few."""
    chosen = sorted(values, key=_rank)
    while len(chosen) > 1 and math.prod(len(values[s]) for s in chosen) > MAX_KEYS_PER_RULE:
        chosen.remove(max(chosen, key=lambda s: len(values[s])))
    return tuple(chosen)


@dataclass
class RuleIndex:
    """Rule positions by the values of their pinned sources, plus positions always scanned."""

    buckets: dict[tuple[Source, ...], dict[Hashable, list[int]]] = field(default_factory=dict)
    prefixes: dict[Source, dict[str, list[int]]] = field(default_factory=dict)
    longest_prefix: dict[Source, int] = field(default_factory=dict)
    scan: list[int] = field(default_factory=list)
    exact: set[int] = field(default_factory=set)  # rules their bucket alone proves matched
    _paths: dict[str, WhereTest] = field(default_factory=dict)
    _field_lookups: list[tuple[Callable[[Event], Hashable], dict[Hashable, list[int]]]] = field(
        default_factory=list
    )
    _lookups: list[tuple[KeyReader, dict[Hashable, list[int]]]] = field(default_factory=list)
    _action_lookups: list[tuple[KeyReader, dict[Hashable, list[int]]]] = field(default_factory=list)
    _starts: list[tuple[KeyReader, dict[str, list[int]], int]] = field(default_factory=list)

    @classmethod
    def build(cls, rules: Sequence[Rule]) -> RuleIndex:
        index = cls()
        for position, rule in enumerate(rules):
            index._add(position, pins_of(rule))
        for signature, by_key in index.buckets.items():
            if all(kind == "field" for kind, _ in signature):
                # One value per event (a tuple of them for several fields): one lookup, `action`
                # read as the event's first; an event with several looks up the others too.
                getter = operator.attrgetter(*(name for _, name in signature))
                index._field_lookups.append((getter, by_key))
                if ("field", "action") in signature:
                    index._action_lookups.append((_key_reader(signature, index._paths), by_key))
            else:
                index._lookups.append((_key_reader(signature, index._paths), by_key))
        index._starts = [
            (_key_reader((source,), index._paths), by_prefix, index.longest_prefix[source])
            for source, by_prefix in index.prefixes.items()
        ]
        return index

    def _add(self, position: int, pins: Pins) -> None:
        if pins.values:
            signature = _signature(pins.values)
            if pins.exact and len(signature) == len(pins.values):
                self.exact.add(position)
            by_key = self.buckets.setdefault(signature, {})
            keys = itertools.product(*(pins.values[s] for s in signature))
            for key in keys:
                by_key.setdefault(key[0] if len(key) == 1 else key, []).append(position)
        elif pins.prefixes:
            source = min(pins.prefixes, key=_rank)
            by_prefix = self.prefixes.setdefault(source, {})
            for prefix in pins.prefixes[source]:
                by_prefix.setdefault(prefix, []).append(position)
            longest = max(map(len, pins.prefixes[source]))
            self.longest_prefix[source] = max(self.longest_prefix.get(source, 0), longest)
        else:
            self.scan.append(position)
            return
        self._paths.update(pins.paths)

    def candidates(self, event: Event, found: Found | None = None) -> list[int]:
        """Positions of the rules that could match `event`, in rule order, each once.

        `found` receives the `where` paths the index read, for the rules to reuse.
        """
        found = {} if found is None else found
        lists = [self.scan] if self.scan else []
        for get, by_key in self._field_lookups:
            bucket = by_key.get(get(event))
            if bucket:
                lists.append(bucket)
        lookups = self._lookups
        if len(event.actions) > 1 and self._action_lookups:
            lookups = self._lookups + self._action_lookups
        for read, by_key in lookups:
            for key in read(event, found):
                bucket = by_key.get(key)
                if bucket:
                    lists.append(bucket)
        for read, by_prefix, longest in self._starts:
            for value in read(event, found):
                if not isinstance(value, str):
                    continue
                for end in range(1, min(len(value), longest) + 1):
                    bucket = by_prefix.get(value[:end])
                    if bucket:
                        lists.append(bucket)
        if len(lists) < 2:
            return lists[0] if lists else []
        return sorted(set(itertools.chain.from_iterable(lists)))


def _key_reader(signature: tuple[Source, ...], paths: dict[str, WhereTest]) -> KeyReader:
    """The event's keys for a signature: one per action of an event with several, none when a
    path finds nothing."""
    readers = [_source_reader(source, paths) for source in signature]
    if len(readers) == 1:
        (only,) = readers
        return only

    def keys(event: Event, found: Found) -> list[Hashable]:
        return list(itertools.product(*(read(event, found) for read in readers)))

    return keys


def _source_reader(source: Source, paths: dict[str, WhereTest]) -> KeyReader:
    kind, name = source
    if kind == "path":
        test = paths[name]
        read = reader(test.jsonpath, test.expression)
        return lambda event, found: [v for v in read(event.raw, found) if _is_hashable(v)]
    if name == "action":
        return lambda event, found: event.actions or (None,)
    getter = operator.attrgetter(name)
    return lambda event, found: (getter(event),)


def _is_hashable(value: object) -> bool:
    return not isinstance(value, dict | list)
