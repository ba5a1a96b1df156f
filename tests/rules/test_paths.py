"""Plain JSONPaths walk the dicts directly and must find exactly what jsonpath-ng finds."""

from __future__ import annotations

from typing import Any

import pytest
from jsonpath_ng.parser import parse

from bridge.rules.paths import Found, finder, plain_steps, reader

RAW: dict[str, Any] = {
    "data": {
        "system": {"name": "Breaking: all", "codename": "c", "type": "article"},
        "elements": {"tags": {"value": ["sport", "news"]}, "rank": {"value": 7}},
        "updated": "2024-05-01T10:00:00Z",
    },
    "message": {"action": "published"},
}


@pytest.mark.parametrize(
    ("path", "plain"),
    [
        ("$.data.system.name", True),
        ("data.system.codename", True),
        ("$.data.elements.tags.value[1]", True),
        ("$.data.elements.tags.value[5]", True),
        ("$.data.elements.tags.value[*]", False),
        ("$.data.system.name.deeper", True),
        ("$.data.nothing", True),
        ("$..value", False),
        ('$["data"]["updated"]', True),
        ("$.message", True),
        ("$.data.system['name','type']", False),
    ],
)
def test_plain_path_shortcut_finds_what_jsonpath_ng_finds(path: str, plain: bool) -> None:
    expression = parse(path)
    assert finder(expression)(RAW) == [m.value for m in expression.find(RAW)]
    assert (plain_steps(expression) is not None) == plain


def test_a_path_is_read_once_per_event() -> None:
    reads: list[str] = []

    class Counting(dict[str, Any]):
        def __contains__(self, key: object) -> bool:
            reads.append(str(key))
            return super().__contains__(key)

    raw = {"data": Counting(RAW["data"])}
    read = reader("$.data.updated", parse("$.data.updated"))
    found: Found = {}
    assert read(raw, found) == read(raw, found) == ["2024-05-01T10:00:00Z"]
    assert reads == ["updated"]
    assert found == {"$.data.updated": ["2024-05-01T10:00:00Z"]}
