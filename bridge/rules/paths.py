"""The values a `where` JSONPath finds in a raw notification, read once per event.

Plain paths (`$.data.system.name`, `$.data.items[0].codename`) walk the dicts directly, ten
times faster than jsonpath-ng's general machinery, and find at most one value, so the rule index
can bucket rules by it. Whatever the rules read is kept in `Found` for the event, so a path read
by a thousand rules (and by the index) is read once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonpath_ng.jsonpath import Child, Fields, Index, Root

Found = dict[str, list[Any]]  # JSONPath text -> values found in the event's raw notification
Finder = Callable[[Any], list[Any]]


def finder(expression: Any) -> Finder:
    """The values a JSONPath finds, in jsonpath-ng's order."""
    steps = plain_steps(expression)
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


def plain_steps(expression: Any) -> list[str | int] | None:
    """`Child(Child(Root(), Fields('data')), Index(0))` -> ['data', 0]; None if not plain."""
    if isinstance(expression, Root):
        return []
    if isinstance(expression, Child):
        left = plain_steps(expression.left)
        right = plain_steps(expression.right)
        return None if left is None or right is None else left + right
    if isinstance(expression, Fields) and len(expression.fields) == 1:
        name = expression.fields[0]
        return None if name == "*" else [name]
    if isinstance(expression, Index) and len(expression.indices) == 1:
        index = expression.indices[0]
        return [index] if isinstance(index, int) and index >= 0 else None
    return None


def reader(jsonpath: str, expression: Any) -> Callable[[Any, Found], list[Any]]:
    """`read(raw, found)`: the path's values, from `found` once any rule has read them."""
    find = finder(expression)

    def read(raw: Any, found: Found) -> list[Any]:
        values = found.get(jsonpath)
        if values is None:
            values = found[jsonpath] = find(raw)
        return values

    return read
