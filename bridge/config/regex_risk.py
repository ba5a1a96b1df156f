"""Regular expressions whose matching can take exponential time on a crafted text.

Rules' `regex:` conditions run on Python's `re`, a backtracking engine, inside the receiver: a
pattern such as `(a+)+$` or `(\\w+\\s?)+$` takes seconds on thirty characters that almost match,
and the text (an item's name, any field a path reaches) is written by content editors. The
classic shape is found here: a group repeated without bound whose body is itself one unbounded
repeat with nothing else it must match (`(x+)+`, `(x*)*`, `(?:x+\\s?)+`), so the engine can split
the same text between the two repeats in exponentially many ways. Other ambiguous patterns
exist; this catches the ones people write by accident. `bridge check` warns; the rule loads.
"""

from __future__ import annotations

import re

# The parser `re` itself uses (Python 3.11 names it re._parser; sre_parse is deprecated).
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)
_UNBOUNDED = sre_constants.MAXREPEAT


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` can take exponential time, or None. The pattern compiles (checked before)."""
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return None
    found = _nested(list(parsed))
    if found is None:
        return None
    return (
        f"a group repeated as {found} holds a part that repeats without bound itself: on a text "
        "that almost matches, Python's regex engine tries exponentially many ways to split it "
        "(seconds for 30 characters, while the receiver waits). Repeat one of the two only, "
        "e.g. (x+)+ as x+"
    )


def _nested(items: list[tuple[Any, Any]]) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            body = _unwrapped(list(av[2]))
            if av[1] == _UNBOUNDED and _one_unbounded_repeat(body):
                return _text(op, av)
            inner = [body]
        elif op == sre_constants.SUBPATTERN:
            inner = [list(av[-1])]
        elif op == sre_constants.BRANCH:
            inner = [list(branch) for branch in av[1]]
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            inner = [list(av[1])]
        else:
            continue
        for part in inner:
            if (found := _nested(part)) is not None:
                return found
    return None


def _unwrapped(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """A body that is one group, without the group (`((x+))+` is `(x+)+`)."""
    while len(items) == 1 and items[0][0] == sre_constants.SUBPATTERN:
        items = list(items[0][1][-1])
    return items


def _one_unbounded_repeat(body: list[tuple[Any, Any]]) -> bool:
    """An unbounded repeat, and nothing else that must match (only optional parts beside it)."""

    def unbounded(item: tuple[Any, Any]) -> bool:
        return item[0] in _REPEATS and item[1][1] == _UNBOUNDED and bool(list(item[1][2]))

    def optional(item: tuple[Any, Any]) -> bool:
        return item[0] in _REPEATS and item[1][0] == 0

    return any(unbounded(i) for i in body) and all(unbounded(i) or optional(i) for i in body)


def _text(op: Any, av: Any) -> str:
    low, high, _ = av
    suffix = {(0, _UNBOUNDED): "*", (1, _UNBOUNDED): "+"}.get((low, high), f"{{{low},}}")
    lazy = "?" if op == sre_constants.MIN_REPEAT else ""
    return f"(...){suffix}{lazy}"
